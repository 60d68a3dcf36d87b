"""Service indicators: first-response time against the standard, open tickets, satisfaction (#17-18)."""

from __future__ import annotations

from churnml.indicators.context import WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "response_hours_3m", "service", ["tickets"], "service",
    "NaN when no ticket got its first response in the recent window.", params=["recent_months"],
)
def _response_hours(ctx: WindowContext):
    """Mean hours to first response, for responses given in the recent window."""
    return ctx.recent_mean("t_resp_hours", "t_resp_n")


@indicator(
    "response_over_standard_3m", "service", ["tickets"], "service",
    "NaN when no ticket got its first response in the recent window.",
    params=["recent_months", "response_standard_hours"],
)
def _over_standard(ctx: WindowContext):
    """Share of recent first responses slower than the standard for their category (2 h simple, 24 h complex)."""
    return ctx.recent_mean("t_resp_late", "t_resp_n")


@indicator(
    "open_tickets", "service", ["tickets"], "service",
    "0 when nothing is open.",
)
def _open_tickets(ctx: WindowContext):
    """Tickets opened before as_of and not resolved before as_of."""
    return ctx.state("t_open")


@indicator(
    "csat_3m", "service", ["surveys"], "service",
    "NaN without a CSAT answer in the recent window.", params=["recent_months"], higher_is_riskier=False,
)
def _csat(ctx: WindowContext):
    """Mean CSAT score (1-5) in the recent window."""
    return ctx.recent_mean("s_csat_sum", "s_csat_n")


@indicator(
    "csat_change", "service", ["surveys"], "service",
    "NaN without CSAT answers in both the recent and the history window.",
    params=["recent_months", "history_months"], higher_is_riskier=False,
)
def _csat_change(ctx: WindowContext):
    """Mean CSAT, recent minus history."""
    return ctx.recent_mean("s_csat_sum", "s_csat_n") - ctx.history_mean("s_csat_sum", "s_csat_n")


@indicator(
    "nps_3m", "service", ["surveys"], "service",
    "NaN without an NPS answer in the recent window.", params=["recent_months"], higher_is_riskier=False,
)
def _nps(ctx: WindowContext):
    """Mean NPS answer (0-10) in the recent window."""
    return ctx.recent_mean("s_nps_sum", "s_nps_n")


@indicator(
    "low_scores_3m", "service", ["surveys"], "service",
    "0 without low scores.", params=["recent_months", "low_csat", "low_nps"],
)
def _low_scores(ctx: WindowContext):
    """Survey answers at or below the low threshold (CSAT <= 2, NPS <= 6) in the recent window."""
    return ctx.recent("s_low")
