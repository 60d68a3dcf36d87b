"""Evaluation on the out-of-time test slice: metrics, warning levels, calibration, drift, plots.

``report(model)`` reads the test slice a fitted :class:`~churnml.ChurnModel`
kept aside (``model.holdout_``); ``report(model, tables, as_of=[...])`` scores and labels fresh
snapshots instead. Both compare the configured model with the rule scorecard
on the same rows.

Metrics: ROC AUC, PR AUC (average precision), log loss, Brier score,
expected calibration error (ECE, 10 equal-count bins: with churn rates of a
few percent, equal-width bins would put nearly every customer in the first
bin), and lift, precision and recall among the riskiest 10% and 20%. Per
warning level: customers, churners, precision (the documents' warning
accuracy) and recall. :func:`population_stability` measures how far the
population scored today has drifted from the one the model learned from.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.utils.validation import check_is_fitted

from churnml.constants import LEVELS
from churnml.files import atomic_path
from churnml.models.baselines import RANKINGS
from churnml.messages import text
from churnml.scoring.health import level_precision

__all__ = ["EvaluationReport", "expected_calibration_error", "levels_in_order", "population_stability", "report", "score_metrics", "top_share_metrics"]

logger = logging.getLogger(__name__)

TOP_SHARES = (0.1, 0.2)
ORDER_ALPHA = 0.05  # significance at which a less precise higher warning level counts as an inversion
BEATEN_BY = 0.005  # AUC a simple baseline must gain over the model before the report says it ranks better


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-count bins, weighted by bin size.

    Examples
    --------
    >>> round(expected_calibration_error(np.array([0, 1] * 50), np.full(100, 0.5)), 3)
    0.0
    """
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    order = np.argsort(p, kind="stable")
    error = 0.0
    for chunk in np.array_split(order, min(bins, len(p))):
        error += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return float(error / len(p))


def top_share_metrics(y: np.ndarray, p: np.ndarray, share: float) -> dict[str, float]:
    """Precision, recall and lift among the ``share`` of customers with the highest risk."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    k = max(1, int(round(share * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    precision = y[top].mean()
    return {"precision": precision, "recall": y[top].sum() / y.sum(), "lift": precision / y.mean()}


def score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every ranking and calibration metric for one model on one slice."""
    y, p = np.asarray(y, dtype="int64"), np.asarray(p, dtype="float64")
    if len(np.unique(y)) < 2:
        raise ValueError(f"evaluation needs churners and non-churners; the slice has {len(y)} rows, all {y[0] if len(y) else '-'}")
    out = {
        "rows": float(len(y)),
        "churn_rate": float(y.mean()),
        "auc_roc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "log_loss": log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]),
        "brier": brier_score_loss(y, p),
        "ece": expected_calibration_error(y, p),
    }
    for share in TOP_SHARES:
        for name, value in top_share_metrics(y, p, share).items():
            out[f"{name}_top{int(share * 100)}"] = value
    return {k: float(v) for k, v in out.items()}


