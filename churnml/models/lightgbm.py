"""LightGBM with churnml's settings: deterministic, early-stopped on a later slice."""

from __future__ import annotations

import logging
import os

import lightgbm as lgb
import pandas as pd

from churnml.config import LightGBMSettings

__all__ = ["booster_importance", "fit_early_stopped", "make_lightgbm"]

logger = logging.getLogger(__name__)


def make_lightgbm(settings: LightGBMSettings, seed: int) -> lgb.LGBMClassifier:
    """A LightGBM classifier with churnml's settings; deterministic for a given seed."""
    params = settings.model_dump(exclude={"early_stopping_rounds"})
    return lgb.LGBMClassifier(
        **params, subsample_freq=1, random_state=seed, deterministic=True, force_row_wise=True, n_jobs=os.cpu_count() or 1, verbose=-1
    )


def fit_early_stopped(
    model: lgb.LGBMClassifier, X: pd.DataFrame, y, X_eval: pd.DataFrame, y_eval, *, metric: str, rounds: int
) -> lgb.LGBMClassifier:
    """Fit ``model``, stopping when ``metric`` on the evaluation rows has not improved for ``rounds`` trees."""
    model.fit(
        X, y, eval_X=(X_eval,), eval_y=(y_eval,), eval_metric=metric,
        callbacks=[lgb.early_stopping(rounds, first_metric_only=True, verbose=False)],
    )
    return model


def booster_importance(booster: lgb.Booster) -> pd.DataFrame:
    """A LightGBM booster's total gain and split count per feature, largest gain first."""
    table = pd.DataFrame({"gain": booster.feature_importance("gain"), "splits": booster.feature_importance("split")}, index=booster.feature_name())
    return table.sort_values("gain", ascending=False)
