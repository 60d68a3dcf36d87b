"""The field's simple baselines, scored on the same out-of-time rows as the model, and allowed to replace it.

* ``recency``: days since the customer's last activity, as a ranking (the
  practitioner's first rule: the longer silent, the likelier gone);
* ``rfm_logistic``: a logistic regression on log recency, frequency (orders
  to date), age (days since the first order) and monthly spend, fitted on
  the training slice;
* ``bgnbd``: the BG/NBD model's probability of no order within the churn
  definition's horizon (:mod:`churnml.models.btyd`), its four parameters
  fitted on the latest training snapshot's order histories (it reads no
  label);
* ``pareto_nbd``: the same with the Pareto/NBD model, whose customers can
  drop out at any time rather than only just after a purchase.

A model that ranks the user's own rows worse than one of these is not worth
its complexity there: :func:`churnml.evaluation.report` says so, and
:func:`choose` lets a probability baseline (or the hazard model) replace
LightGBM when it ranks the calibration slice better (chosen before the test
slice is looked at).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from churnml.models.btyd import fit_bgnbd, fit_pareto_nbd

__all__ = [
    "ORDER_HISTORY", "RANKINGS", "RECENCY", "RFM_FEATURES",
    "BTYD", "BgNbdClassifier", "ParetoNbdClassifier", "RfmLogistic", "baseline_estimators", "btyd_baselines", "choose",
    "ranking_scores",
]

logger = logging.getLogger(__name__)

RECENCY = "days_since_last_activity"
RANKINGS = ("recency",)  # baselines that rank customers without giving a probability
RFM_FEATURES = (RECENCY, "orders_to_date", "days_since_first_order", "monthly_spend")
ORDER_HISTORY = ("orders_to_date", "days_since_first_order", "days_since_last_order")


def _rfm_matrix(X: pd.DataFrame) -> np.ndarray:
    # log1p: spend and counts are heavy-tailed; a missing value is "none yet"
    return np.log1p(X[list(RFM_FEATURES)].astype("float64").fillna(0.0).clip(lower=0.0).to_numpy())


def _order_history(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's ``(x, t_x, T)`` from the lifetime RFM indicators.

    An unknown lifetime (a customer older than the order log) reads as if its
    last order were its first; no order yet, as a purchase today.
    """
    orders, age, since_last = (X[c].astype("float64").to_numpy() for c in ORDER_HISTORY)
    known = ~np.isnan(age)
    T = np.where(known, age, np.nan_to_num(since_last, nan=0.0)).clip(min=0.0)
    x = np.where(known, np.nan_to_num(orders - 1.0, nan=0.0), 0.0).clip(min=0.0)
    t_x = np.where(known, np.clip(T - np.nan_to_num(since_last, nan=0.0), 0.0, T), 0.0)
    return x, t_x, T


class _ProbabilityBaseline(ClassifierMixin, BaseEstimator):
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class RfmLogistic(_ProbabilityBaseline):
    """Logistic regression on log recency, frequency, age and monthly spend (:data:`RFM_FEATURES`)."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> RfmLogistic:
        self.pipeline_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(_rfm_matrix(X), y)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict_proba(_rfm_matrix(X))


class BgNbdClassifier(_ProbabilityBaseline):
    """BG/NBD's probability of no order within ``horizon_days``, as a classifier of churn.

    Parameters
    ----------
    horizon_days : int
        The churn definition's horizon.

    ``fit`` reads only the order histories (:data:`ORDER_HISTORY`) of the
    rows given, one per customer; ``y`` is ignored.
    """

    _fit_params = staticmethod(fit_bgnbd)

    def __init__(self, horizon_days: int = 90):
        self.horizon_days = horizon_days

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> BgNbdClassifier:
        buyers = X[ORDER_HISTORY[0]].fillna(0).to_numpy() > 0
        self.params_ = self._fit_params(*(v[buyers] for v in _order_history(X)))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "params_")
        p = self.params_.p_no_purchase(*_order_history(X), self.horizon_days)
        return np.column_stack([1.0 - p, p])

    def p_event(self, X: pd.DataFrame, days: float) -> np.ndarray:
        """Probability of an order within ``days``: a lapsed customer's return, as :meth:`SurvivalModel.p_event <churnml.models.survival.SurvivalModel.p_event>` gives it."""
        check_is_fitted(self, "params_")
        return 1.0 - self.params_.p_no_purchase(*_order_history(X), days)

    def at(self, days: int) -> BgNbdClassifier:
        """The same fitted model, for no order within ``days`` instead."""
        other = type(self)(days)
        other.params_, other.classes_ = self.params_, self.classes_
        return other

    def survival(self, X: pd.DataFrame, period_days: int, periods: int) -> np.ndarray:
        """P(no order within k periods) for k = 1..``periods``, shape (rows, periods): the curve a hazard model is compared with."""
        check_is_fitted(self, "params_")
        history = _order_history(X)
        return np.column_stack([self.params_.p_no_purchase(*history, k * period_days) for k in range(1, periods + 1)])


