"""Activity indicators: logins, active days, usage breadth, consultations, silence (domain.md #1-4)."""

from __future__ import annotations

import ibis

from churnml.constants import DAY_SECONDS
from churnml.indicators.context import HISTORY_RATIO_MISSING, WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "logins_per_month_3m", "activity", ["activity"], "needs_change",
    "NaN before the customer's first month.", params=["recent_months"], higher_is_riskier=False,
)
def _logins_level(ctx: WindowContext):
    """Logins per month in the recent window."""
    return ctx.recent_rate("a_login", "activity")


@indicator(
    "login_ratio", "activity", ["activity"], "needs_change",
    HISTORY_RATIO_MISSING, params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _login_ratio(ctx: WindowContext):
    """Login frequency, recent window vs the customer's own history (5 a week -> 1 a week reads 0.2)."""
    return ctx.ratio_to_history("a_login", "activity")


@indicator(
    "active_days_ratio", "activity", ["activity"], "needs_change",
    HISTORY_RATIO_MISSING, params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _active_days_ratio(ctx: WindowContext):
    """Distinct active days per month, recent vs history."""
    return ctx.ratio_to_history("a_days", "activity")


@indicator(
    "usage_breadth_ratio", "activity", ["activity"], "needs_change",
    HISTORY_RATIO_MISSING + " Breadth is the distinct features used per month, averaged over the window.",
    params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _breadth_ratio(ctx: WindowContext):
    """Usage breadth (distinct features per month), recent vs history."""
    return ctx.ratio_to_history("a_features", "activity")


@indicator(
    "consultations_ratio", "activity", ["tickets"], "needs_change",
    HISTORY_RATIO_MISSING, params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _consultations_ratio(ctx: WindowContext):
    """Consultation and technical-question tickets, recent vs history (fewer questions: product used less)."""
    return ctx.ratio_to_history("t_consult", "tickets")


@indicator(
    "days_since_last_activity", "activity", [], "needs_change",
    "NaN when the customer has no order, login, ticket, inbound interaction or survey before as_of. "
    "Uses every present table among orders, activity, tickets, interactions, surveys.",
    any_of=["orders", "activity", "tickets", "interactions", "surveys"],
)
def _days_since_activity(ctx: WindowContext):
    """Days since the customer's last order, login, ticket, inbound contact or survey answer."""
    present = [m for m, t in (("o_last", "orders"), ("a_last", "activity"), ("t_last", "tickets"), ("x_last", "interactions"), ("s_last", "surveys")) if t in ctx.table_start]
    last = ibis.greatest(*[ctx.last(m) for m in present]) if len(present) > 1 else ctx.last(present[0])
    return (ctx.as_of - last) / DAY_SECONDS


@indicator("days_since_last_order", "activity", ["orders"], "needs_change", "NaN when the customer has no order before as_of.")
def _days_since_order(ctx: WindowContext):
    """Days since the customer's last order (the R of RFM)."""
    return ctx.days_since("o_last")
