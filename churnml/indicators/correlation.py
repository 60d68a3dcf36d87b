"""Correlations the documents ask for (seed 003): two indicators falling together."""

from __future__ import annotations

import ibis

from churnml.indicators.context import WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "frequency_and_satisfaction_falling", "service", ["orders", "surveys"], "service",
    "NaN when either order_freq_ratio or csat_change is NaN.",
    params=["recent_months", "history_months", "decline_share"],
)
def _freq_and_csat(ctx: WindowContext):
    """1 when order frequency fell by more than decline_share while satisfaction fell, else 0."""
    freq = ctx.ratio_to_history("o_n", "orders")
    csat = ctx.recent_mean("s_csat_sum", "s_csat_n") - ctx.history_mean("s_csat_sum", "s_csat_n")
    both = freq.notnull() & csat.notnull()
    return both.ifelse(((freq < 1 - ctx.s.decline_share) & (csat < 0)).cast("float64"), ibis.null("float64"))


@indicator(
    "usage_and_orders_falling", "activity", ["orders", "activity"], "needs_change",
    "NaN when either login_ratio or amount_ratio is NaN.",
    params=["recent_months", "history_months", "decline_share"],
)
def _usage_and_orders(ctx: WindowContext):
    """1 when logins and order amount both fell by more than decline_share vs history, else 0."""
    logins = ctx.ratio_to_history("a_login", "activity")
    amount = ctx.ratio_to_history("o_amount", "orders")
    both = logins.notnull() & amount.notnull()
    keep = 1 - ctx.s.decline_share
    return both.ifelse(((logins < keep) & (amount < keep)).cast("float64"), ibis.null("float64"))
