"""Churn risk over time: a discrete-time hazard model on customer-period rows.

Retention teams plan by the calendar ("who leaves this month, who next
quarter"). Beside the LightGBM classifier of the churn label, churnml fits
one more LightGBM model: the **hazard** ``h_k(x)``, the chance that a customer who is
still active at the start of period ``k`` after as_of churns within that
period (periods of ``survival.period_days``, 30 days by default). Every
training snapshot becomes one row per period it was observed active
(:func:`person_periods`): a churn in period ``k`` gives ``k`` rows, the last
one a 1; a customer still active when the data ends gives one 0-row per
observed period and nothing after (right-censoring, so long horizons learn
from the snapshots that can tell them).

From the hazards, per customer:

* the survival curve ``S(k) = (1 - h_1) ... (1 - h_k)``, the probability of
  still being active after ``k`` periods;
* ``p_churn_<h>d = 1 - S(h / period_days)`` for each configured horizon:
  non-decreasing in the horizon and never above 1 by construction;
* ``expected_active_months``: ``sum_k S(k)`` in average months (30.44 days), the
  expected active time within the curve's window (a restricted mean).

Why one hazard model rather than one classifier per horizon: consistency
comes for free (no monotone repair of crossing curves), censored snapshots
still teach the short horizons, and a 12-period curve costs one model, not
twelve. Hazards are calibrated on the calibration slice's customer-period
rows (``survival.calibration``; by default the method, none, Platt's
sigmoid or isotonic, that fitted on the slice's earlier snapshots explains
its latest one best: :func:`choose_calibration`); the evaluation report
checks AUC, Brier score and calibration error per horizon out of time.

The hazard model is also a candidate for the main probability
(:class:`AtHorizon`, ``model.candidates``): its churn within the
definition's horizon competes with the classifier on the calibration slice,
and when it ranks better, ``churn_probability``, the health score, the
levels and ``p_churn_<h>d`` all come from the same hazards. With
``model.training: censored`` it is the model: a horizon longer than any
snapshot observed is composed from the per-period hazards.

For ``no_purchase`` the event is the next purchase, not the churn: the
curve is the probability of no purchase yet, ``p_churn_<h>d`` is the curve
itself at ``h`` and ``expected_active_months`` the expected months until the
next purchase within the curve's window.

The same machinery scores lapsed customers (event ``return``: their next
activity, or a new contract) for ``return_probability``
(:meth:`SurvivalModel.p_event`). Lapsed customers rarely come back in
some businesses; with fewer than :data:`MIN_EVENTS` returns in the
training or calibration periods there is nothing for trees to learn, and
the model is the pooled life table instead (every customer the same
per-period rate, :meth:`SurvivalModel.pooled`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from churnml.config import LightGBMSettings, SurvivalSettings
from churnml.constants import MONTH_DAYS
from churnml.models.lightgbm import as_matrix, booster_importance, fit_early_stopped, make_lightgbm, prediction_threads
from churnml.models.treeshap import FastTreeShap

__all__ = [
    "PERIOD", "AtHorizon", "SurvivalModel", "case_control", "choose_curve", "churned_within", "curve_log_likelihood", "person_periods",
    "snapshot_log_likelihoods",
]

logger = logging.getLogger(__name__)

PERIOD = "period"  # the feature that says which period after as_of a row is about
HAZARD_CHUNK = 50_000  # customers whose period rows are predicted at once (600,000 rows x 60 features: 290 MB)
MIN_EVENTS = 20  # fewer events in the training or calibration periods: the pooled life table, not trees


def person_periods(X: pd.DataFrame, event_period: pd.Series, periods_observed: pd.Series, periods: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per snapshot and period the customer was observed at risk, and the event flag of that period.

    Parameters
    ----------
    X : DataFrame
        Feature rows, one per snapshot.
    event_period : Series
        First period with the event (1-based), NaN when none was observed.
    periods_observed : Series
        Periods whose outcome the data can tell.
    periods : int
        Longest period modelled.

    Returns
    -------
    (DataFrame, numpy.ndarray)
        ``X`` repeated with a ``period`` column, and 0/1 per row.

    Examples
    --------
    >>> X = pd.DataFrame({"f": [1.0, 2.0]})
    >>> rows, y = person_periods(X, pd.Series([2.0, np.nan]), pd.Series([5, 3]), periods=12)
    >>> rows.assign(y=y).values.tolist()
    [[1.0, 1.0, 0.0], [1.0, 2.0, 1.0], [2.0, 1.0, 0.0], [2.0, 2.0, 0.0], [2.0, 3.0, 0.0]]
    """
    rows, period, y = _person_period_index(event_period, periods_observed, periods)
    return _expand(X, rows, period), y


