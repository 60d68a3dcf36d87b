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

__all__ = ["DEFAULT_EXPERIMENT", "DEFAULT_URI", "TrackingError", "alias_new_version", "load_model", "promote", "tracking_uri"]

logger = logging.getLogger(__name__)

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "churnml"


class TrackingError(RuntimeError):
    """The tracking server or registry cannot do what was asked; the message names the URI."""


def tracking_uri(settings: TrackingSettings) -> str:
    """The URI runs go to: config, then ``MLFLOW_TRACKING_URI``, then ``sqlite:///mlflow.db``."""
    return settings.uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def load_model(uri: str | Path) -> ChurnModel:
    """A ChurnModel from a directory written by ``ChurnModel.save``, or any MLflow model URI.

    ``models:/churnml@champion``, ``models:/churnml/3``, ``runs:/<run id>/model``
    and local paths of saved ChurnModels or logged MLflow models all work.
    """
    if is_model_directory(uri):
        return ChurnModel.load(uri)
    path = Path(str(uri))
    if ":/" not in str(uri) and not path.exists():
        raise FileNotFoundError(f"no churnml model at {uri}: neither a saved model directory nor an MLflow URI (models:/name@alias)")
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        loaded = mlflow.pyfunc.load_model(str(uri))
    except MlflowException as exc:
        raise TrackingError(f"cannot load model {uri} from {mlflow.get_tracking_uri()}: {exc.message}") from None
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
