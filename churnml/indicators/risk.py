"""Risk indicators: complaints against their own history, competitor mentions, price requests (#14-16)."""

from __future__ import annotations

from churnml.indicators.context import HISTORY_CHANGE_MISSING, STREAK_MISSING, WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "complaints_3m", "risk", ["tickets"], "service",
    "0 without complaints (never NaN once tickets are present).", params=["recent_months"],
)
def _complaints(ctx: WindowContext):
    """Complaint tickets opened in the recent window."""
    return ctx.recent("t_complaint")


@indicator(
    "complaint_rate_change", "risk", ["tickets"], "service",
    HISTORY_CHANGE_MISSING,
    params=["recent_months", "history_months", "min_history_months"],
)
def _complaint_change(ctx: WindowContext):
    """Complaints per month, recent minus history."""
    return ctx.rate_change("t_complaint", "tickets")


@indicator(
    "months_above_history_complaints", "risk", ["tickets"], "service",
    STREAK_MISSING.format(zero=""),
    params=["streak_months", "history_months", "min_history_months"],
)
def _complaint_streak(ctx: WindowContext):
    """Consecutive months (ending last month) with more complaints than the customer's monthly average over the months before them."""
    return ctx.streak_vs_reference("t_complaint", "tickets", above=True)


@indicator(
    "competitor_mentions_3m", "risk", ["interactions"], "price",
    "0 without mentions.", params=["recent_months"],
)
def _competitor(ctx: WindowContext):
    """Interactions in the recent window in which the customer mentioned a competitor."""
    return ctx.recent("x_competitor")


@indicator(
    "price_tickets_3m", "risk", ["tickets"], "price",
    "0 without price tickets.", params=["recent_months"],
)
def _price_tickets(ctx: WindowContext):
    """Price-related tickets (requests for lower prices, price complaints) in the recent window."""
    return ctx.recent("t_price")