def _person_period_index(event_period: pd.Series, periods_observed: pd.Series, periods: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`person_periods` as positions: the snapshot row of each customer-period, its period (1-based) and its event flag."""
    event = event_period.to_numpy(dtype="float64")
    observed = np.minimum(periods_observed.to_numpy(dtype="int64"), periods)
    counts = np.where(np.isnan(event), observed, np.minimum(np.nan_to_num(event, nan=0).astype("int64"), observed))
    counts = np.maximum(counts, 0)
    rows = np.repeat(np.arange(len(event)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    period = np.arange(len(rows)) - starts + 1
    return rows, period, (period == event[rows]).astype("int64")


def _expand(X: pd.DataFrame, rows: np.ndarray, period: np.ndarray) -> pd.DataFrame:
    """``X``'s rows at positions ``rows``, with the ``period`` column."""
    out = X.iloc[rows].reset_index(drop=True)
    out[PERIOD] = period.astype("float64")
    return out


def case_control(y: np.ndarray, negatives_per_event: float | None, min_negatives: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every event row and at most ``negatives_per_event`` random non-event rows per event (at least ``min_negatives``), weighted.

    A non-event row kept with probability ``q`` weighs ``1 / q``, so the
    weighted log-loss, and the hazards it fits, are unbiased for the full
    rows (case-control sampling with inverse-probability weights). Measured
    on a 10,000-customer world's 612,000 customer-period rows (2.3% events),
    6 non-events per event: 9.5 s instead of 70 s to fit, test AUC at 90 days
    0.902 against 0.901 with every row; on a 4,000-customer world (243,000
    rows) 6 per event lost 0.007 AUC where 100,000 non-events kept it, hence
    the floor.

    Returns
    -------
    (positions kept, weights)

    Examples
    --------
    >>> y = np.r_[np.ones(100), np.zeros(9900)]
    >>> keep, weight = case_control(y, 6.0, 100, seed=0)
    >>> bool(len(keep) < 1000), bool(abs(weight.sum() / len(y) - 1) < 0.05)
    (True, True)
    """
    events = int(y.sum())
    wanted = max(negatives_per_event * events, min_negatives) if negatives_per_event is not None else np.inf
    share = min(1.0, wanted / max(len(y) - events, 1))
    if share >= 1.0:
        return np.arange(len(y)), np.ones(len(y))
    keep = np.flatnonzero((y == 1) | (np.random.default_rng(seed).random(len(y)) < share))
    return keep, np.where(y[keep] == 1, 1.0, 1.0 / share)


def churned_within(event_period: np.ndarray, periods_observed: np.ndarray, k: int, event: str) -> np.ndarray:
    """Churn within ``k`` periods from the event periods: 1/0, NaN where the data cannot tell yet.

    Examples
    --------
    >>> churned_within(np.array([2.0, np.nan, np.nan]), np.array([5, 5, 1]), 3, "churn").tolist()
    [1.0, 0.0, nan]
    >>> churned_within(np.array([2.0, np.nan, np.nan]), np.array([5, 5, 1]), 3, "purchase").tolist()
    [0.0, 1.0, nan]
    """
    happened = (event_period <= k).astype("float64")
    churned = 1.0 - happened if event == "purchase" else happened
    return np.where(periods_observed >= k, churned, np.nan)


def curve_log_likelihood(no_event: np.ndarray, event_period: np.ndarray, periods_observed: np.ndarray) -> float:
    """Mean log-likelihood per snapshot of what the data observed, under a curve of "no event yet" probabilities.

    A snapshot whose event fell in period ``j`` scores ``log(S(j-1) - S(j))``;
    one without an event in its ``m`` observed periods, ``log S(m)``
    (right-censoring). It judges any model of the time to the event, on the
    periods the data can tell, whatever the horizon.

    Parameters
    ----------
    no_event : ndarray, shape (rows, periods)
        ``S(k)``, non-increasing in ``k``.
    event_period, periods_observed : ndarray
        As in :func:`churnml.labels.churn_periods` (only rows with ``periods_observed >= 1`` count).

    Examples
    --------
    >>> S = np.array([[0.5, 0.25], [0.5, 0.25]])
    >>> round(curve_log_likelihood(S, np.array([2.0, np.nan]), np.array([2, 1])), 4)  # (log 0.25 + log 0.5) / 2
    -1.0397
    """
    return float(np.nanmean(snapshot_log_likelihoods(no_event, event_period, periods_observed)))


def choose_curve(
    curves: dict[str, np.ndarray], event_period: np.ndarray, periods_observed: np.ndarray, customers: np.ndarray, flexible: str = "survival"
) -> tuple[str, pd.Series]:
    """The candidate whose curve explains the observed periods best, the ``flexible`` one only when it is clearly better.

    A model of repeat buying with four parameters extrapolates past the
    periods a calibration slice observed by its structure; the hazard
    model's trees only repeat what the last observed periods taught them.
    So ``flexible`` is chosen only when its :func:`curve_log_likelihood`
    beats the best other candidate's by more than :data:`CLEARLY_BETTER`
    standard errors of the paired difference, clustered by customer (a
    customer's snapshots are not independent). Measured on a Pareto/NBD
    cohort with 9 months of history and a 270-day horizon: the hazard
    model's log-likelihood per snapshot was higher by 0.0015 (standard error
    0.0011), yet it composed the horizon at ECE 0.09 against Pareto/NBD's
    0.01 (``python -m benchmarks.benches``).

    Returns
    -------
    (name, mean log-likelihood per snapshot by candidate)
    """
    terms = {name: snapshot_log_likelihoods(curve, event_period, periods_observed) for name, curve in curves.items()}
    fit = pd.Series({name: float(np.nanmean(t)) for name, t in terms.items()}, name="calibration_log_likelihood")
    chosen = fit.idxmax()
    others = fit.drop(flexible, errors="ignore")
    if chosen == flexible and len(others):
        rival = others.idxmax()
        difference = terms[flexible] - terms[rival]
        seen = ~np.isnan(difference)
        by_customer = pd.Series(difference[seen]).groupby(customers[seen]).sum()
        standard_error = by_customer.std(ddof=1) * np.sqrt(len(by_customer)) / seen.sum()
        lead = fit[flexible] - fit[rival]
        if lead <= CLEARLY_BETTER * standard_error:
            chosen = rival
        logger.info("%s - %s log-likelihood per snapshot: %.4f (standard error %.4f)", flexible, rival, lead, standard_error)
    logger.info("calibration-slice log-likelihood per snapshot by candidate: %s; chosen: %s", fit.round(4).to_dict(), chosen)
    return chosen, fit


CLEARLY_BETTER = 2.0  # standard errors: about a 2.5% one-sided chance of preferring the flexible model by noise alone
CALIBRATIONS = ("none", "sigmoid", "isotonic")  # simplest first: a tie keeps the simpler


class PlattHazards(LogisticRegression):
    """Platt's sigmoid on the hazards' log-odds; ``predict`` gives calibrated hazards like isotonic regression's."""

    def fit(self, raw: np.ndarray, y: np.ndarray) -> PlattHazards:
        return super().fit(_log_odds(raw), y)

    def predict(self, raw: np.ndarray) -> np.ndarray:
        return self.predict_proba(_log_odds(raw))[:, 1]


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p)).reshape(-1, 1)


