"""The scheduled retraining job: challenger vs champion, promotion, drift, and the new warning list.

:func:`retrain` is what a scheduler runs:

1. take an OS lock (``flock`` on ``<output_dir>/retrain.lock``): a second
   concurrent run fails; the lock of a run that died is released by the kernel;
2. train a challenger on every month whose label is complete by as_of
   (logged and registered in MLflow with the alias ``challenger``);
3. score the current champion on the challenger's out-of-time test slice and
   decide: promote when the challenger is not worse on the primary metric by
   more than ``retrain.tolerance`` and its calibration error is within
   ``retrain.max_ece`` (the first model: when it passes ``min_auc`` and
   ``max_ece``). A run for an as_of that already promoted does not promote
   again. The field's simple baselines (recency, RFM logistic) are scored on
   the same rows (``baseline_metrics``), and the reason says when one ranks
   them better than the challenger;
4. log the decision, both models' metrics, a drift report (population
   stability index per indicator: the latest training snapshot vs the
   customers the new list scores), the expected precision per level of the
   new warning list and, for earlier warning lists whose horizon has passed,
   their expected vs realised precision
   (:func:`churnml.kpis.realised_precision`) to the challenger's run;
5. move ``champion`` if promoted, then score every current customer with the
   champion and write the warning list atomically as Parquet and CSV.

Any failure before step 5 leaves the champion and the previous warning list
untouched.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churnml.config import Config, load_config
from churnml.data.calendar import latest_month_start, month_starts
from churnml.data.tables import Tables, load_tables
from churnml.evaluation import population_stability, report, score_metrics
from churnml.indicators.build import build_indicators
from churnml.kpis import realised_precision
from churnml.labels import labelled_dates, scoring_status
from churnml.model import ChurnModel
from churnml.ops.registry import load_model, promote, tracking_uri
from churnml.ops.serving import score
from churnml.ops.tracking import close_abandoned_runs
from churnml.output import write_outputs
from churnml.scoring.winback import winback

try:
    import fcntl  # POSIX only: the retraining lock (Linux, macOS)
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["RetrainResult", "retrain"]

logger = logging.getLogger(__name__)


@contextmanager
def _lock(directory: Path) -> Iterator[None]:
    """One retraining at a time: an OS lock (``flock``) on ``retrain.lock``, held open for the run.

    The kernel releases it when the holder exits, however it exits (SIGKILL, a crash), so
    whatever a dead run left in the file blocks nobody, and the file is never deleted (no
    unlink-then-create race). The holder's pid is written into it only to name it in the error.
    """
    if fcntl is None:
        raise RuntimeError("the retraining lock needs fcntl.flock, which this platform lacks: churnml's jobs run on Linux and macOS")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "retrain.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # not O_TRUNC: the holder's pid is in it
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RuntimeError(f"another retraining run{who} holds {path}; try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # released: no pid left to mislead
    finally:
        os.close(fd)  # closing the file releases the lock


@dataclass
class RetrainResult:
    """What a retraining run did and why."""

    as_of: str
    decision: str  # promoted | kept_champion | not_promoted | already_done
    reason: str
    challenger_version: str | None = None
    champion_version: str | None = None
    challenger_metrics: dict = field(default_factory=dict)
    champion_metrics: dict = field(default_factory=dict)
    baseline_metrics: dict = field(default_factory=dict)  # per baseline: auc_roc, brier, ece (None for a ranking)
    warning_list: list[str] = field(default_factory=list)
    winback_list: list[str] = field(default_factory=list)
    run_id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _champion(name: str, replace_broken: bool = False) -> tuple[object | None, object | None]:
    """The champion's registry version and model; (version, None) for an unreadable one if ``replace_broken``, else an error naming it."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None, None
    try:
        return version, load_model(f"models:/{name}/{version.version}")
    except Exception as exc:  # noqa: BLE001 - whatever broke the artifact, the job names the version and the way out
        problem = f"the champion, version {version.version} of {name!r}, cannot be loaded ({type(exc).__name__}: {str(exc)[:300]})"
        if not replace_broken:
            raise RuntimeError(
                f"{problem}; repair it, move the alias, or run with replace_broken_champion=True "
                "(churnml retrain --replace-broken-champion) to train a new model judged as a first one"
            ) from None
        logger.warning("%s: training a new model judged as a first one (replace_broken_champion)", problem)
        return version, None


def _already_promoted(name: str, as_of: str, champion: str | None) -> str | None:
    """The version an earlier run promoted for the same as_of, if it is the champion.

    A run killed between deciding "promoted" and moving the alias tagged a
    version that never became champion: that month is not done.
    """
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    for v in versions:
        run = client.get_run(v.run_id)
        if run.data.tags.get("churnml.retrain_as_of") == as_of and run.data.tags.get("churnml.decision") == "promoted" and str(v.version) == champion:
            return str(v.version)
    return None


