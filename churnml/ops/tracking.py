"""MLflow: every training run recorded, every model registered, any model loadable.

:func:`log_run` is the one call. :func:`churnml.ops.hooks.track_fit` makes it after every
``ChurnModel.fit`` unless ``tracking.enabled`` is false: it is registered
as a fit hook (the entry point ``churnml.fit_hooks`` in ``pyproject.toml``),
so the model does not depend on this module. A run holds:

* params: the whole configuration flattened (``model.lightgbm.num_leaves``,
  ``labels.churn.days``, ...), the churn definition and horizon, the as_of
  dates of each slice, and rows / first / last date of every table;
* metrics: every out-of-time test metric of each model (``lightgbm.auc_roc``,
  ``scorecard.brier``, ...), calibration before and after, and per warning
  level the count, precision and recall; the simple baselines on the same
  rows (``baseline.recency.auc_roc``, ``baseline.rfm_logistic.ece``, ...);
  the AUC among customers still active at as_of (``lightgbm.auc_roc_still_active``);
  the lapsed customers' return (``returns.return_model.auc_roc``, ``returns.recency.auc_roc``, ...);
* artifacts: ``config.yaml``, ``data_fingerprint.json`` (rows, date range
  and an order-independent content hash per table), ``split.json``, the
  evaluation report and its plots (``report/``), ``feature_importance.csv``,
  ``cause_distribution.csv``;
* tags: ``churnml_version`` and ``git_commit`` (when churnml runs from a git
  checkout);
* the model: an MLflow pyfunc logged from code (:mod:`churnml.ops.pyfunc_model`)
  with a signature and an input example, registered under
  ``tracking.registered_model``; the new version gets the alias
  ``challenger``, and ``champion`` when the name has no champion yet.

Tracking goes to ``tracking.uri``, else ``MLFLOW_TRACKING_URI``, else the
local SQLite store ``sqlite:///mlflow.db`` in the working directory (with a
SQLite store, artifacts go to ``mlruns/`` next to the database file). Open the
UI on it with ``mlflow ui --backend-store-uri sqlite:///mlflow.db``. Logging
sets MLflow's global tracking URI to that store (as ``mlflow.set_tracking_uri``
would), so that ``load_model("models:/...")`` afterwards reads the same registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from churnml._version import __version__
from churnml.config import TrackingSettings
from churnml.data.schema import TIME_COLUMN
from churnml.data.tables import Tables
from churnml.evaluation import report as evaluation_report
from churnml.files import process_alive
from churnml.model import ChurnModel
from churnml.ops.registry import DEFAULT_EXPERIMENT, TrackingError, alias_new_version, tracking_uri
from churnml.ops.serving import warning_columns

__all__ = ["close_abandoned_runs", "data_fingerprint", "flatten", "log_run"]

logger = logging.getLogger(__name__)

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")


def _experiment(settings: TrackingSettings) -> str:
    return settings.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def _check_reachable(uri: str) -> None:
    """Fail fast, before a run is opened, when an HTTP tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingError(f"MLflow tracking server {uri} is unreachable ({exc}); nothing was logged") from None