def fit_calibrator(method: str, raw: np.ndarray, y: np.ndarray) -> IsotonicRegression | PlattHazards | None:
    """The hazards' calibrator of ``method`` (:data:`CALIBRATIONS`) fitted on raw hazards and their outcomes; None for ``none``."""
    if method == "none" or len(np.unique(y)) < 2:
        return None
    if method == "sigmoid":
        return PlattHazards(C=1e6).fit(raw, y)
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)


def choose_calibration(raw: np.ndarray, y: np.ndarray, dates: np.ndarray) -> str:
    """The calibration that, fitted on the calibration slice's earlier snapshots, explains its latest snapshot best.

    The discrete-time likelihood is the product over customer-periods, so
    the log-loss of the latest snapshot's period rows is its censored curve
    log-likelihood (:func:`curve_log_likelihood`): each method of
    :data:`CALIBRATIONS` is judged out of time, on whole curves; a tie keeps
    the simpler. Isotonic when the slice has a single date. Measured at the
    cuts of the benches (``python -m benchmarks.calibration``; ECE): isotonic
    0.023 and no calibration 0.012 on a subscription world at 180 days; over
    five worlds and horizons the choice averaged 0.0121, sigmoid always
    0.0116, none 0.0124, isotonic always 0.0151.
    """
    later = dates == dates.max()
    if later.all() or len(np.unique(y[~later])) < 2:
        return "isotonic"
    losses = {}
    for method in CALIBRATIONS:
        calibrator = fit_calibrator(method, raw[~later], y[~later])
        p = np.clip(raw[later] if calibrator is None else calibrator.predict(raw[later]), 1e-9, 1 - 1e-9)
        losses[method] = float(-np.mean(y[later] * np.log(p) + (1 - y[later]) * np.log(1 - p)))
    chosen = min(losses, key=losses.get)
    logger.info("hazard calibration judged on the latest calibration snapshot (log-loss per period row): %s; chosen: %s",
                {k: round(v, 5) for k, v in losses.items()}, chosen)
    return chosen


