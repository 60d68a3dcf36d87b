"""Churn causes: which of price, service or needs change drives a warning, in plain words.

For LightGBM, every customer's risk is split over the indicators with exact
TreeSHAP (in log-odds of the uncalibrated model; calibration is monotone, so
it does not change which indicators raise the risk). For the rule
scorecard, an indicator's contribution is the points its fired rules
deducted. From there both models share one path:

* only **risk-increasing** contributions count; each indicator adds its
  contribution to its cause (``causes.indicator_causes``; profile fields map
  to ``none`` and never count);
* ``cause_shares`` are those sums divided by their total: non-negative,
  summing to 1. A customer with no risk-increasing contribution (nothing
  makes it riskier than the average customer) gets all shares 0 and no
  primary cause;
* ``primary_cause`` is the cause with the largest share; ``top_indicators``
  are the indicators with the largest risk-increasing contributions, those
  of the primary cause first;
* each driving indicator becomes a **reason** from its template in the
  message catalog (:mod:`churnml.messages`, English or Chinese), with the
  customer's value 3 months earlier and the average of comparable customers
  (same industry, else same segment, else everyone);
* the **action** is the playbook entry of the primary cause (plus the
  high-value action for high-value customers), in the same language unless
  the config gives its own text, and the **owner** is the
  cause's department, unless the top driver names another (arrears go to
  finance).

TreeSHAP is the expensive step: :class:`churnml.models.treeshap.FastTreeShap`
computes it exactly, several times faster than ``shap.TreeExplainer``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import pandas as pd

from churnml.config import CauseSettings
from churnml.constants import CAUSES
from churnml.indicators.registry import REGISTRY
from churnml.messages import text

__all__ = ["PeerAverages", "ValueTiers", "cause_shares", "explain", "quadrant", "reason_text", "top_drivers"]

logger = logging.getLogger(__name__)


def cause_shares(contributions: pd.DataFrame, indicator_causes: dict[str, str]) -> pd.DataFrame:
    """Share of each cause in the risk-increasing contributions of each row.

    Parameters
    ----------
    contributions : DataFrame
        One column per indicator (SHAP values or scorecard points).
    indicator_causes : dict
        Indicator -> cause (``none`` never counts).

    Returns
    -------
    pandas.DataFrame
        Columns ``price``, ``service``, ``needs_change``: non-negative,
        summing to 1, or all 0 when nothing raises the risk.

    Examples
    --------
    >>> c = pd.DataFrame({"complaints_3m": [0.6, -1.0], "price_tickets_3m": [0.2, -0.5], "tenure_months": [0.9, 0.0]})
    >>> cause_shares(c, {"complaints_3m": "service", "price_tickets_3m": "price", "tenure_months": "none"}).round(2).to_dict("records")
    [{'price': 0.25, 'service': 0.75, 'needs_change': 0.0}, {'price': 0.0, 'service': 0.0, 'needs_change': 0.0}]
    """
    # numpy, not a pandas frame per cause: one scoring request is a single row, and pandas' overhead was most of its time
    risk = np.clip(contributions.to_numpy(dtype="float64"), 0.0, None)
    columns = np.asarray([indicator_causes.get(c) for c in contributions.columns], dtype=object)
    sums = np.column_stack([np.nansum(risk[:, columns == cause], axis=1) for cause in CAUSES])
    total = sums.sum(axis=1, keepdims=True)
    shares = np.divide(sums, total, out=np.zeros_like(sums), where=total > 0)
    return pd.DataFrame(shares, index=contributions.index, columns=list(CAUSES))


def top_drivers(contributions: pd.DataFrame, indicator_causes: dict[str, str], k: int) -> list[list[str]]:
    """Per row, up to ``k`` cause-mapped indicators with the largest risk-increasing contributions."""
    mapped = [c for c in contributions.columns if indicator_causes.get(c, "none") != "none"]
    values = contributions[mapped].to_numpy(dtype="float64")
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    names = np.asarray(mapped, dtype=object)
    return [[names[j] for j in row if values[i, j] > 0] for i, row in enumerate(order)]


@dataclass
class PeerAverages:
    """Average indicator values of comparable customers: by industry, by segment, and overall."""

    by: dict[str, pd.DataFrame]
    sizes: dict[str, pd.Series]
    overall: pd.Series
    min_peers: int

    @classmethod
    def fit(cls, frame: pd.DataFrame, min_peers: int) -> PeerAverages:
        numeric = [c for c in frame.columns if c in REGISTRY and REGISTRY[c].kind == "numeric"]
        by, sizes = {}, {}
        for key in ("industry", "segment"):
            if key in frame.columns:
                by[key] = frame.groupby(key, observed=True)[numeric].mean()
                sizes[key] = frame.groupby(key, observed=True).size()
        return cls(by, sizes, frame[numeric].mean(), min_peers)

    def lookup(self, row: Mapping, indicator: str, language: str = "en") -> tuple[str, float]:
        """(who the peers are, in words, and their average) for one customer and indicator."""
        return self.lookups()(row, indicator, language)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_plain", None)  # rebuilt from the frames after loading
        return state

    @cached_property
    def _plain(self) -> tuple[dict, dict]:
        """The averages as plain dictionaries: key -> group with enough peers -> indicator -> average, and overall."""
        groups = {
            key: {group: averages for group, averages in self.by[key].to_dict("index").items() if self.sizes[key].get(group, 0) >= self.min_peers}
            for key in ("industry", "segment") if key in self.by
        }
        return groups, {k: float(v) for k, v in self.overall.items()}

    def lookups(self):
        """:meth:`lookup` over plain dictionaries, for many rows (a pandas look-up per reason was a third of a list's time)."""
        groups, overall = self._plain

        def lookup(row: Mapping, indicator: str, language: str = "en") -> tuple[str, float]:
            for key, averages in groups.items():
                group = row.get(key)
                if isinstance(group, str) and group in averages:
                    return text(f"reason_context.{key}", language, group=group), float(averages[group].get(indicator, np.nan))
            return text("reason_context.everyone", language), overall.get(indicator, np.nan)

        return lookup


@dataclass
class ValueTiers:
    """Value thresholds (value if kept, :mod:`churnml.scoring.value`) for the high and medium value tiers."""

    high: float
    medium: float

    @classmethod
    def fit(cls, value: pd.Series, shares: tuple[float, float]) -> ValueTiers:
        spend = value.dropna()
        if spend.empty:
            return cls(np.inf, np.inf)
        return cls(float(spend.quantile(1 - shares[0])), float(spend.quantile(1 - shares[1])))

    def tier(self, value: pd.Series) -> pd.Series:
        spend = value.fillna(0.0)
        return pd.Series(np.select([spend >= self.high, spend >= self.medium], ["high", "medium"], "low"), index=value.index)


def quadrant(tier: pd.Series, health: pd.Series, loyal_health: float) -> pd.Series:
    """Value x loyalty: core, potential (valuable, at risk), basic, phase_out."""
    valuable = tier.isin(["high", "medium"]).to_numpy()
    loyal = (health >= loyal_health).to_numpy()
    labels = np.select([valuable & loyal, valuable, loyal], ["core", "potential", "basic"], "phase_out")
    return pd.Series(labels, index=tier.index).where(health.notna().to_numpy())


def _format(value: float, template: str, name: str, language: str) -> str:
    """Format a value the way the indicator's own template formats it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return text("reason_context.unknown", language)
    try:
        return format(value, _spec(template, name))
    except (ValueError, TypeError):
        return f"{value:.3g}"


@cache
def _spec(template: str, name: str) -> str:
    """The format specification ``template`` gives ``name`` (unsigned; ``.3g`` when none)."""
    match = re.search(r"\{" + re.escape(name) + r"(:[^}]*)?\}", template)
    return (match.group(1)[1:] if match and match.group(1) else ".3g").replace("+", "")


def reason_text(row: Mapping, indicator: str, earlier: float, peers: tuple[str, float], language: str = "en") -> str:
    """One plain-language reason: the indicator's template, its value 3 months earlier, and comparable customers.

    Examples
    --------
    >>> row = pd.Series({"complaints_3m": 4.0, "industry": "retail"})
    >>> reason_text(row, "complaints_3m", 1.0, ("retail customers", 0.52))
    '4 complaints in the last 3 months (3 months earlier: 1; retail customers: 1 on average)'
    >>> reason_text(row, "complaints_3m", 1.0, ("同行业（retail）客户", 0.52), "zh")
    '近3个月投诉 4 次（3个月前：1；同行业（retail）客户平均：1）'
    """
    template = REGISTRY[indicator].reason(language)
    values = {k: (np.nan if v is None else v) for k, v in row.items()}
    try:
        said = template.format(**values)
    except (KeyError, ValueError, TypeError):
        said = f"{indicator}: {_format(row.get(indicator), template, indicator, language)}"
    context = []
    if earlier is not None and not np.isnan(earlier):
        context.append(text("reason_context.earlier", language, value=_format(earlier, template, indicator, language)))
    who, average = peers
    if not np.isnan(average):
        context.append(text("reason_context.peers", language, who=who, value=_format(average, template, indicator, language)))
    if not context:
        return said
    return text("reason_context.with_context", language, reason=said, context=text("reason_context.separator", language).join(context))


def explain(
    rows: pd.DataFrame,
    contributions: pd.DataFrame,
    *,
    settings: CauseSettings,
    health: pd.Series,
    warned: pd.Series,
    peers: PeerAverages,
    tiers: ValueTiers,
    value: pd.Series,
    earlier: pd.DataFrame | None = None,
    language: str = "en",
) -> pd.DataFrame:
    """Cause, shares, drivers, reasons, action, owner, value tier and quadrant per row.

    Parameters
    ----------
    rows : DataFrame
        Indicator rows (index aligned with ``contributions``).
    contributions : DataFrame
        Risk contributions per indicator for the rows to explain; rows of
        ``rows`` missing here are not explained (cause columns empty).
    health, warned, value : Series
        Health score, whether the row has a warning level, and its value if kept (aligned with ``rows``).
    earlier : DataFrame, optional
        The same customers' indicators 3 months earlier, indexed by customer_id.
    language : {"en", "zh"}
        Language of the reasons and actions.
    """
    causes = settings.indicator_causes
    tier = tiers.tier(value)
    # columns built as lists and put in a frame once: a scoring request is a single row, for which pandas' per-cell
    # assignments were most of the time
    explained = ("primary_cause", "cause_shares", "top_indicators", "reasons", "action", "owner")
    columns = {col: np.full(len(rows), None, dtype=object) for col in explained}
    high = (tier == "high").to_numpy()
    if not contributions.empty:
        at = rows.index.get_indexer(contributions.index)
        shares = cause_shares(contributions, causes)
        primary = shares.idxmax(axis=1).where(shares.sum(axis=1) > 0).to_numpy(dtype=object)
        top = top_drivers(contributions, causes, settings.top_indicators)
        # the primary cause's own drivers first: the first reason explains the cause
        drivers = [sorted(names, key=lambda n, cause=cause: causes[n] != cause) for names, cause in zip(top, primary, strict=True)]
        columns["primary_cause"][at] = primary
        columns["cause_shares"][at] = shares.round(12).to_dict("records")
        columns["top_indicators"][at] = _objects(drivers)
        columns["reasons"][at] = _objects(_reasons(rows.loc[contributions.index], drivers, peers, earlier, language))
        high_value = settings.high_value_action or text("playbook.high_value", language)
        is_warned = warned.to_numpy(dtype=bool)
        for i, cause, names in zip(at, primary, drivers, strict=True):
            if not (is_warned[i] and isinstance(cause, str)):
                continue
            entry = settings.playbook[cause]
            columns["owner"][i] = settings.owner_by_indicator.get(names[0], entry.owner) if names else entry.owner
            action = entry.action or text(f"playbook.{cause}", language)
            columns["action"][i] = action + (text("playbook.separator", language) + high_value if high[i] else "")
    out = pd.DataFrame({col: pd.Series(columns[col], index=rows.index, dtype=object) for col in explained}, index=rows.index)
    out.insert(0, "value_tier", tier)
    out.insert(1, "quadrant", quadrant(tier, health, settings.loyal_health))
    return out


def _objects(values: list) -> np.ndarray:
    """A list of lists as a one-dimensional object array (numpy would make it two-dimensional)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _reasons(rows: pd.DataFrame, drivers: list[list[str]], peers: PeerAverages, earlier: pd.DataFrame | None, language: str) -> list[list[str]]:
    """Each row's reasons, one per driver, over plain dicts (a pandas row per customer was most of a million-row list's time)."""
    records = rows.to_dict("records")
    if earlier is not None and "customer_id" in rows:
        earlier = earlier[~earlier.index.duplicated()]
        priors = earlier.reindex(rows.customer_id.to_numpy()).to_dict("records")
    else:
        priors = [{}] * len(records)
    lookup = peers.lookups()
    return [
        [reason_text(row, n, prior.get(n, np.nan), lookup(row, n, language), language) for n in names]
        for row, prior, names in zip(records, priors, drivers, strict=True)
    ]