@dataclass
class EvaluationReport:
    """Out-of-time evaluation of a model beside the rule scorecard.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per metric, one column per model (calibrated outputs).
    calibration : pandas.DataFrame
        Brier score and ECE before and after calibration, per model.
    levels : pandas.DataFrame
        Per model and warning level: customers, churners, precision, recall.
    levels_ordered : dict
        Per model: whether level 1 precision >= level 2 >= level 3 beyond chance
        (:func:`levels_in_order`; empty levels skipped).
    predictions : pandas.DataFrame
        The scored rows the figures are drawn from.
    horizons : pandas.DataFrame
        Per horizon of the survival model (:func:`horizon_metrics`); empty without one.
    baselines : pandas.DataFrame
        The field's simple baselines on the same rows (:func:`baseline_metrics`): ``auc_roc``,
        and ``brier`` and ``ece`` for those that give probabilities.
    selection : pandas.Series
        The calibration-slice AUC of each candidate estimator, from which the
        main one was chosen (``ChurnModel.selection_``); empty when nothing was chosen.
    judged_days : int or None
        After censored training, the horizon the test slice is judged at
        (``ChurnModel.holdout_.judged_days``); None when it is the model's own.
    shared_test : bool
        The test slice is the calibration slice (a base with 2 snapshot
        dates, :func:`churnml.training.time_split`): the report says its
        numbers are optimistic.
    still_active : pandas.Series
        Per model, the AUC among the test rows still active at as_of in
        hindsight (:func:`churnml.labels.churn_labels`), and in ``attrs``
        the share of churners who had already left; empty when every churner was still active.
    returns : pandas.DataFrame
        The lapsed test customers' return within ``returns.attrs["days"]``:
        rows, return_rate, auc_roc, brier, ece of the return model and the
        recency baseline (:func:`return_metrics`); empty without a return model.
    """

    metrics: pd.DataFrame
    calibration: pd.DataFrame
    levels: pd.DataFrame
    levels_ordered: dict[str, bool]
    predictions: pd.DataFrame
    models: list[str]
    horizons: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)
    selection: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64"))
    judged_days: int | None = None
    shared_test: bool = False
    still_active: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64"))
    returns: pd.DataFrame = field(default_factory=pd.DataFrame)
    _figures: dict = field(default_factory=dict, repr=False)

    def beaten_by(self) -> tuple[str, float, float] | None:
        """The baseline that ranks the rows better than the main model (by more than :data:`BEATEN_BY` AUC), if any.

        Returns
        -------
        (baseline, its AUC, the model's AUC), or None.
        """
        if self.baselines.empty:
            return None
        best = self.baselines.auc_roc.idxmax()
        mine = float(self.metrics.loc["auc_roc", self.models[-1]])
        theirs = float(self.baselines.auc_roc[best])
        return (best, theirs, mine) if theirs > mine + BEATEN_BY else None

    def figures(self) -> dict[str, object]:
        """Matplotlib figures: roc, precision_recall, reliability, health_by_outcome, levels."""
        if not self._figures:
            self._figures = _figures(self)
        return self._figures

    def to_markdown(self, language: str = "en") -> str:
        """The three tables as Markdown, headings in ``language`` (en or zh)."""
        verdicts = ", ".join(f"{m}: {text(f'yes_no.{str(ok).lower()}', language)}" for m, ok in self.levels_ordered.items())
        judged = [text("report.judged", language, days=self.judged_days)] if self.judged_days is not None else []
        judged += [text("report.shared_test", language)] if self.shared_test else []
        still = []
        if len(self.still_active):
            aucs = ", ".join(f"{m} {auc:.3f}" for m, auc in self.still_active.items())
            still = [text("report.still_active", language, gone=self.still_active.attrs["gone"], aucs=aucs)]
        parts = [
            f"## {text('report.test_slice', language)}",
            *judged,
            self.metrics.round(4).to_markdown(),
            *still,
            f"## {text('report.calibration', language)}\n\n" + self.calibration.round(4).to_markdown(),
            f"## {text('report.levels', language)}\n\n" + self.levels.round(4).to_markdown(),
            text("report.levels_ordered", language, verdicts=verdicts),
        ]
        if not self.horizons.empty:
            parts.append(f"## {text('report.horizons', language)}\n\n" + self.horizons.round(4).to_markdown())
        if not self.baselines.empty:
            parts.append(f"## {text('report.baselines', language)}\n\n" + self.baselines.round(4).to_markdown())
            if len(self.selection) > 1:
                aucs = ", ".join(f"{name} {auc:.3f}" for name, auc in self.selection.items())
                parts.append(text("report.selection", language, chosen=self.models[-1], aucs=aucs))
            beaten = self.beaten_by()
            if beaten:
                parts.append(text("report.beaten_by", language, baseline=beaten[0], baseline_auc=beaten[1], model=self.models[-1], model_auc=beaten[2]))
        if not self.returns.empty:
            parts.append(f"## {text('report.returns', language, days=self.returns.attrs['days'])}\n\n" + self.returns.round(4).to_markdown())
        return "\n\n".join(parts) + "\n"

    def save(self, directory: str | Path, language: str = "en") -> Path:
        """Write ``report.md`` (in ``language``) and one PNG per figure into ``directory`` (each file atomically)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "report.md") as tmp:
            tmp.write_text(self.to_markdown(language), encoding="utf-8")
        for name, fig in self.figures().items():
            with atomic_path(directory / f"{name}.png") as tmp:
                fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        return directory

    def _repr_html_(self) -> str:
        return (
            f"<h4>{text('report.test_slice')}</h4>" + self.metrics.round(4).to_html()
            + f"<h4>{text('report.calibration')}</h4>" + self.calibration.round(4).to_html()
            + f"<h4>{text('report.levels')}</h4>" + self.levels.round(4).to_html()
            + (f"<h4>{text('report.horizons')}</h4>" + self.horizons.round(4).to_html() if not self.horizons.empty else "")
            + (f"<h4>{text('report.baselines')}</h4>" + self.baselines.round(4).to_html() if not self.baselines.empty else "")
            + (f"<h4>{text('report.returns', days=self.returns.attrs['days'])}</h4>" + self.returns.round(4).to_html() if not self.returns.empty else "")
        )


def report(model, tables=None, as_of: Sequence[str | pd.Timestamp] | None = None) -> EvaluationReport:
    """Evaluate a fitted ChurnModel (and its rule-scorecard baseline) out of time.

    Parameters
    ----------
    model : ChurnModel
        Fitted.
    tables, as_of : optional
        Fresh snapshots to evaluate on (their labels must be complete);
        default: the test slice kept aside at fit time.

    Returns
    -------
    EvaluationReport
    """
    check_is_fitted(model, "holdout_", msg="report() needs a %(name)s fitted on labelled snapshots; call fit(tables) first")
    if (tables is None) != (as_of is None):
        raise ValueError("give both tables and as_of to evaluate on fresh snapshots, or neither for the test slice")
    predictions = model.holdout_.predictions if tables is None else model.evaluate_snapshots(tables, as_of)
    rep = from_predictions(predictions)
    rep.selection = model.selection_
    rep.judged_days = model.holdout_.judged_days if tables is None else None
    rep.shared_test = tables is None and model.holdout_.split.shared
    rep.returns = return_metrics(model.holdout_.returns) if tables is None else pd.DataFrame()
    return rep


def from_predictions(predictions: pd.DataFrame) -> EvaluationReport:
    """Build the report from a frame with ``churned`` and ``<model>_raw/_probability/_level`` columns."""
    models = [c.removesuffix("_probability") for c in predictions.columns if c.endswith("_probability")]
    models.sort(key=lambda m: m != "scorecard")  # the baseline first
    y = predictions["churned"].to_numpy()
    metrics = pd.DataFrame({m: score_metrics(y, predictions[f"{m}_probability"]) for m in models})
    calibration = pd.DataFrame(
        {
            m: {
                "brier_before": brier_score_loss(y, predictions[f"{m}_raw"]),
                "brier_after": brier_score_loss(y, predictions[f"{m}_probability"]),
                "ece_before": expected_calibration_error(y, predictions[f"{m}_raw"]),
                "ece_after": expected_calibration_error(y, predictions[f"{m}_probability"]),
            }
            for m in models
        }
    )
    levels = pd.concat({m: level_precision(predictions[f"{m}_level"], y) for m in models}, names=["model"])
    horizons = horizon_metrics(predictions, models[-1])
    baselines = baseline_metrics(predictions)
    ordered = {}
    for m in models:
        ordered[m] = levels_in_order(levels.loc[m])
        if not ordered[m]:
            logger.warning("%s: warning levels are not ordered by precision on the test slice: %s", m, levels.loc[m].precision.round(3).to_dict())
    report = EvaluationReport(metrics, calibration, levels, ordered, predictions, models, horizons, baselines)
    report.still_active = still_active_auc(predictions, models)
    beaten = report.beaten_by()
    if beaten:
        logger.warning("%s ranks the test slice better than %s: AUC %.3f vs %.3f", beaten[0], models[-1], beaten[1], beaten[2])
    return report


def levels_in_order(table: pd.DataFrame) -> bool:
    """Whether no warning level is less precise than a lower one (1 >= 2 >= 3) by more than chance.

    A pair of levels counts as inverted when Fisher's exact test finds the
    higher level's churn odds below the lower level's at :data:`ORDER_ALPHA`:
    a level of 40 customers at 0.375 against one of 89 at 0.371 is noise, a
    level 1 at 2 of 20 against a level 3 at 18 of 20 is not.

    Parameters
    ----------
    table : DataFrame
        :func:`churnml.scoring.health.level_precision` of one model.
    """
    rows = table[table.customers > 0]
    for (_, high), (_, low) in combinations(rows.iterrows(), 2):
        counts = [[high.churners, high.customers - high.churners], [low.churners, low.customers - low.churners]]
        if fisher_exact(counts, alternative="less").pvalue < ORDER_ALPHA:
            return False
    return True


def baseline_metrics(predictions: pd.DataFrame) -> pd.DataFrame:
    """AUC of each ``baseline_<name>`` column (Brier and ECE when it is a probability) against ``churned``."""
    y = predictions["churned"].to_numpy()
    rows = {}
    for column in [c for c in predictions.columns if c.startswith("baseline_")]:
        name, score = column.removeprefix("baseline_"), predictions[column].to_numpy(dtype="float64")
        probability = name not in RANKINGS
        rows[name] = {
            "auc_roc": roc_auc_score(y, np.nan_to_num(score, posinf=np.finfo("float64").max)),
            "brier": brier_score_loss(y, score) if probability else np.nan,
            "ece": expected_calibration_error(y, score) if probability else np.nan,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def still_active_auc(predictions: pd.DataFrame, models: list[str]) -> pd.Series:
    """Per model, the AUC among rows still active at as_of in hindsight; ``attrs["gone"]``: the churners' share who had already left.

    Under inactivity, a churner with no activity at or after as_of left
    before the snapshot: ranking such customers first takes no foresight, so
    the AUC of the whole slice overstates how early the model warns. Empty
    when no churner had left already (other definitions) or too few rows remain.
    """
    if "still_active" not in predictions:
        return pd.Series(dtype="float64")
    active = predictions.still_active.to_numpy(dtype=bool)
    y = predictions["churned"].to_numpy()
    churners = y == 1
    if active[churners].all() or len(np.unique(y[active])) < 2:
        return pd.Series(dtype="float64")
    out = pd.Series({m: roc_auc_score(y[active], predictions[f"{m}_probability"].to_numpy()[active]) for m in models}, name="auc_roc_still_active")
    out.attrs["gone"] = float(1.0 - active[churners].mean())
    return out


def return_metrics(returns: pd.DataFrame) -> pd.DataFrame:
    """The return model and the ranking baselines on the lapsed test rows: rows, return_rate, auc_roc, brier, ece.

    Rows whose return the data cannot tell yet are left out; empty without
    rows or without both outcomes.
    """
    if returns.empty:
        return pd.DataFrame()
    known = returns[returns.returned.notna()]
    y = known.returned.to_numpy(dtype="int64")
    if len(np.unique(y)) < 2:
        return pd.DataFrame()
    p = known.return_probability.to_numpy()
    rows = {"return_model": {"auc_roc": roc_auc_score(y, p), "brier": brier_score_loss(y, p), "ece": expected_calibration_error(y, p)}}
    for column in [c for c in known.columns if c.startswith("baseline_")]:
        score = np.nan_to_num(known[column].to_numpy(dtype="float64"), neginf=-np.finfo("float64").max)
        rows[column.removeprefix("baseline_")] = {"auc_roc": roc_auc_score(y, score), "brier": np.nan, "ece": np.nan}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.insert(0, "return_rate", y.mean())
    out.insert(0, "rows", len(y))
    out.attrs["days"] = returns.attrs["days"]
    return out


def horizon_metrics(predictions: pd.DataFrame, main: str) -> pd.DataFrame:
    """Per horizon of the survival model: AUC, Brier score and calibration error against churn within that horizon.

    Only rows whose outcome at the horizon is known count. ``main_auc_roc``
    scores the main model's probability (trained for its own horizon)
    against the same label, for reference. Empty without a survival model.
    """
    rows = {}
    for column in [c for c in predictions.columns if c.startswith("p_churn_")]:
        horizon = column.removeprefix("p_churn_")
        known = predictions[f"churned_{horizon}"].notna().to_numpy()
        y = predictions[f"churned_{horizon}"].to_numpy()[known].astype("int64")
        p = predictions[column].to_numpy()[known]
        if len(np.unique(y)) < 2:
            continue
        rows[horizon] = {
            "rows": len(y),
            "churn_rate": y.mean(),
            "auc_roc": roc_auc_score(y, p),
            "brier": brier_score_loss(y, p),
            "ece": expected_calibration_error(y, p),
            "main_auc_roc": roc_auc_score(y, predictions[f"{main}_probability"].to_numpy()[known]),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("horizon")


def _figures(rep: EvaluationReport) -> dict[str, object]:
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    pred, y = rep.predictions, rep.predictions["churned"].to_numpy()
    figs = {}
    for name, display in (("roc", RocCurveDisplay), ("precision_recall", PrecisionRecallDisplay)):
        fig, ax = plt.subplots(figsize=(5, 4.5))
        for m in rep.models:
            display.from_predictions(y, pred[f"{m}_probability"], name=m, ax=ax)
        ax.set_title(f"{'ROC' if name == 'roc' else 'Precision-recall'} curve, out-of-time test slice")
        figs[name] = fig

    fig, ax = plt.subplots(figsize=(5, 4.5))
    for m in rep.models:
        CalibrationDisplay.from_predictions(y, pred[f"{m}_probability"], n_bins=10, strategy="quantile", name=f"{m} calibrated", ax=ax)
    ax.set(title="Reliability diagram (10 equal-count bins)", xlabel="predicted churn probability", ylabel="observed churn rate")
    figs["reliability"] = fig

    fig, axes = plt.subplots(1, len(rep.models), figsize=(5 * len(rep.models), 4), squeeze=False)
    bins = np.linspace(0, 100, 21)
    for ax, m in zip(axes[0], rep.models, strict=True):
        for outcome, label in ((0, "stayed"), (1, "churned")):
            ax.hist(pred.loc[y == outcome, f"{m}_health"], bins=bins, alpha=0.6, density=True, label=label)
        ax.set(title=f"{m}: health score by outcome", xlabel="health score (100 = healthiest)", ylabel="density")
        ax.legend()
    figs["health_by_outcome"] = fig

    fig, ax = plt.subplots(figsize=(6, 4))
    table = rep.levels.reset_index()
    width = 0.8 / len(rep.models)
    for i, m in enumerate(rep.models):
        rows = table[table.model == m]
        bars = ax.bar(rows.level + (i - (len(rep.models) - 1) / 2) * width, rows.customers, width, label=m)
        ax.bar_label(bars, labels=[f"{p:.0%}" if p == p else "" for p in rows.precision], fontsize=8)
    ax.set(title="Warnings per level (label: precision)", xlabel="warning level (1 = highest risk)", ylabel="customers", xticks=list(LEVELS))
    ax.legend()
    figs["levels"] = fig
    for f in figs.values():
        f.tight_layout()
        plt.close(f)
    return figs


def population_stability(expected: pd.Series, actual: pd.Series, bins: int = 10) -> float:
    """Population stability index of one indicator: training (expected) vs current (actual) population.

    Deciles of the training values; missing values are a bin of their own;
    empty bins get 0.5 / n. Below 0.1 is stable, above 0.25 a real shift.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> population_stability(pd.Series(rng.normal(size=5000)), pd.Series(rng.normal(size=5000))) < 0.02
    True
    """
    e, a = pd.to_numeric(expected, errors="coerce"), pd.to_numeric(actual, errors="coerce")
    edges = np.unique(np.nanquantile(e, np.linspace(0, 1, bins + 1)[1:-1])) if e.notna().any() else np.array([])

    def shares(x: pd.Series) -> np.ndarray:
        codes = np.where(x.isna(), len(edges) + 1, np.searchsorted(edges, x.to_numpy(), side="right"))
        counts = np.bincount(codes, minlength=len(edges) + 2).astype(float)
        return np.maximum(counts, 0.5) / max(len(x), 1)

    pe, pa = shares(e), shares(a)
    return float(np.sum((pa - pe) * np.log(pa / pe)))
