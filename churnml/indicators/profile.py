"""Profile fields: tenure, value (monthly spend, or without orders the contract terms' monthly value), contract renewal, industry, segment, region."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from churnml.constants import DAY_SECONDS, MONTH_DAYS
from churnml.indicators.context import WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "tenure_months", "profile", ["customers"], None,
    "NaN when neither a signup date nor any earlier record is known.", higher_is_riskier=False,
)
def _tenure(ctx: WindowContext):
    """Whole months from the customer's start (signup, or first record) to as_of."""
    return (ctx.m - ctx.column("start_m")).cast("float64")


@indicator(
    "months_observed", "profile", ["orders"], None,
    "NaN when neither a signup date nor any earlier record is known.", higher_is_riskier=False,
)
def _months_observed(ctx: WindowContext):
    """Whole months of the customer's history the order log holds before as_of, from the later of its start and the log's first month: what its ratios to history, streaks and trend rest on."""
    start = ctx.column("start_m")
    first = ibis.greatest(start, ibis.literal(ctx.table_start["orders"]))
    return start.isnull().ifelse(ibis.null("float64"), ibis.greatest(ctx.m - first, 0).cast("float64"))


@indicator(
    "monthly_spend", "profile", [], None,
    "NaN before the customer's first month. Without orders: NaN when no contract term active at as_of carries a "
    "monthly_value.",
    params=["recent_months", "history_months"], higher_is_riskier=False, any_of=["orders", "contracts"],
)
def _monthly_spend(ctx: WindowContext):
    """Mean monthly order amount over the recent and history windows together: the customer's value. Without orders, the summed monthly_value of its contract terms active at as_of."""
    if "orders" not in ctx.table_start:  # a subscription business: the value of the terms running at as_of
        return (ctx.state("c_value_n") > 0).ifelse(ctx.state("c_value"), ibis.null("float64"))
    lo = -(ctx.s.recent_months + ctx.s.history_months)
    months = ctx.observed("orders", lo, -1)
    return (months > 0).ifelse(ctx.win("o_amount", lo, -1) / months, ibis.null("float64"))


BEFORE_THE_LOG = "NaN when the customer started (signup) before the order log's first month: its earlier orders are not in the log."


def _started_before_the_log(ctx: WindowContext) -> ir.BooleanValue:
    # an extract that starts in 2024 cannot count a 2019 customer's orders; a count from the
    # extract's start would grow with the calendar for every old customer alike
    return ctx.column("start_m") < ctx.table_start["orders"]


@indicator("orders_to_date", "profile", ["orders"], None, f"0 without an order before as_of. {BEFORE_THE_LOG}", higher_is_riskier=False)
def _orders_to_date(ctx: WindowContext):
    """Orders placed over the customer's whole history before as_of (the F of RFM)."""
    return _started_before_the_log(ctx).ifelse(ibis.null("float64"), ctx.win("o_n", None, -1))


@indicator(
    "days_since_first_order", "profile", ["orders"], None,
    f"NaN when the customer has no order before as_of. {BEFORE_THE_LOG}", higher_is_riskier=False,
)
def _days_since_first_order(ctx: WindowContext):
    """Days since the customer's first order: how long its buying has been observed."""
    return _started_before_the_log(ctx).ifelse(ibis.null("float64"), (ctx.as_of - ctx.first("o_first")) / DAY_SECONDS)


@indicator(
    "months_to_contract_end", "profile", ["contracts"], None,
    "NaN without an active contract term with an end date at as_of.", higher_is_riskier=False,
)
def _contract_end(ctx: WindowContext):
    """Months from as_of to the end of the active contract term (renewal is a key node)."""
    n = ctx.state("c_end_n")
    return (n > 0).ifelse((ctx.state("c_end") / n - ctx.as_of) / DAY_SECONDS / MONTH_DAYS, ibis.null("float64"))


def _profile_field(name: str) -> None:
    def column(ctx: WindowContext) -> ir.Value:
        return ctx.column(name)

    column.__doc__ = f"Customer {name} (profile field)."
    indicator(name, "profile", ["customers"], None, "Null when unknown.", higher_is_riskier=None, kind="categorical")(column)


for _name in ("industry", "segment", "region"):
    _profile_field(_name)
