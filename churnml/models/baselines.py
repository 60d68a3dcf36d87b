"""The field's simple baselines, scored on the same out-of-time rows as the model.

* ``recency``: days since the customer's last activity, as a ranking (the
  practitioner's first rule: the longer silent, the likelier gone);
* ``rfm_logistic``: a logistic regression on log recency, frequency (orders
  to date), age (days since the first order) and monthly spend, fitted on
  the training slice.

A model that ranks the user's own rows worse than one of these is not worth
its complexity there; :func:`churnml.evaluation.report` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from churnml.constants import TARGET

__all__ = ["RANKINGS", "RECENCY", "RFM_FEATURES", "Baselines"]

RECENCY = "days_since_last_activity"
RANKINGS = ("recency",)  # baselines that rank customers without giving a probability
RFM_FEATURES = (RECENCY, "orders_to_date", "days_since_first_order", "monthly_spend")


def _rfm_matrix(frame: pd.DataFrame) -> np.ndarray:
    # log1p: spend and counts are heavy-tailed; a missing value is "none yet"
    return np.log1p(frame[list(RFM_FEATURES)].astype("float64").fillna(0.0).clip(lower=0.0).to_numpy())


@dataclass
class Baselines:
    """The fitted baselines (see the module docstring); ``rfm_logistic`` is None without its indicators."""

    rfm_logistic: Pipeline | None

    @classmethod
    def fit(cls, train: pd.DataFrame) -> Baselines:
        """Fit on training rows (indicators and ``churned``)."""
        usable = set(RFM_FEATURES) <= set(train.columns) and train[TARGET].nunique() == 2
        logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(_rfm_matrix(train), train[TARGET]) if usable else None
        return cls(logistic)

    def scores(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One column per baseline that can score ``frame``: higher means likelier to churn."""
        out = pd.DataFrame(index=frame.index)
        if RECENCY in frame:
            # never active: the most silent of all
            out["recency"] = frame[RECENCY].astype("float64").fillna(np.inf)
        if self.rfm_logistic is not None and set(RFM_FEATURES) <= set(frame.columns):
            out["rfm_logistic"] = self.rfm_logistic.predict_proba(_rfm_matrix(frame))[:, 1]
        return out