def flatten(mapping: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"a.b.c": "value"}``; lists become JSON.

    Examples
    --------
    >>> flatten({"model": {"seed": 0, "lightgbm": {"num_leaves": 15}}, "rules": [1, 2]})
    {'model.seed': '0', 'model.lightgbm.num_leaves': '15', 'rules': '[1, 2]'}
    """
    out = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return out


def data_fingerprint(tables: Tables) -> dict[str, dict]:
    """Rows, first and last time stamp, and an order-independent content hash, per table.

    The hash sums the engine's hash of every value per column, so it does not
    depend on row order; it is comparable between runs on the same engine.
    """
    out = {}
    for name, t in tables.items():
        aggs = {f"h_{c}": t[c].hash().sum() for c in t.columns}
        aggs["rows"] = t.count()
        column = TIME_COLUMN.get(name)
        if column in t.columns:
            aggs["first"], aggs["last"] = t[column].min(), t[column].max()
        got = t.aggregate(**aggs).to_pandas().iloc[0]
        digest = hashlib.sha256("|".join(f"{c}={got[f'h_{c}']}" for c in t.columns).encode()).hexdigest()[:16]
        out[name] = {
            "rows": int(got["rows"]),
            "first": str(got.get("first", "")),
            "last": str(got.get("last", "")),
            "content_hash": digest,
        }
    return out


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _metrics(report) -> dict[str, float]:
    out = {}
    for model_name in report.metrics.columns:
        out.update({f"{model_name}.{k}": v for k, v in report.metrics[model_name].items()})
        out.update({f"{model_name}.{k}": v for k, v in report.calibration[model_name].items()})
        for level, row in report.levels.loc[model_name].iterrows():
            out.update({f"{model_name}.level{level}.{k}": v for k, v in row.items()})
        out[f"{model_name}.levels_ordered"] = float(report.levels_ordered[model_name])
    for baseline, row in report.baselines.iterrows():
        out.update({f"baseline.{baseline}.{k}": v for k, v in row.items()})
    out.update({f"selection.{name}.calibration_auc_roc": auc for name, auc in report.selection.items()})
    out.update({f"{name}.auc_roc_still_active": auc for name, auc in report.still_active.items()})
    for name, row in report.returns.iterrows():
        out.update({f"returns.{name}.{k}": v for k, v in row.items()})
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def _input_example(model) -> pd.DataFrame:
    example = model.holdout_.example.head(5).reset_index(drop=True)
    return example[["customer_id", *model.schema_.columns]]


def log_run(model, tables: Tables | None = None, *, run_name: str | None = None) -> str:
    """Log a fitted ChurnModel, its evaluation and its data to MLflow; register the model.

    Parameters
    ----------
    model : ChurnModel
        Fitted.
    tables : Tables, optional
        The raw tables it was trained on, for the data fingerprint.
    run_name : str, optional

    Returns
    -------
    str
        The MLflow run id (also stored as ``model.run_id_``).

    Raises
    ------
    TrackingError
        The tracking server is unreachable (nothing logged), or logging
        failed (the run is closed as FAILED).
    """
    settings = model.config_.tracking
    uri = tracking_uri(settings)
    _check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    try:
        _use_experiment(_experiment(settings), uri)
    except MlflowException as exc:
        raise TrackingError(f"cannot use experiment {_experiment(settings)!r} at {uri}: {exc.message}") from None
    close_abandoned_runs(settings)
    report = evaluation_report(model)
    split = {k: [str(d.date()) for d in getattr(model.holdout_.split, k)] for k in ("train", "calibration", "test")}
    churn = model.config_.labels.churn
    owner = {"churnml_host": socket.gethostname(), "churnml_pid": str(os.getpid())}  # first: a kill from here on is found by the next run
    with mlflow.start_run(run_name=run_name, tags=owner) as run, tempfile.TemporaryDirectory() as tmp:
        try:
            tmp = Path(tmp)
            mlflow.set_tags({"churnml_version": __version__, "git_commit": _git_commit() or "unknown", "estimator": model.fitted_.name})
            params = flatten(model.config_.model_dump(mode="json"))
            params.update({"churn.kind": churn.kind, "churn.horizon_days": str(churn.horizon_days)})
            params.update({f"as_of.{k}": ",".join(v) for k, v in split.items()})
            fingerprint = data_fingerprint(tables) if tables is not None else {}
            for name, facts in fingerprint.items():
                params.update({f"data.{name}.rows": str(facts["rows"]), f"data.{name}.range": f"{facts['first']}..{facts['last']}"})
            if tables is not None and tables.sampling:  # trained on a sample of a larger base
                params.update({f"sample.{k}": str(v) for k, v in tables.sampling.items()})
            mlflow.log_params(params)
            mlflow.log_metrics(_metrics(report))
            mlflow.log_text(model.config_.to_yaml(), "config.yaml")
            mlflow.log_dict(split, "split.json")
            mlflow.log_dict(fingerprint, "data_fingerprint.json")
            report.save(tmp / "report")
            mlflow.log_artifacts(str(tmp / "report"), "report")
            mlflow.log_text(model.feature_importance().to_csv(), "feature_importance.csv")
            mlflow.log_text(model.holdout_.causes.to_csv(), "cause_distribution.csv")

            saved = model.save(tmp / "churn_model")
            example = _input_example(model)
            with warnings.catch_warnings():  # MLflow's hint about integer columns concerns warning_level, never missing
                warnings.simplefilter("ignore", UserWarning)
                signature = infer_signature(example, warning_columns(model, example), params={"allow_missing": False})
            signature.inputs = None  # churnml checks each request itself (churnml.ops.serving): MLflow's schema would convert true to 1.0
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(PYFUNC_CODE),
                artifacts={"churn_model": str(saved)},
                signature=signature,
                input_example=example,
                registered_model_name=settings.registered_model if settings.register_model else None,
            )
            if settings.register_model:
                alias_new_version(settings.registered_model, info.registered_model_version, settings.first_version_champion)
        except Exception:
            mlflow.end_run("FAILED")
            raise
    model.run_id_ = run.info.run_id
    logger.info("logged run %s to %s (experiment %r)", run.info.run_id, uri, _experiment(settings))
    return run.info.run_id


def close_abandoned_runs(settings: TrackingSettings) -> list[str]:
    """Mark FAILED the experiment's runs left RUNNING by a churnml process on this host that no longer lives (at the current tracking URI).

    A process killed while logging cannot end its run, which would stay
    RUNNING forever; runs of other hosts are left alone (their processes
    cannot be seen from here). Returns the run ids closed.
    """
    client = MlflowClient()
    experiment = mlflow.get_experiment_by_name(_experiment(settings))
    if experiment is None:
        return []
    running = client.search_runs(
        [experiment.experiment_id], f"attributes.status = 'RUNNING' and tags.churnml_host = '{socket.gethostname()}'"
    )
    closed = []
    for run in running:
        pid = run.data.tags.get("churnml_pid", "")
        if pid.isdigit() and not process_alive(int(pid)):
            client.set_tag(run.info.run_id, "churnml_failure", f"process {pid} ended before the run did (killed?)")
            client.set_terminated(run.info.run_id, "FAILED")
            closed.append(run.info.run_id)
    if closed:
        logger.warning("marked %d run(s) left RUNNING by dead processes as FAILED: %s", len(closed), closed)
    return closed


def _use_experiment(name: str, uri: str) -> None:
    """Set the experiment; a new one on a SQLite store keeps its artifacts next to the database file."""
    if uri.startswith("sqlite:///") and mlflow.get_experiment_by_name(name) is None:
        database = Path(uri.removeprefix("sqlite:///"))
        mlflow.create_experiment(name, artifact_location=(database.parent.resolve() / "mlruns").as_uri())
    mlflow.set_experiment(name)