def _decide(cfg: Config, challenger: dict, champion: dict | None) -> tuple[str, str]:
    r = cfg.retrain
    metric = r.primary_metric
    if challenger["ece"] > r.max_ece:
        return "not_promoted", f"calibration error {challenger['ece']:.4f} above retrain.max_ece {r.max_ece}"
    if champion is None:
        if challenger["auc_roc"] < r.min_auc:
            return "not_promoted", f"first model: AUC {challenger['auc_roc']:.4f} below retrain.min_auc {r.min_auc}"
        return "promoted", f"first model: AUC {challenger['auc_roc']:.4f} >= {r.min_auc} and ECE {challenger['ece']:.4f} <= {r.max_ece}"
    if challenger[metric] >= champion[metric] - r.tolerance:
        return "promoted", f"{metric} {challenger[metric]:.4f} vs champion {champion[metric]:.4f} (tolerance {r.tolerance}), ECE {challenger['ece']:.4f}"
    return "kept_champion", f"{metric} {challenger[metric]:.4f} is worse than champion's {champion[metric]:.4f} by more than {r.tolerance}"


def retrain(config=None, tables=None, as_of: str | pd.Timestamp | None = None, *, replace_broken_champion: bool = False) -> RetrainResult:
    """Run the scheduled retraining job once (see the module docstring).

    Parameters
    ----------
    config : Config, path or dict
        Must say where the tables are unless ``tables`` is given.
    tables : Tables, dict or directory
    as_of : month start, optional
        The run's date: trains on months whose label is complete by then,
        scores as of it. Default: the month start after the last order.
    replace_broken_champion : bool
        When the champion's artifact cannot be loaded (the job otherwise
        stops, naming the version), train a challenger and judge it as the
        first model (``retrain.min_auc``, ``retrain.max_ece``), even if this
        as_of was already done.

    Returns
    -------
    RetrainResult

    Raises
    ------
    RuntimeError
        Another run holds the lock, or the champion cannot be loaded
        (unless ``replace_broken_champion``).
    """
    cfg = load_config(config)
    tables = tables if tables is not None else cfg.retrain.tables
    if tables is None:
        raise ValueError("retrain needs the raw tables: set retrain.tables in the config or pass --tables DIR")
    tables = load_tables(tables, cfg)
    (when,) = month_starts(latest_month_start(tables) if as_of is None else as_of, tables)
    stamp = str(when.date())
    name = cfg.tracking.registered_model
    out_dir = Path(cfg.retrain.output_dir)
    mlflow.set_tracking_uri(tracking_uri(cfg.tracking))
    with _lock(out_dir):
        close_abandoned_runs(cfg.tracking)  # a killed run's, even when this one trains nothing
        earlier = _earlier_lists(out_dir)  # before the expensive work: a stray file is named now, not after training
        champion_version, champion = _champion(name, replace_broken_champion)  # likewise a broken champion
        broken = champion_version is not None and champion is None
        done = None if broken else _already_promoted(name, stamp, str(champion_version.version) if champion_version else None)
        if done is not None:
            result = RetrainResult(stamp, "already_done", f"version {done} was already promoted for as_of {stamp}", champion_version=done)
        else:
            horizon = pd.Timedelta(days=cfg.labels.churn.horizon_days)
            dates = [d for d in labelled_dates(tables, config=cfg) if d + horizon <= when]
            # the job promotes by its own rule, never by registration order
            quiet = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"enabled": True, "first_version_champion": False})})
            challenger = ChurnModel(quiet).fit(tables, as_of=dates)
            test = list(challenger.holdout_.split.test)
            held = report(challenger)  # the challenger's test slice: its metrics and the baselines' on the same rows
            mine = held.metrics[challenger.fitted_.name].to_dict()
            theirs = None
            if champion is not None:
                rows = champion.evaluate_snapshots(tables, test)
                theirs = score_metrics(rows.churned, rows[f"{champion.fitted_.name}_probability"])
            decision, reason = _decide(cfg, mine, theirs)
            if broken:
                reason = f"champion version {champion_version.version} cannot be loaded, judged as a first model: {reason}"
            beaten = held.beaten_by()
            if beaten:
                reason += f"; note: {beaten[0]} ranks the test slice better than the challenger (AUC {beaten[1]:.4f} vs {beaten[2]:.4f})"
            baselines = held.baselines.astype(object).where(held.baselines.notna(), None).to_dict("index")
            client = MlflowClient()
            (version,) = client.search_model_versions(f"run_id='{challenger.run_id_}'") or (None,)
            result = RetrainResult(
                stamp, decision, reason, challenger_version=version.version if version else None,
                champion_version=champion_version.version if champion_version else None,
                challenger_metrics=mine, champion_metrics=theirs or {}, baseline_metrics=baselines, run_id=challenger.run_id_,
            )
            # the population the new list will score: customers eligible at as_of, as in training
            scorable = scoring_status(tables, when, cfg).query("status == 'scored'").customer_id
            current = build_indicators(tables, when, cfg)
            current = current[current.customer_id.isin(scorable)]
            _log_decision(challenger, result, current, _realised(tables, earlier, cfg, when))
            if decision == "promoted" and version is not None:
                promote(name, version.version)
        model = _champion(name)[1]
        if model is None:
            raise RuntimeError(f"no champion in the registry {name!r} to score with: {result.reason}")
        result.warning_list = [str(p) for p in write_outputs(score(tables, model, when, language=cfg.language), out_dir / f"warnings_{stamp}")]
        lost = winback(tables, model, when, language=cfg.language)
        result.winback_list = [str(p) for p in write_outputs(lost, out_dir / f"winback_{stamp}")]
    logger.info("retrain %s: %s (%s)", stamp, result.decision, result.reason)
    return result


