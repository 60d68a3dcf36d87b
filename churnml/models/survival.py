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
twelve. Hazards are calibrated with isotonic regression on the calibration
slice's customer-period rows; the evaluation report checks AUC, Brier score
and calibration error per horizon out of time.

The hazard model is also a candidate for the main probability
(:class:`AtHorizon`, ``model.candidates``): its churn within the
definition's horizon competes with the classifier on the calibration slice,
and when it ranks better, ``churn_probability``, the health score, the
levels and ``p_churn_<h>d`` all come from the same hazards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from churnml.config import LightGBMSettings, SurvivalSettings
from churnml.constants import MONTH_DAYS
from churnml.models.lightgbm import fit_early_stopped, make_lightgbm

__all__ = ["PERIOD", "AtHorizon", "SurvivalModel", "person_periods"]

logger = logging.getLogger(__name__)

PERIOD = "period"  # the feature that says which period after as_of a row is about


def person_periods(X: pd.DataFrame, churn_period: pd.Series, periods_observed: pd.Series, periods: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per snapshot and period the customer was observed at risk, and the churn flag of that period.

    Parameters
    ----------
    X : DataFrame
        Feature rows, one per snapshot.
    churn_period : Series
        First period with churn (1-based), NaN when none was observed.
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
    event = churn_period.to_numpy(dtype="float64")
    observed = np.minimum(periods_observed.to_numpy(dtype="int64"), periods)
    counts = np.where(np.isnan(event), observed, np.minimum(np.nan_to_num(event, nan=0).astype("int64"), observed))
    counts = np.maximum(counts, 0)
    rows = np.repeat(np.arange(len(X)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    period = np.arange(len(rows)) - starts + 1
    out = X.iloc[rows].reset_index(drop=True)
    out[PERIOD] = period.astype("float64")
    y = (period == event[rows]).astype("int64")
    return out, y


@dataclass
class SurvivalModel:
    """Calibrated discrete-time hazards; see the module docstring."""

    estimator: lgb.LGBMClassifier
    calibrator: IsotonicRegression
    period_days: int
    periods: int
    horizons_days: list[int]

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
    ) -> SurvivalModel:
        """Fit the hazard model on training snapshots; early stopping and isotonic calibration on the calibration slice.

        ``train`` and ``cal`` carry ``churn_period`` and ``periods_observed``
        (:func:`churnml.labels.churn_periods`).
        """
        expected = float(np.minimum(train.periods_observed, settings.periods).mean()) if len(train) else 0.0
        if expected * len(train) > settings.max_rows:  # a random share of snapshots, each with its whole path
            keep = train.sample(frac=settings.max_rows / (expected * len(train)), random_state=seed).index
            logger.info("survival model: %d of %d training snapshots (survival.max_rows)", len(keep), len(train))
            X_train, train = X_train.loc[keep], train.loc[keep]
        rows, y = person_periods(X_train, train.churn_period, train.periods_observed, settings.periods)
        cal_rows, cal_y = person_periods(X_cal, cal.churn_period, cal.periods_observed, settings.periods)
        if y.sum() == 0 or cal_y.sum() == 0:
            raise ValueError("the survival model saw no churn in the training or calibration periods")
        # hazards are probabilities in their own right: no class weights, so isotonic has little to repair
        model = make_lightgbm(lightgbm.model_copy(update={"class_weight": None, "learning_rate": settings.learning_rate}), seed)
        fit_early_stopped(model, rows, y, cal_rows, cal_y, metric="binary_logloss", rounds=lightgbm.early_stopping_rounds)
        raw = model.predict_proba(cal_rows)[:, 1]
        calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, cal_y)
        logger.info(
            "survival model: %d customer-period rows (%d churns), %d trees; calibrated on %d rows",
            len(rows), int(y.sum()), model.best_iteration_ or model.n_estimators, len(cal_rows),
        )
        return cls(model, calibrator, settings.period_days, settings.periods, list(settings.horizons_days))

    @property
    def columns(self) -> list[str]:
        """The columns :meth:`predict` returns, in order."""
        return [f"p_churn_{h}d" for h in self.horizons_days] + ["survival_curve", "expected_active_months"]

    def hazards(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated hazard per row and period, shape (rows, periods)."""
        if not len(X):
            return np.empty((0, self.periods))
        rows = X.iloc[np.repeat(np.arange(len(X)), self.periods)].reset_index(drop=True)
        rows[PERIOD] = np.tile(np.arange(1, self.periods + 1, dtype="float64"), len(X))
        raw = self.estimator.predict_proba(rows)[:, 1]
        return self.calibrator.predict(raw).reshape(len(X), self.periods)

    def survival(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of still being active after each period, shape (rows, periods); non-increasing."""
        return np.cumprod(1.0 - self.hazards(X), axis=1)

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """``p_churn_<h>d`` per horizon, ``survival_curve`` (list per row) and ``expected_active_months``."""
        curve = self.survival(X)
        out = pd.DataFrame(index=X.index)
        for h in self.horizons_days:
            out[f"p_churn_{h}d"] = 1.0 - curve[:, h // self.period_days - 1]
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
        p = 1.0 - self.survival.survival(X)[:, self.days // self.survival.period_days - 1]
        return np.column_stack([1.0 - p, p])

    @staticmethod
    def fits(survival: SurvivalModel, days: int) -> bool:
        """Whether ``days`` is a whole number of periods on the survival curve."""
        return days % survival.period_days == 0 and days <= survival.period_days * survival.periods
