"""Where models live: the MLflow tracking store, loading any model by URI, and registry aliases.

Tracking goes to ``tracking.uri``, else ``MLFLOW_TRACKING_URI``, else the
local SQLite store ``sqlite:///mlflow.db`` in the working directory.
MLflow is imported on first use: scoring from a saved directory never pays
for it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from churnml.config import TrackingSettings
from churnml.model import ChurnModel
from churnml.models.persistence import is_model_directory

__all__ = ["DEFAULT_EXPERIMENT", "DEFAULT_URI", "ModelNotFoundError", "TrackingError", "alias_new_version", "load_model", "promote", "tracking_uri"]

logger = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "churnml"


class TrackingError(RuntimeError):
    """The tracking server or registry cannot do what was asked; the message names the URI."""


class ModelNotFoundError(TrackingError, LookupError):
    """No model at the URI asked for (an unknown name, version or alias, or no tracking store at all)."""


def tracking_uri(settings: TrackingSettings) -> str:
    """The URI runs go to: config, then ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db``."""
    return settings.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def load_model(uri: str | Path, trusted: bool = False) -> ChurnModel:
    """A ChurnModel from a directory written by ``ChurnModel.save``, or any MLflow model URI.

    ``models:/churnml@champion``, ``models:/churnml/3``, ``runs:/<run id>/model``
    and local paths of saved ChurnModels or logged MLflow models all work.
    A directory loads without running code it names unless ``trusted``
    (:meth:`ChurnModel.load`); an MLflow model is as trusted as its registry
    (MLflow runs the logged model's code file).
    """
    if is_model_directory(uri):
        return ChurnModel.load(uri, trusted)
    path = Path(str(uri))
    if ":/" not in str(uri) and not path.exists():
        raise FileNotFoundError(f"no churnml model at {uri}: neither a saved model directory nor an MLflow URI (models:/name@alias)")
    import mlflow
    from mlflow.exceptions import MlflowException

    store = mlflow.get_tracking_uri()
    database = Path(store.removeprefix("sqlite:///")) if store.startswith("sqlite:///") else None
    if database is not None and not database.exists() and str(uri).startswith(("models:/", "runs:/")):
        # looking it up would create an empty store here, and then say the model is not in it
        raise ModelNotFoundError(
            f"cannot load model {uri}: there is no tracking store at {database}; "
            "set MLFLOW_TRACKING_URI (or tracking.uri) to the store that holds it"
        )
    try:
        loaded = mlflow.pyfunc.load_model(str(uri))
    except MlflowException as exc:
        kind = ModelNotFoundError if exc.error_code == "RESOURCE_DOES_NOT_EXIST" else TrackingError
        raise kind(f"cannot load model {uri} from {store}: {exc.message}") from None
    except OSError as exc:
        raise FileNotFoundError(f"no churnml model at {uri}: {exc}") from None
    return loaded.unwrap_python_model().model


def alias_new_version(name: str, version: int | str | None, first_is_champion: bool) -> None:
    """Give a new registered version the alias ``challenger`` (and ``champion`` when the name has none yet, if asked)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if version is None:
        return
    client = MlflowClient()
    client.set_registered_model_alias(name, "challenger", str(version))
    if not first_is_champion:
        return
    try:
        client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        client.set_registered_model_alias(name, "champion", str(version))
        logger.info("registered %s version %s as champion (the first)", name, version)


def promote(name: str, version: int | str, alias: str = "champion", uri: str | None = None) -> None:
    """Point ``alias`` (default ``champion``) of registered model ``name`` at ``version``."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        client.get_model_version(name, str(version))
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise TrackingError(f"cannot set {name}@{alias} -> version {version} at {mlflow.get_tracking_uri()}: {exc.message}") from None