def _earlier_lists(out_dir: Path) -> dict[pd.Timestamp, Path]:
    """The warning lists earlier runs wrote (``warnings_<as_of>.parquet``) by date; any other file is left alone, and named."""
    lists = {}
    for path in sorted(out_dir.glob("warnings_*.parquet")):
        match = re.fullmatch(r"warnings_(\d{4}-\d{2}-\d{2})\.parquet", path.name)
        try:
            written = pd.Timestamp(match.group(1)) if match else None
        except ValueError:  # warnings_2025-13-45.parquet
            written = None
        if written is None:
            logger.warning("ignoring %s in the output directory: not a warning list this job wrote (warnings_YYYY-MM-DD.parquet)", path)
            continue
        lists[written] = path
    return lists


def _realised(tables: Tables, earlier: dict[pd.Timestamp, Path], cfg: Config, when: pd.Timestamp) -> pd.DataFrame:
    """Expected vs realised precision per level of the earlier warning lists whose horizon has passed."""
    horizon = pd.Timedelta(days=cfg.labels.churn.horizon_days)
    parts = []
    for written, path in earlier.items():
        if written + horizon <= when:
            listed = pd.read_parquet(path, columns=["customer_id", "as_of", "warning_level", "churn_probability"])
            parts.append(realised_precision(tables, listed, cfg).assign(list_as_of=str(written.date())))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _log_decision(challenger, result: RetrainResult, current: pd.DataFrame, realised: pd.DataFrame) -> None:
    """Decision, champion metrics, drift, expected precision, and realised precision of past lists, on the challenger's run."""
    numeric = [c for c in challenger.schema_.numeric if c in current.columns]
    reference = challenger.holdout_.reference
    drift = pd.Series({c: population_stability(reference[c], current[c]) for c in numeric}, name="psi").sort_values(ascending=False)
    scored = challenger.predict_frame(current)
    expected = scored[scored.warning_level > 0].groupby("warning_level").churn_probability.agg(["size", "mean"])
    expected.columns = ["customers", "expected_precision"]
    with mlflow.start_run(run_id=result.run_id):
        mlflow.set_tags({"churnml.retrain_as_of": result.as_of, "churnml.decision": result.decision, "churnml.decision_reason": result.reason[:5000]})
        mlflow.log_metrics({f"champion.{k}": v for k, v in result.champion_metrics.items() if np.isfinite(v)})
        mlflow.log_metrics({f"drift.psi.{c}": v for c, v in drift.items() if np.isfinite(v)})
        mlflow.log_metrics({f"expected.level{int(k)}.precision": v for k, v in expected.expected_precision.items()})
        mlflow.log_text(drift.to_frame().to_csv(), "drift_psi.csv")
        mlflow.log_text(expected.to_csv(), "expected_precision.csv")
        mlflow.log_dict(result.to_dict(), "decision.json")
        if not realised.empty:  # the feedback loop: what earlier lists promised and what happened
            latest = realised[realised.list_as_of == realised.list_as_of.max()]
            mlflow.log_metrics({f"realised.level{int(r.warning_level)}.precision": r.realised_precision for r in latest.itertuples() if np.isfinite(r.realised_precision)})
            mlflow.log_text(realised.to_csv(index=False), "realised_precision.csv")
