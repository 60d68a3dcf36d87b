"""Health score and warning levels.

The health score is ``100 x (1 - p)`` for a calibrated churn probability
``p``: 100 is healthiest, and a score of 70 means "30% likely to churn within
the horizon", whichever model produced it. The map is linear, so it is
monotone and keeps calibration readable on the score itself.

Warning levels (the documents' three levels, plus 0 for no warning):

* ``fixed`` (default): health below 50 is level 1 (high churn risk, emergency
  handling), below 70 level 2 (warning, targeted intervention), below the
  watch band's upper edge (80) level 3 (keep watching).
* ``precision``: cut-offs chosen on the calibration slice so that each level,
  taken as deep as possible, still reaches its target precision.
* ``capacity``: cut-offs chosen on the calibration slice so that each level
  holds about as many customers per snapshot as the team can handle.
* ``profit``: per customer, the level whose action maximises the expected
  retention profit ``p x success_rate x value - cost``, where ``value`` is the
  customer's value if kept (:mod:`churnml.scoring.value`) times the margin; no warning when no action pays (the expected maximum
  profit idea of Verbraken et al., with per-customer values).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.config import LevelSettings
from churnml.constants import LEVELS

__all__ = ["WarningPolicy", "choose_policy", "customer_value", "health_score", "level_precision"]

logger = logging.getLogger(__name__)


def health_score(probability: np.ndarray | pd.Series) -> np.ndarray:
    """Health score 0-100 (100 healthiest) from calibrated churn probabilities.

    Examples
    --------
    >>> health_score([0.0, 0.3, 1.0]).tolist()
    [100.0, 70.0, 0.0]
    """
    p = np.asarray(probability, dtype="float64")
    return 100.0 * (1.0 - np.clip(p, 0.0, 1.0))


def customer_value(kept: np.ndarray | pd.Series, settings: LevelSettings) -> np.ndarray:
    """What keeping each customer is worth to the ``profit`` strategy: its value if kept (``clv + value_at_risk``) x margin, 0 when unknown."""
    return np.nan_to_num(np.asarray(kept, dtype="float64"), nan=0.0).clip(min=0.0) * settings.margin


@dataclass(frozen=True)
class WarningPolicy:
    """Turns health scores (and, for ``profit``, values) into levels 0-3.

    Attributes
    ----------
    strategy : str
    cutoffs : tuple of float
        Health below ``cutoffs[k]`` is at least level ``k + 1`` (non-decreasing);
        unused by ``profit``.
    actions : tuple of (cost, success_rate)
        Per level, for ``profit``.
    """

    strategy: str
    cutoffs: tuple[float, float, float]
    actions: tuple[tuple[float, float], ...] = ()

    def assign(self, health: np.ndarray, value: np.ndarray | None = None) -> np.ndarray:
        """Warning level per customer: 1, 2, 3, or 0 for no warning."""
        health = np.asarray(health, dtype="float64")
        if self.strategy == "profit":
            if value is None:
                raise ValueError("the profit strategy needs each customer's value (value if kept x margin)")
            p = 1.0 - health / 100.0
            profit = np.column_stack([p * rate * np.asarray(value) - cost for cost, rate in self.actions])
            best = profit.argmax(axis=1)
            return np.where(profit.max(axis=1) > 0, best + 1, 0).astype("int64")
        c1, c2, c3 = self.cutoffs
        return np.select([health < c1, health < c2, health < c3], [1, 2, 3], 0).astype("int64")


def choose_policy(settings: LevelSettings, health: np.ndarray, churned: np.ndarray, snapshots: int = 1) -> WarningPolicy:
    """Fit the warning policy of ``settings.strategy`` on the calibration slice.

    Parameters
    ----------
    settings : LevelSettings
    health, churned : array-like
        Health scores and outcomes on the calibration slice.
    snapshots : int
        Number of as_of dates in the slice (capacity is per snapshot).
    """
    fixed = (settings.level1_below, settings.level2_below, settings.level3_below)
    if settings.strategy == "fixed":
        return WarningPolicy("fixed", fixed)
    if settings.strategy == "profit":
        return WarningPolicy("profit", fixed, tuple((a.cost, a.success_rate) for a in settings.actions))
    health = np.asarray(health, dtype="float64")
    churned = np.asarray(churned, dtype="float64")
    order = np.argsort(health, kind="stable")
    h, y = health[order], churned[order]
    if settings.strategy == "capacity":
        ends = np.cumsum(np.asarray(settings.capacity) * snapshots)
        cutoffs = [float(h[e]) if e < len(h) else 101.0 for e in ends]
    else:
        cutoffs, start = [], 0
        for target in settings.target_precision:
            cutoffs.append(_deepest_cut(h, y, start, target))
            start = int(np.searchsorted(h, cutoffs[-1], side="left"))
    cutoffs = tuple(np.maximum.accumulate(cutoffs))
    logger.info("warning cut-offs (%s strategy) on the calibration slice: %s", settings.strategy, [round(c, 2) for c in cutoffs])
    return WarningPolicy(settings.strategy, cutoffs)


def _deepest_cut(h: np.ndarray, y: np.ndarray, start: int, target: float) -> float:
    """Largest cut-off c such that rows ``start..`` with health < c have precision >= target."""
    if start >= len(h):
        return float(h[-1]) if len(h) else 0.0
    hits = np.cumsum(y[start:])
    precision = hits / np.arange(1, len(h) - start + 1)
    # only cut between distinct scores: a tie cannot be split
    last_of_tie = np.r_[h[start + 1 :] != h[start:-1], True]
    ok = np.flatnonzero((precision >= target) & last_of_tie)
    if len(ok) == 0:
        return float(h[start])  # empty level
    k = start + ok[-1]
    return float(h[k + 1]) if k + 1 < len(h) else float(np.nextafter(h[k], np.inf))


def level_precision(levels: np.ndarray, churned: np.ndarray) -> pd.DataFrame:
    """Count, precision (warning accuracy) and recall per warning level.

    Returns
    -------
    pandas.DataFrame
        Indexed by level 1-3: ``customers``, ``churners``, ``precision``,
        ``recall`` (share of all churners caught at this level).
    """
    levels, churned = np.asarray(levels), np.asarray(churned, dtype="float64")
    total = churned.sum()
    rows = []
    for level in LEVELS:
        hit = levels == level
        n, k = int(hit.sum()), float(churned[hit].sum())
        rows.append({"level": level, "customers": n, "churners": int(k), "precision": k / n if n else np.nan, "recall": k / total if total else np.nan})
    return pd.DataFrame(rows).set_index("level")