class ParetoNbdClassifier(BgNbdClassifier):
    """Pareto/NBD's probability of no order within ``horizon_days``, as a classifier of churn; as :class:`BgNbdClassifier`."""

    _fit_params = staticmethod(fit_pareto_nbd)


BTYD = {"bgnbd": BgNbdClassifier, "pareto_nbd": ParetoNbdClassifier}  # the models of repeat buying, by candidate name


def baseline_estimators(X_train: pd.DataFrame, y_train: pd.Series, latest: np.ndarray, horizon_days: int) -> dict:
    """The probability baselines whose indicators ``X_train`` has, fitted (``latest`` marks the latest snapshot's rows)."""
    out = {}
    if set(RFM_FEATURES) <= set(X_train.columns) and y_train.nunique() == 2:
        out["rfm_logistic"] = RfmLogistic().fit(X_train, y_train)
    return out | btyd_baselines(X_train, latest, horizon_days)


def btyd_baselines(X: pd.DataFrame, latest: np.ndarray, horizon_days: int, names=tuple(BTYD)) -> dict:
    """The :data:`BTYD` models among ``names`` fitted on the ``latest`` rows' order histories, those that could be fitted.

    None can be without the order histories in ``X`` or a purchase among the
    ``latest`` rows; a fit that fails is logged and left out, not fatal.
    """
    if not set(ORDER_HISTORY) <= set(X.columns) or not (X.loc[latest, ORDER_HISTORY[0]] > 0).any():
        return {}
    out = {}
    for name in names:
        try:
            out[name] = BTYD[name](horizon_days).fit(X[latest])
        except ValueError as error:
            logger.warning("no %s baseline: %s", name, error)
    return out


def ranking_scores(X: pd.DataFrame) -> pd.DataFrame:
    """The ranking baselines (:data:`RANKINGS`) that can score ``X``: higher means likelier to churn."""
    out = pd.DataFrame(index=X.index)
    if RECENCY in X:
        out["recency"] = X[RECENCY].astype("float64").fillna(np.inf)  # never active: the most silent of all
    return out


def choose(scores: dict[str, np.ndarray], y: np.ndarray, main: str) -> tuple[str, pd.Series]:
    """The candidate whose scores rank ``y`` best by AUC; ``main`` on a tie.

    No margin in ``main``'s favour: LightGBM was early-stopped on this very
    slice, so its AUC there already flatters it (on BG/NBD worlds of 6,000
    customers, seeds 1-3, BG/NBD's lead over it was 0.005-0.014 smaller there
    than on the test slice), and a baseline that still ranks better is better.

    Returns
    -------
    (name, AUC per candidate)
    """
    auc = pd.Series({name: roc_auc_score(y, p) for name, p in scores.items()}, name="calibration_auc_roc")
    best = auc.drop(main).idxmax() if len(auc) > 1 else main
    chosen = best if auc[best] > auc[main] else main
    logger.info("calibration-slice AUC by candidate: %s; chosen: %s", auc.round(4).to_dict(), chosen)
    return chosen, auc
