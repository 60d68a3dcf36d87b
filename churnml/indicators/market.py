"""Market indicators: events in the customer's industry, joined by industry (the documents' market additions)."""

from __future__ import annotations

from churnml.indicators.context import WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "adverse_policy_events_3m", "market", ["market_events", "customers"], "needs_change",
    "0 without events; NaN when the customer's industry is unknown.", params=["market_months"],
)
def _adverse(ctx: WindowContext):
    """Adverse industry-policy events for the customer's industry (or all industries) in the last market_months months."""
    return ctx.column("market_adverse")


@indicator(
    "competitor_promos_3m", "market", ["market_events", "customers"], "price",
    "0 without events; NaN when the customer's industry is unknown.", params=["market_months"],
)
def _promos(ctx: WindowContext):
    """Competitor promotions in the customer's industry (or all) in the last market_months months."""
    return ctx.column("market_promo")
