"""Calibration: every estimator's scores become probabilities on a later slice, the same way.

Isotonic regression or Platt's sigmoid on the calibration slice
(:class:`churnml.config.ModelSettings`), through scikit-learn's
``CalibratedClassifierCV(FrozenEstimator(model))``: the estimator is not
refitted, so a health score of 70 means a 30% churn probability whichever
estimator produced it. :class:`FittedEstimator` keeps the estimator and its
calibrated version together, with the estimator's risk contributions per
indicator (the input of cause attribution).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from churnml.config import ModelSettings
from churnml.models.lightgbm import booster_importance
from churnml.models.scorecard import RuleScorecard
from churnml.models.treeshap import FastTreeShap

__all__ = ["FittedEstimator", "calibrate", "calibration_method", "check_positives"]

logger = logging.getLogger(__name__)


def calibration_method(settings: ModelSettings, y: np.ndarray) -> str:
    """``model.calibration``, or with ``auto`` isotonic on a large enough slice and Platt's sigmoid otherwise (isotonic overfits small samples)."""
    if settings.calibration != "auto":
        return settings.calibration
    big = len(y) >= settings.isotonic_min_rows and y.sum() >= settings.isotonic_min_positives
    return "isotonic" if big else "sigmoid"


def check_positives(y: pd.Series, part: str, settings: ModelSettings) -> None:
    """Raise, saying what to change, when a slice has too few churners (or only churners) to learn from."""
    positives, n = int(y.sum()), len(y)
    if positives < settings.min_positives or positives == n:
        raise ValueError(
            f"the {part} slice has {positives} churner(s) among {n} snapshot rows; at least "
            f"{settings.min_positives} churners and some non-churners are needed (model.min_positives). "
            "Use more or earlier as_of dates, more customers, or a longer churn horizon."
        )


@dataclass
class FittedEstimator:
    """An estimator, its calibrated version and the calibration method.

    ``explainer``, when set, is another fitted estimator whose risk
    contributions and importances stand for this one's (a baseline that
    reads too few indicators to say why a customer is at risk).
    """

    name: str
    estimator: object
    calibrated: CalibratedClassifierCV | None
    method: str | None
    explainer: FittedEstimator | None = None

    @property
    def explained_by(self) -> FittedEstimator:
        """The estimator whose contributions and importances stand for this one's: the explainer, or itself."""
        return self.explainer if self.explainer is not None else self

    def raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(X)[:, 1]

    def proba(self, X: pd.DataFrame) -> np.ndarray:
        model = self.calibrated if self.calibrated is not None else self.estimator
        return model.predict_proba(X)[:, 1]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Risk contribution of each indicator: TreeSHAP log-odds (LightGBM, the hazard model) or deducted points (scorecard)."""
        if self.explainer is not None:
            return self.explainer.contributions(X)
        if hasattr(self.estimator, "contributions"):  # the hazard model knows its period and its event's sign
            return self.estimator.contributions(X)
        if isinstance(self.estimator, RuleScorecard):
            points = self.estimator.deductions(X)
            by_indicator = {r.name: r.indicator for r in self.estimator.rules_}
            return points.T.groupby(by_indicator).sum().T.reindex(index=X.index) if len(points.columns) else pd.DataFrame(index=X.index)
        if getattr(self, "_shap", None) is None:
            self._shap = FastTreeShap(self.estimator.booster_)
        phi = self._shap.contributions(X)
        return pd.DataFrame(phi[:, :-1], index=X.index, columns=self._shap.feature_names)

    def feature_importance(self) -> pd.DataFrame:
        """Per indicator: LightGBM's total gain and split count, or the scorecard's rule points."""
        if self.explainer is not None:
            return self.explainer.feature_importance()
        estimator = self.estimator
        if hasattr(estimator, "feature_importance"):  # the hazard model, whose period is not an indicator
            return estimator.feature_importance()
        if isinstance(estimator, RuleScorecard):
            points = pd.Series({r.indicator: 0.0 for r in estimator.rules_})
            for r in estimator.rules_:
                points[r.indicator] += r.points
            return points.rename("rule_points").to_frame().sort_values("rule_points", ascending=False)
        return booster_importance(estimator.booster_)


def calibrate(name: str, estimator: object, X_cal: pd.DataFrame, y_cal: pd.Series, settings: ModelSettings) -> FittedEstimator:
    """Calibrate a fitted estimator on the calibration slice (the method by :func:`calibration_method`)."""
    method = calibration_method(settings, y_cal.to_numpy())
    calibrated = CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(X_cal, y_cal)
    logger.info("%s calibrated with %s regression on %d rows", name, method, len(y_cal))
    return FittedEstimator(name, estimator, calibrated, method)
