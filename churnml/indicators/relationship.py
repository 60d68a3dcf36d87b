"""Relationship indicators: key-contact changes and executive contact (#19-20)."""

from __future__ import annotations

from churnml.constants import MONTH_DAYS
from churnml.indicators.context import WindowContext
from churnml.indicators.registry import indicator


@indicator(
    "key_contact_changes_6m", "relationship", ["contacts"], "needs_change",
    "0 without changes. Only end dates before as_of count, even when a later end date is already recorded.",
    params=["contact_change_months", "key_roles"],
)
def _contact_changes(ctx: WindowContext):
    """Key contacts whose role ended in the last contact_change_months months."""
    return ctx.win("k_key_end", -ctx.s.contact_change_months, -1)


@indicator(
    "months_since_executive_contact", "relationship", ["interactions"], "service",
    "NaN when there has never been an executive-level interaction.",
)
def _exec_contact(ctx: WindowContext):
    """Months since the last executive-level interaction (a monthly CEO talk not held for 3 months reads 3)."""
    return ctx.days_since("x_exec_last") / MONTH_DAYS
