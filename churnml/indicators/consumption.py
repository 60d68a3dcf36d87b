"""Consumption indicators: order amount and frequency against the customer's own history, streaks and trend, discounts, payment and arrears (#5-9)."""

from __future__ import annotations

import ibis

from churnml.constants import DAY_SECONDS
from churnml.indicators.context import HISTORY_RATIO_MISSING, STREAK_MISSING, WindowContext, div
from churnml.indicators.registry import indicator


@indicator(
    "amount_per_month_3m", "consumption", ["orders"], "needs_change",
    "NaN before the customer's first month.", params=["recent_months"], higher_is_riskier=False,
)
def _amount_level(ctx: WindowContext):
    """Order amount per month in the recent window."""
    return ctx.recent_rate("o_amount", "orders")


@indicator(
    "amount_ratio", "consumption", ["orders"], "needs_change",
    HISTORY_RATIO_MISSING, params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _amount_ratio(ctx: WindowContext):
    """Order amount per month, recent vs the customer's own history."""
    return ctx.ratio_to_history("o_amount", "orders")


@indicator(
    "order_freq_ratio", "consumption", ["orders"], "needs_change",
    HISTORY_RATIO_MISSING, params=["recent_months", "history_months", "min_history_months"], higher_is_riskier=False,
)
def _freq_ratio(ctx: WindowContext):
    """Orders per month, recent vs history."""
    return ctx.ratio_to_history("o_n", "orders")


@indicator(
    "order_value_ratio", "consumption", ["orders"], "price",
    "NaN without orders in the recent window or in the history window.",
    params=["recent_months", "history_months"], higher_is_riskier=False,
)
def _value_ratio(ctx: WindowContext):
    """Average order value, recent vs history: below 1 when spend falls faster than order frequency."""
    return div(ctx.recent_mean("o_amount", "o_n"), ctx.history_mean("o_amount", "o_n"))


@indicator(
    "amount_decline_streak", "consumption", ["orders"], "needs_change",
    "0 when last month was not a decline; a month before the customer's start ends the streak.",
    params=["streak_months", "decline_share"],
)
def _decline_streak(ctx: WindowContext):
    """Consecutive months (ending last month) in which the order amount fell by more than decline_share."""
    lags = ctx.lags("o_amount", ctx.s.streak_months + 1)
    keep = 1 - ctx.s.decline_share
    observed = [ctx.observed("orders", -(k + 1), -(k + 1)) > 0 for k in range(1, ctx.s.streak_months + 1)]
    return ctx.streak(ok & (lags[k] < keep * lags[k + 1]) for k, ok in enumerate(observed))


@indicator(
    "months_below_history_amount", "consumption", ["orders"], "needs_change",
    STREAK_MISSING.format(zero=", or with a zero average over them"),
    params=["streak_months", "history_months", "below_history_share", "min_history_months"],
)
def _below_amount(ctx: WindowContext):
    """Consecutive months (ending last month) with order amount below Y% of the customer's average over the months before them."""
    return ctx.streak_vs_reference("o_amount", "orders")


@indicator(
    "months_below_history_orders", "consumption", ["orders"], "needs_change",
    "As months_below_history_amount.",
    params=["streak_months", "history_months", "below_history_share", "min_history_months"],
)
def _below_orders(ctx: WindowContext):
    """Consecutive months with order count below Y% of the customer's average over the months before them."""
    return ctx.streak_vs_reference("o_n", "orders")


TREND_MIN_MONTHS = 3  # a line through two months is the month-over-month change amount_decline_streak already reads


@indicator(
    "amount_trend", "consumption", ["orders"], "needs_change",
    f"NaN with fewer than {TREND_MIN_MONTHS} observed months among the last streak_months, or when their mean is not "
    "above zero. A young customer's trend runs over the months it has (months_observed says how many).",
    params=["streak_months"], higher_is_riskier=False,
)
def _amount_trend(ctx: WindowContext):
    """Least-squares slope of monthly order amount over the last streak_months months (those observed), relative to their mean."""
    n = ctx.s.streak_months
    ys = ctx.lags("o_amount", n)  # lag k sits at x = -k
    observed = ctx.observed("orders", -n, -1)  # the customer's months among the last n: always the latest ones
    if n < TREND_MIN_MONTHS:
        return ibis.null("float64")
    shorter = [(observed == k, _relative_slope(ys[:k])) for k in range(TREND_MIN_MONTHS, n)]
    return ibis.cases((observed >= n, _relative_slope(ys)), *shorter, else_=ibis.null("float64"))


def _relative_slope(ys: list) -> ibis.Value:
    """Least-squares slope of ``ys`` (last month first, at x = -1, -2, ...) over their mean; NaN unless the mean is above zero."""
    n = len(ys)
    xs = [-k for k in range(1, n + 1)]
    x_mean = sum(xs) / n
    sxx = sum((x - x_mean) ** 2 for x in xs)
    y_mean = sum(ys) / n
    slope = sum((x - x_mean) * y for x, y in zip(xs, ys, strict=True)) / sxx
    return (y_mean > 0).ifelse(slope / y_mean, ibis.null("float64"))


@indicator(
    "discount_share_3m", "consumption", ["orders"], "price",
    "NaN without orders in the recent window.", params=["recent_months"],
)
def _discount_share(ctx: WindowContext):
    """Share of recent orders with a discount (discount dependence)."""
    return ctx.recent_mean("o_disc_n", "o_n")


@indicator(
    "discount_share_change", "consumption", ["orders"], "price",
    "NaN without orders in the recent or the history window.", params=["recent_months", "history_months"],
)
def _discount_change(ctx: WindowContext):
    """Share of orders with a discount, recent minus history."""
    return ctx.recent_mean("o_disc_n", "o_n") - ctx.history_mean("o_disc_n", "o_n")


@indicator(
    "payment_days_3m", "consumption", ["invoices"], "price",
    "NaN when no invoice was paid in the recent window.", params=["recent_months"],
)
def _payment_days(ctx: WindowContext):
    """Mean days from invoice to payment, for invoices paid in the recent window."""
    return ctx.recent_mean("i_pay_days", "i_paid_n")


@indicator(
    "payment_days_ratio", "consumption", ["invoices"], "price",
    "NaN when no invoice was paid in the recent or the history window.", params=["recent_months", "history_months"],
)
def _payment_ratio(ctx: WindowContext):
    """Payment cycle, recent vs history (paid in 3 days -> 15 days reads 5)."""
    return div(ctx.recent_mean("i_pay_days", "i_paid_n"), ctx.history_mean("i_pay_days", "i_paid_n"))


@indicator(
    "overdue_invoices", "consumption", ["invoices"], "price",
    "0 when nothing is overdue (never NaN once invoices are present).",
)
def _overdue_n(ctx: WindowContext):
    """Invoices past their due date and unpaid at as_of."""
    return ctx.state("i_overdue_n")


@indicator(
    "overdue_days_mean", "consumption", ["invoices"], "price",
    "0 when nothing is overdue.",
)
def _overdue_days(ctx: WindowContext):
    """Mean days past due of the invoices overdue at as_of."""
    n = ctx.state("i_overdue_n")
    return (n > 0).ifelse((ctx.as_of * n - ctx.state("i_overdue_due")) / n / DAY_SECONDS, 0.0)


@indicator(
    "overdue_amount_to_avg_order", "consumption", ["invoices", "orders"], "price",
    "NaN when the customer has no orders in the recent and history windows.",
    params=["recent_months", "history_months"],
)
def _overdue_amount(ctx: WindowContext):
    """Overdue amount at as_of divided by the customer's average order amount."""
    avg_order = div(ctx.recent("o_amount") + ctx.history("o_amount"), ctx.recent("o_n") + ctx.history("o_n"))
    return div(ctx.state("i_overdue_amount"), avg_order)
