"""The win-back list: every lapsed customer once, with why it left, what it was worth and what to do.

Seed 001's practice for customers already lost, from the model that warns the
others: a lapsed customer (lost by the model's churn definition at as_of) is
explained *retrospectively*, at its **loss snapshot** (the month start right
after its last activity, the last date at which it was still a customer to
warn) with the same SHAP causes and plain-word reasons a warning gets; its
chance of coming back within the horizon is :meth:`ChurnModel.predict_return`
at as_of. Its value if kept at the loss snapshot (:mod:`churnml.scoring.value`)
sets its tier and, times that chance, the expected recovered value; the
strategy follows its cause and value.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from churnml.config import Contractual
from churnml.constants import MONTH_DAYS
from churnml.data.calendar import next_month_start, scoring_dates
from churnml.data.tables import Tables, load_tables
from churnml.indicators.build import build_indicators
from churnml.labels import activity_events, scoring_status
from churnml.messages import text
from churnml.scoring.control import assign_control

__all__ = ["TIER_ORDER", "winback"]

logger = logging.getLogger(__name__)

TIER_ORDER = {"high": 0, "medium": 1, "low": 2}  # high-value lost customers first (seed 001)


def _lost_on(tables: Tables, as_of: pd.Timestamp, contractual: bool) -> pd.DataFrame:
    """customer_id and ``lost_on``: the last activity before as_of (for a contract business, the last term's end)."""
    events = activity_events(tables)
    if contractual and "contracts" in tables:
        c = tables["contracts"]
        ended = c.end_date.fill_null(c.cancelled_at)
        events = events.union(c.filter(ended.notnull()).select("customer_id", ts=ended))
    events = events.filter(events.ts < as_of)
    return events.group_by("customer_id").aggregate(lost_on=events.ts.max()).to_pandas()


def _history(tables: Tables, as_of: pd.Timestamp) -> pd.DataFrame:
    """customer_id, historical_spend and orders before as_of (net of refunds; empty without an orders table)."""
    if "orders" not in tables:
        return pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    o = tables["orders"]
    o = o.filter(o.order_date < as_of)
    orders = o.order_id.nunique() if "order_id" in o.columns else o.count()
    return o.group_by("customer_id").aggregate(historical_spend=o.amount.sum(), orders=orders).to_pandas()


def _strategy(cause: object, tier: str, language: str) -> str:
    """Seed 001's win-back strategy for a cause, with the high-value one added for a high-value customer."""
    words = text(f"winback.{cause if isinstance(cause, str) else 'unknown'}", language)
    return words + (text("playbook.separator", language) + text("playbook.high_value", language) if tier == "high" else "")


def winback(
    tables: Tables | dict | str,
    model,
    as_of: str | pd.Timestamp | None = None,
    *,
    lookback_months: int | None = None,
    language: str | None = None,
) -> pd.DataFrame:
    """The win-back list: every customer lapsed at as_of once, highest priority first.

    Parameters
    ----------
    tables : Tables, dict of DataFrames or directory
        The raw tables (loaded with the model's config).
    model : ChurnModel
        Fitted; its churn definition says who is lapsed.
    as_of : date, optional
        As in :func:`churnml.scoring.warning_list.warning_list`.
    lookback_months : int, optional
        Only customers lost (last activity) in the last N months before as_of
        (default ``winback.lookback_months`` in the config; none: every
        lapsed customer). A look-back longer than the data keeps them all.
    language : {"en", "zh"}, optional
        Language of reasons and strategies (default: the model's config).

    Returns
    -------
    pandas.DataFrame
        One row per lapsed customer: customer_id, as_of, ``lost_on`` (last
        activity before as_of; missing when it lapsed before the data
        begin), ``months_lapsed``, ``tenure_months`` (signup to loss),
        ``historical_spend`` and ``orders`` before as_of (net of refunds,
        so it can be negative), ``monthly_spend`` at the loss snapshot,
        ``value_tier`` (the model's tiers on its value then); the
        retrospective explanation at the loss snapshot ``loss_snapshot``:
        ``churn_probability_at_loss``, ``warning_level_at_loss`` (what the
        current model would have warned), ``primary_cause``,
        ``cause_shares``, ``top_indicators``, ``reasons``; then
        ``return_probability`` at as_of, ``value_if_returned`` (its value
        if kept at the loss snapshot: the spend of the CLV horizon,
        discounted), ``expected_recovered_value``
        (their product), ``strategy``, ``owner`` (the cause's department) and
        ``priority`` (1 first: value tier, then expected recovered value,
        then value if returned), ``control`` (drawn into the random control
        group, ``kpis.control_share``: its strategy says to leave it
        untouched). :func:`churnml.kpis.interventions_from_winback` turns
        the list into ``interventions`` rows for :func:`churnml.kpis.winback_kpis`.
    """
    config = model.config_
    language = language or config.language
    tables = load_tables(tables, config)
    as_of, _ = scoring_dates(tables, as_of, config.indicators.recent_months)
    lookback = lookback_months if lookback_months is not None else config.winback.lookback_months

    status = scoring_status(tables, as_of, config)
    out = status.loc[status.status == "lapsed", ["customer_id"]].reset_index(drop=True)
    out.insert(1, "as_of", as_of)
    out = out.merge(_lost_on(tables, as_of, isinstance(config.labels.churn, Contractual)), on="customer_id", how="left", validate="one_to_one")
    if lookback is not None:
        start = as_of - pd.DateOffset(months=lookback)
        if start < tables.data_start():
            logger.warning("look-back of %d months reaches before the data (%s): every lapsed customer is listed", lookback, tables.data_start().date())
        out = out[out.lost_on.isna() | (out.lost_on >= start)].reset_index(drop=True)
    out["months_lapsed"] = ((as_of - out.lost_on).dt.days / MONTH_DAYS).round(1)
    signup = tables["customers"].select("customer_id", "signup_date").to_pandas()
    out = out.merge(signup, on="customer_id", how="left", validate="one_to_one")
    out["tenure_months"] = ((out.lost_on - out.signup_date).dt.days / MONTH_DAYS).clip(lower=0).round(1)
    out = out.drop(columns="signup_date").merge(_history(tables, as_of), on="customer_id", how="left", validate="one_to_one")
    out = out.reindex(columns=[*out.columns, *[c for c in ("historical_spend", "orders") if c not in out]])
    if "orders" in tables:  # no order before as_of is a spend of 0; without an orders table it is unknown
        out["historical_spend"] = out.historical_spend.fillna(0.0)
    out["orders"] = out.orders.fillna(0).astype("int64")

    # the loss snapshot: the first month start after the last activity (features there read it, and nothing later)
    out["loss_snapshot"] = out.lost_on.map(lambda d: next_month_start(d) if pd.notna(d) else pd.NaT)
    out = out.merge(_at_loss(tables, model, out, language), on="customer_id", how="left", validate="one_to_one")

    now = build_indicators(tables.only_customers(out.customer_id) if len(out) else tables, as_of, config)
    now = now[now.customer_id.isin(out.customer_id)]
    back = model.predict_return(now)[["customer_id", "return_probability"]]
    out = out.merge(back, on="customer_id", how="left", validate="one_to_one")
    # what it was worth if kept when it left (its spend over the CLV horizon, discounted): what a return brings back
    out["value_if_returned"] = (out.pop("clv_at_loss") + out.pop("value_at_risk_at_loss")).fillna(0.0)
    out["expected_recovered_value"] = out.return_probability * out.value_if_returned
    out["strategy"] = [_strategy(c, t, language) for c, t in zip(out.primary_cause, out.value_tier, strict=True)]
    owners = {cause: entry.owner for cause, entry in config.causes.playbook.items()}
    out["owner"] = out.primary_cause.map(owners)

    out = out.assign(_tier=out.value_tier.map(TIER_ORDER)).sort_values(
        ["_tier", "expected_recovered_value", "value_if_returned", "customer_id"], ascending=[True, False, False, True],
        na_position="last", kind="stable",
    )
    out = out.drop(columns="_tier").reset_index(drop=True)
    out["priority"] = np.arange(1, len(out) + 1)
    # the random control group (kpis.control_share): lost customers left untouched, so win-back KPIs measure the effect
    out["control"] = assign_control(out.assign(warning_level=1), config.kpis.control_share, config.kpis.control_seed)
    out["strategy"] = out.strategy.astype(object).mask(out.control, text("playbook.control", language))
    logger.info("win-back list as of %s: %d lapsed customers, by cause %s", as_of.date(), len(out), out.primary_cause.value_counts(dropna=False).to_dict())
    out.attrs["language"] = language
    return out


def _at_loss(tables: Tables, model, lost: pd.DataFrame, language: str) -> pd.DataFrame:
    """Per lapsed customer, the model's explanation at its loss snapshot (and the spend it had then)."""
    config = model.config_
    when = lost.dropna(subset=["loss_snapshot"])
    columns = [
        "customer_id", "monthly_spend", "clv_at_loss", "value_at_risk_at_loss", "value_tier", "churn_probability_at_loss", "warning_level_at_loss",
        "primary_cause", "cause_shares", "top_indicators", "reasons",
    ]
    if when.empty:
        return pd.DataFrame(columns=columns)
    snapshots = sorted(when.loss_snapshot.unique())
    # the reasons compare with the customer's own row one recent window earlier, when the data reach that far back
    earlier_of = {d: d - pd.DateOffset(months=config.indicators.recent_months) for d in snapshots}
    earlier_of = {d: e for d, e in earlier_of.items() if e > tables.data_start()}
    # only the lapsed customers' indicators: at each of the many loss dates, every customer's cost minutes at a million
    panel = build_indicators(tables.only_customers(when.customer_id), sorted(set(snapshots) | set(earlier_of.values())), config)
    keys = when[["customer_id", "loss_snapshot"]]
    rows = keys.merge(panel, left_on=["customer_id", "loss_snapshot"], right_on=["customer_id", "as_of"]).drop(columns="loss_snapshot")
    earlier = keys.assign(as_of=keys.loss_snapshot.map(earlier_of)).drop(columns="loss_snapshot").merge(panel, on=["customer_id", "as_of"])
    explained = model.predict_frame(rows, explain="all", earlier=earlier, language=language, allow_missing=True)
    explained = explained.rename(
        columns={
            "churn_probability": "churn_probability_at_loss", "warning_level": "warning_level_at_loss",
            "clv": "clv_at_loss", "value_at_risk": "value_at_risk_at_loss",
        }
    )
    explained["monthly_spend"] = rows["monthly_spend"].to_numpy() if "monthly_spend" in rows else np.nan
    return explained.reindex(columns=columns)