def snapshot_log_likelihoods(no_event: np.ndarray, event_period: np.ndarray, periods_observed: np.ndarray) -> np.ndarray:
    """Each snapshot's term of :func:`curve_log_likelihood`; NaN for a snapshot that observed no period."""
    observed = np.minimum(periods_observed, no_event.shape[1]).astype("int64")
    keep = observed >= 1
    curve = np.column_stack([np.ones(len(no_event)), no_event])
    rows = np.arange(len(curve))
    happened = keep & ~np.isnan(event_period) & (np.nan_to_num(event_period, nan=0.0) <= observed)
    j = np.where(happened, np.nan_to_num(event_period, nan=0.0), 0).astype("int64")
    p = np.where(happened, curve[rows, np.maximum(j - 1, 0)] - curve[rows, j], curve[rows, np.maximum(observed, 0)])
    return np.where(keep, np.log(np.clip(p, 1e-12, None)), np.nan)


@dataclass
class SurvivalModel:
    """Calibrated discrete-time hazards; see the module docstring.

    ``event`` is what the hazards are of: ``churn``, ``purchase`` for the
    ``no_purchase`` definition (churn within h days is then no event), or
    ``return`` for lapsed customers. ``estimator`` is None for the pooled
    life table, whose per-period hazards are ``rates``; ``calibrator`` is
    None when ``calibration`` is ``none``.
    """

    estimator: lgb.LGBMClassifier | None
    calibrator: IsotonicRegression | PlattHazards | None
    period_days: int
    periods: int
    horizons_days: list[int]
    event: str = "churn"
    rates: np.ndarray | None = None
    calibration: str = "isotonic"  # the calibrator's method (CALIBRATIONS), or "life table"

    @classmethod
    def fit(
        cls,
        X_train: pd.DataFrame,
        train: pd.DataFrame,
        X_cal: pd.DataFrame,
        cal: pd.DataFrame,
        settings: SurvivalSettings,
        lightgbm: LightGBMSettings,
        seed: int,
        event: str = "churn",
    ) -> SurvivalModel:
        """Fit the hazard model on training snapshots; early stopping and calibration (:func:`choose_calibration`) on the calibration slice.

        ``train`` and ``cal`` carry ``event_period`` and ``periods_observed``
        (:func:`churnml.labels.churn_periods`); ``event`` says what the periods count to.
        """
        expected = float(np.minimum(train.periods_observed, settings.periods).mean()) if len(train) else 0.0
        if expected * len(train) > settings.max_rows:  # a random share of snapshots, each with its whole path
            keep = train.sample(frac=settings.max_rows / (expected * len(train)), random_state=seed).index
            logger.info("survival model: %d of %d training snapshots (survival.max_rows)", len(keep), len(train))
            X_train, train = X_train.loc[keep], train.loc[keep]
        positions, period, y = _person_period_index(train.event_period, train.periods_observed, settings.periods)
        cal_rows, cal_y = person_periods(X_cal, cal.event_period, cal.periods_observed, settings.periods)
        if event == "return" and min(y.sum(), cal_y.sum()) < MIN_EVENTS:
            return cls.pooled(pd.concat([train, cal]), settings, event)
        if y.sum() == 0 or cal_y.sum() == 0:
            raise ValueError(f"the survival model saw no {event} in the training or calibration periods")
        keep, weight = case_control(y, settings.negatives_per_event, settings.min_negatives, seed)
        rows, y = _expand(X_train, positions[keep], period[keep]), y[keep]
        # hazards are probabilities in their own right: no class weights, so the calibrator has little to repair
        model = make_lightgbm(lightgbm.model_copy(update={"class_weight": None, "learning_rate": settings.learning_rate}), seed)
        fit_early_stopped(
            model, rows, y, cal_rows, cal_y, metric="binary_logloss", rounds=lightgbm.early_stopping_rounds, sample_weight=weight
        )
        raw = model.predict_proba(cal_rows)[:, 1]
        dates, _ = person_periods(cal[["as_of"]], cal.event_period, cal.periods_observed, settings.periods)
        method = settings.calibration if settings.calibration != "auto" else choose_calibration(raw, cal_y, dates.as_of.to_numpy())
        calibrator = fit_calibrator(method, raw, cal_y)
        logger.info(
            "%s model: %d customer-period rows (%d events, weighted to %d rows), %d trees; %s calibration on %d rows",
            event, len(rows), int(y.sum()), round(weight.sum()), model.best_iteration_ or model.n_estimators, method, len(cal_rows),
        )
        return cls(model, calibrator, settings.period_days, settings.periods, list(settings.horizons_days), event, calibration=method)

    @classmethod
    def pooled(cls, frame: pd.DataFrame, settings: SurvivalSettings, event: str) -> SurvivalModel:
        """The life table: per period, the events among the snapshots observed at risk in it, for every customer alike.

        A period nobody was observed in repeats the last observed rate (none observed: 0).
        """
        at_risk, events = np.zeros(settings.periods), np.zeros(settings.periods)
        rows, y = person_periods(pd.DataFrame(index=frame.index), frame.event_period, frame.periods_observed, settings.periods)
        period = rows[PERIOD].to_numpy(dtype="int64") - 1
        np.add.at(at_risk, period, 1.0)
        np.add.at(events, period, y)
        rates = pd.Series(np.where(at_risk > 0, events / np.maximum(at_risk, 1.0), np.nan)).ffill().fillna(0.0).to_numpy()
        logger.info("%s model: %d events in %d snapshots, too few for trees; the pooled life table", event, int(events.sum()), len(frame))
        return cls(None, None, settings.period_days, settings.periods, list(settings.horizons_days), event, rates, "life table")

    @property
    def columns(self) -> list[str]:
        """The columns :meth:`predict` returns, in order."""
        return [f"p_churn_{h}d" for h in self.horizons_days] + ["survival_curve", "expected_active_months"]

    @contextmanager
    def remembering(self) -> Iterator[None]:
        """Within the block, :meth:`hazards` of the same frame object is computed once.

        A fit and a scoring call ask for the hazards of one feature frame
        several times (the probability, the curve, the values); they do not
        change the frame in between. Outside the block nothing is kept.
        """
        if hasattr(self, "_remembered"):  # an enclosing block remembers already
            yield
            return
        self._remembered: dict[int, tuple[pd.DataFrame, np.ndarray]] = {}
        try:
            yield
        finally:
            del self._remembered

    def hazards(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated hazard per row and period, shape (rows, periods)."""
        remembered = getattr(self, "_remembered", None)
        if remembered is not None and id(X) in remembered:
            return remembered[id(X)][1]
        hazards = self._hazards(X)
        if remembered is not None:
            remembered[id(X)] = (X, hazards)  # the frame is kept too, so that its id is not reused
        return hazards

    def _hazards(self, X: pd.DataFrame) -> np.ndarray:
        if not len(X):
            return np.empty((0, self.periods))
        if self.estimator is None:
            return np.tile(self.rates, (len(X), 1))
        booster = self.estimator.booster_
        column = booster.feature_name().index(PERIOD)
        periods = np.arange(1, self.periods + 1, dtype="float64")
        raw = np.empty(len(X) * self.periods)
        # in numpy, a bounded number of customers at a time: their rows repeated once per period, only the period differing
        for start in range(0, len(X), HAZARD_CHUNK):
            matrix = as_matrix(booster, X.iloc[start : start + HAZARD_CHUNK].assign(**{PERIOD: 0.0}))
            rows = np.repeat(matrix, self.periods, axis=0)
            rows[:, column] = np.tile(periods, len(matrix))
            raw[start * self.periods : start * self.periods + len(rows)] = booster.predict(rows, num_threads=prediction_threads(len(rows)))
        hazards = raw if self.calibrator is None else self.calibrator.predict(raw)
        return hazards.reshape(len(X), self.periods)

    def survival(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of no event yet after each period, shape (rows, periods); non-increasing."""
        return np.cumprod(1.0 - self.hazards(X), axis=1)

    def p_churn(self, X: pd.DataFrame, days: float) -> np.ndarray:
        """Probability of churn within ``days`` (any length up to the curve's end), from the per-period hazards.

        Inside a period the hazard is spread evenly in time:
        ``S(k + f) = S(k) (1 - h_{k+1}) ** f``.
        """
        return self._p_churn(self.hazards(X), days)

    def p_event(self, X: pd.DataFrame, days: float) -> np.ndarray:
        """Probability of the event (churn, purchase, return) within ``days``: ``1 - S(days)``, composed like :meth:`p_churn`."""
        return 1.0 - self._none_yet(self.hazards(X), days)

    def _p_churn(self, hazards: np.ndarray, days: float) -> np.ndarray:
        none_yet = self._none_yet(hazards, days)
        return none_yet if self.event == "purchase" else 1.0 - none_yet

    def _none_yet(self, hazards: np.ndarray, days: float) -> np.ndarray:
        periods = days / self.period_days
        if not 0 < periods <= self.periods:
            raise ValueError(f"{days} days is outside the survival curve (1 to {self.period_days * self.periods} days)")
        whole = int(np.floor(periods))
        none_yet = np.prod(1.0 - hazards[:, :whole], axis=1)
        if periods > whole:
            none_yet = none_yet * (1.0 - hazards[:, whole]) ** (periods - whole)
        return none_yet

    def predict(self, X: pd.DataFrame, hazards: np.ndarray | None = None) -> pd.DataFrame:
        """``p_churn_<h>d`` per horizon, ``survival_curve`` (list per row) and ``expected_active_months`` (from ``hazards`` when given)."""
        hazards = self.hazards(X) if hazards is None else hazards
        curve = np.cumprod(1.0 - hazards, axis=1)
        out = pd.DataFrame(index=X.index)
        for h in self.horizons_days:
            out[f"p_churn_{h}d"] = self._p_churn(hazards, h)
        out["survival_curve"] = [row.tolist() for row in curve.round(12)]
        out["expected_active_months"] = curve.sum(axis=1) * self.period_days / MONTH_DAYS
        return out


@dataclass
class AtHorizon:
    """The survival model's probability of churn within ``days``, as a classifier the pipeline can choose.

    Its hazards are calibrated already, so it needs no second calibration:
    chosen, its ``churn_probability`` equals ``p_churn_<days>d`` exactly.
    """

    survival: SurvivalModel
    days: int
    classes_ = np.array([0, 1])

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.survival.p_churn(X, self.days)
        return np.column_stack([1.0 - p, p])

    def at(self, days: int) -> AtHorizon:
        """The same hazards, for churn within ``days`` instead."""
        return AtHorizon(self.survival, days)

    @property
    def booster_(self) -> lgb.Booster:
        """The hazard model's booster (its importances include the period)."""
        return self.survival.estimator.booster_

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each indicator's TreeSHAP contribution to the churn log-odds of the hazard in the horizon's last period.

        For a purchase event the signs turn: what raises the chance of a
        purchase lowers the risk of churn.
        """
        if getattr(self, "_shap", None) is None:
            self._shap = FastTreeShap(self.booster_)
        rows = X.copy()
        rows[PERIOD] = float(np.ceil(self.days / self.survival.period_days))
        phi = self._shap.contributions(rows)[:, :-1] * (-1.0 if self.survival.event == "purchase" else 1.0)
        out = pd.DataFrame(phi, index=X.index, columns=self._shap.feature_names)
        return out.drop(columns=PERIOD)

    def feature_importance(self) -> pd.DataFrame:
        """The hazard model's total gain and split count per indicator (the period left out)."""
        return booster_importance(self.booster_).drop(index=PERIOD, errors="ignore")

    @staticmethod
    def fits(survival: SurvivalModel, days: int) -> bool:
        """Whether ``days`` lies on the survival curve."""
        return 0 < days <= survival.period_days * survival.periods
