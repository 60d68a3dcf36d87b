"""Interaction indicators: reply rate, event attendance, account-team contact, feedback (#10-13)."""

from __future__ import annotations

from churnml.indicators.context import HISTORY_CHANGE_MISSING, WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "reply_rate_3m", "interaction", ["interactions"], "service",
    "NaN when we reached out to the customer zero times in the recent window.",
    params=["recent_months"], higher_is_riskier=False,
)
def _reply_rate(ctx: WindowContext):
    """Share of our outbound contacts the customer replied to, recent window."""
    return ctx.recent_mean("x_replied", "x_outreach")


@indicator(
    "reply_rate_change", "interaction", ["interactions"], "service",
    "NaN without outreach in the recent or the history window.",
    params=["recent_months", "history_months"], higher_is_riskier=False,
)
def _reply_change(ctx: WindowContext):
    """Reply rate, recent minus history (90% -> 50% reads -0.4)."""
    return ctx.recent_mean("x_replied", "x_outreach") - ctx.history_mean("x_replied", "x_outreach")


@indicator(
    "event_attendance_change", "interaction", ["interactions"], "needs_change",
    HISTORY_CHANGE_MISSING,
    params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _attendance(ctx: WindowContext):
    """Events attended per month, recent minus history (2 a quarter -> 0 reads -0.67)."""
    return ctx.rate_change("x_attended", "interactions")


@indicator(
    "days_since_account_contact", "interaction", ["interactions"], "service",
    "NaN when there has never been a two-way contact (a reply, an inbound contact or a meeting).",
)
def _days_contact(ctx: WindowContext):
    """Days since the last two-way contact with the account team (meeting, inbound, or a replied outreach)."""
    return ctx.days_since("x_contact_last")


@indicator(
    "feedback_change", "interaction", ["interactions"], "service",
    HISTORY_CHANGE_MISSING,
    params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _feedback(ctx: WindowContext):
    """Feedback given (surveys, suggestions) per month, recent minus history."""
    return ctx.rate_change("x_feedback", "interactions")
