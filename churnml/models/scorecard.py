"""The rule scorecard: the documents' health score as a baseline model.

Start at 100 and deduct points for every rule that fires ("order amount down
more than 10% for 2 consecutive months", "payment cycle twice as long as
before", "reply rate down 30 points", ...). Rules are grouped in the five
categories of the documents (activity, consumption, interaction, risk,
relationship); a category never deducts more than its weight, and the
weights sum to 100, so the score stays within 0-100.

It needs no training data (cold start): the uncalibrated churn probability is
``1 - score / 100``, so the health score equals the rule score and the
documents' cut-offs (below 70 a warning, below 50 high risk) apply as
written. With labelled snapshots, :class:`churnml.models.ChurnModel`
calibrates it like any other model.
"""

from __future__ import annotations

import logging
import operator

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted

from churnml.config import Rule, ScorecardSettings

__all__ = ["RuleScorecard"]

logger = logging.getLogger(__name__)

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class RuleScorecard(ClassifierMixin, BaseEstimator):
    """Health score from threshold rules; an sklearn classifier over indicator frames.

    Parameters
    ----------
    rules : list of Rule or dict, optional
        Default: the documents' rules (``churnml.config.DEFAULT_RULES``).
    category_weights : dict, optional
        Most points each category can deduct; must sum to 100.

    Attributes
    ----------
    rules_ : list of Rule
        The rules whose indicator is present in the training frame.
    skipped_rules_ : list of str
        Rules whose indicator column was absent (its table was not given).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"complaints_3m": [0.0, 4.0], "competitor_mentions_3m": [0.0, 2.0]})
    >>> card = RuleScorecard().fit(X)
    >>> card.health_score(X).tolist()
    [100.0, 85.0]
    """

    def __init__(self, rules: list[Rule | dict] | None = None, category_weights: dict[str, float] | None = None):
        self.rules = rules
        self.category_weights = category_weights

    def _settings(self) -> ScorecardSettings:
        given = {}
        if self.rules is not None:
            given["rules"] = [r if isinstance(r, dict) else r.model_dump() for r in self.rules]
        if self.category_weights is not None:
            given["category_weights"] = self.category_weights
        return ScorecardSettings.model_validate(given)

    def fit(self, X: pd.DataFrame, y: object = None) -> RuleScorecard:
        """Check the rules against the frame's columns. ``y`` is ignored: the rules are not learned.

        Parameters
        ----------
        X : pandas.DataFrame
            Indicator columns (as from :func:`churnml.build_indicators`); an
            array has no indicator names, so no rule applies to it.
        y : ignored (checked to be a classification target when given)

        Returns
        -------
        self
        """
        X = _frame(X)
        if y is not None:  # the rules are not learned, but a target must be one a classifier can take
            y = np.asarray(y)
            check_classification_targets(y)
            if len(y) != len(X):
                raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        settings = self._settings()
        self.weights_ = dict(settings.category_weights)
        self.rules_ = [r for r in settings.rules if r.indicator in X.columns]
        self.skipped_rules_ = [r.name for r in settings.rules if r.indicator not in X.columns]
        if self.skipped_rules_:
            logger.info("scorecard: %d rule(s) skipped, their indicators are absent: %s", len(self.skipped_rules_), self.skipped_rules_)
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def deductions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points each rule deducts from each row (0 when it does not fire).

        Returns
        -------
        pandas.DataFrame
            One column per rule, indexed like ``X``. Missing indicator
            values never fire a rule.
        """
        check_is_fitted(self, "rules_")
        X = _frame(X)
        missing = [r.indicator for r in self.rules_ if r.indicator not in X.columns]
        if missing:
            raise KeyError(f"indicator column(s) {sorted(set(missing))} missing from the frame the scorecard scores")
        fired = {}
        for r in self.rules_:
            values = pd.to_numeric(X[r.indicator], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
            with np.errstate(invalid="ignore"):
                fired[r.name] = np.where(_OPS[r.op](values, r.threshold), r.points, 0.0)
        return pd.DataFrame(fired, index=X.index, columns=[r.name for r in self.rules_])

    def category_deductions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points deducted per category, each capped at the category's weight."""
        X = _frame(X)
        points = self.deductions(X)
        category = {r.name: r.category for r in self.rules_}
        per_category = points.T.groupby(category).sum().T if len(points.columns) else pd.DataFrame(index=X.index)
        return per_category.reindex(columns=list(self.weights_), fill_value=0.0).clip(upper=pd.Series(self.weights_), axis=1)

    def health_score(self, X: pd.DataFrame) -> pd.Series:
        """The documents' health score: 100 minus the capped category deductions."""
        return (100.0 - self.category_deductions(X).sum(axis=1)).rename("rule_score")

    def fired_rules(self, X: pd.DataFrame) -> pd.Series:
        """For each row, ``{rule name: points}`` of the rules that fired (for explanations)."""
        X = _frame(X)
        points = self.deductions(X)
        return pd.Series([{k: v for k, v in row.items() if v > 0} for row in points.to_dict("records")], index=X.index)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated churn probability ``1 - score / 100`` (column 1)."""
        p = 1.0 - self.health_score(X).to_numpy() / 100.0
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the score is below 50 (the documents' "high churn risk")."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def _frame(X) -> pd.DataFrame:
    """Indicator rows as a DataFrame; array-likes (checked by scikit-learn) get positional column names, which no rule reads."""
    if isinstance(X, pd.DataFrame):
        return X
    array = check_array(X, dtype=None, ensure_all_finite="allow-nan")
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
