"""The raw-table contract: the canonical tables, their columns, types and keys.

Only ``orders`` is required, or, for a subscription business without an
order log, ``contracts`` (:data:`ANCHORS`); every other table is optional
and its indicators are skipped when it is absent. :data:`SCHEMA` is the one
declaration the loaders, validation, the config checks and the README's
contract table (:func:`contract_markdown`) read; :data:`CLOCK` says which
tables date the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from churnml.constants import CAUSES

__all__ = ["ANCHORS", "CLOCK", "RECORDED_AT", "SCHEMA", "TIME_COLUMN", "ColumnSpec", "TableSpec", "contract_markdown"]


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column: name, type, whether required, and meaning."""

    name: str
    dtype: str  # an Ibis type name: string, timestamp, float64, int64, boolean
    required: bool
    description: str
    non_negative: bool = False
    allowed: tuple[str, ...] = ()  # known values; others are reported


@dataclass(frozen=True)
class TableSpec:
    """One canonical table of the raw-table contract."""

    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...] = ()
    required: bool = False  # True for orders alone: required unless contracts stand in for it (ANCHORS)
    # (earlier, later) pairs: ``later`` may not be before ``earlier``
    date_order: tuple[tuple[str, str], ...] = ()
    has_customer: bool = True
    key_is_unique: bool = True  # False: the key names rows in messages but may repeat

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)


def _c(name, dtype, required, description, **kw) -> ColumnSpec:
    return ColumnSpec(name, dtype, required, description, **kw)


_CUSTOMER = _c("customer_id", "string", True, "Customer identifier (read as text).")

SCHEMA: dict[str, TableSpec] = {
    spec.name: spec
    for spec in [
        TableSpec(
            "orders",
            "One row per order (or order line). Required, unless a subscription business gives contracts instead.",
            (
                _c("order_id", "string", False, "Order identifier; rows sharing one are lines of one order. Absent: each row is one order."),
                _CUSTOMER,
                _c("order_date", "timestamp", True, "When the order was placed."),
                _c(
                    "amount",
                    "float64",
                    True,
                    "Order value in the company's currency; negative values are refunds "
                    "and net against spend.",
                ),
                _c("product", "string", False, "Product or SKU."),
                _c("category", "string", False, "Product category."),
                _c("discount", "float64", False, "Discount granted on the order (currency).", non_negative=True),
                _c("quantity", "float64", False, "Units ordered.", non_negative=True),
            ),
            primary_key=("order_id",),
            key_is_unique=False,  # order logs often hold one row per order line
            required=True,
        ),
        TableSpec(
            "customers",
            "Customer master data; derived from orders (first order = signup), or without orders from contracts "
            "(first term = signup), when absent.",
            (
                _CUSTOMER,
                _c("industry", "string", False, "Industry of the customer (matches market_events.industry)."),
                _c("segment", "string", False, "Size or segment, e.g. small / medium / large."),
                _c("signup_date", "timestamp", False, "Start of the relationship."),
                _c("region", "string", False, "Sales region."),
                _c("contract_end_date", "timestamp", False, "End of the current contract, if any."),
            ),
            primary_key=("customer_id",),
        ),
        TableSpec(
            "invoices",
            "Invoices and their payment.",
            (
                _c("invoice_id", "string", True, "Invoice identifier, unique."),
                _CUSTOMER,
                _c("issue_date", "timestamp", True, "When the invoice was issued."),
                _c("due_date", "timestamp", False, "Payment due date."),
                _c("amount", "float64", True, "Invoiced amount.", non_negative=True),
                _c("paid_date", "timestamp", False, "When it was paid; null = not paid yet."),
            ),
            primary_key=("invoice_id",),
            date_order=(("issue_date", "due_date"),),
        ),
        TableSpec(
            "activity",
            "Product usage events: logins, feature use, consultations.",
            (
                _CUSTOMER,
                _c("timestamp", "timestamp", True, "When the event happened."),
                _c(
                    "event_type",
                    "string",
                    True,
                    "Kind of event: login, feature_use and consultation keep their meaning; any other value "
                    "(play, stream, api_call, ...) counts as use.",
                ),
                _c("feature", "string", False, "Feature or product used (for usage breadth)."),
            ),
        ),
        TableSpec(
            "tickets",
            "Service tickets: complaints, consultations, price requests.",
            (
                _c("ticket_id", "string", True, "Ticket identifier, unique."),
                _CUSTOMER,
                _c("opened_at", "timestamp", True, "When the customer opened the ticket."),
                _c("first_response_at", "timestamp", False, "First response by the company; null = none yet."),
                _c("resolved_at", "timestamp", False, "When it was resolved; null = open."),
                _c(
                    "category",
                    "string",
                    True,
                    "What the ticket is about.",
                    allowed=("complaint", "consultation", "technical", "price", "other"),
                ),
                _c("severity", "string", False, "Severity, e.g. low / medium / high.", allowed=("low", "medium", "high")),
            ),
            primary_key=("ticket_id",),
            date_order=(("opened_at", "first_response_at"), ("opened_at", "resolved_at")),
        ),
        TableSpec(
            "interactions",
            "Contacts between the account team and the customer.",
            (
                _CUSTOMER,
                _c("timestamp", "timestamp", True, "When the interaction happened."),
                _c("channel", "string", True, "Channel.", allowed=("email", "phone", "visit", "event", "chat", "other")),
                _c("direction", "string", False, "Who initiated it.", allowed=("outbound", "inbound")),
                _c("replied", "boolean", False, "For outbound contacts: did the customer reply."),
                _c("is_executive", "boolean", False, "Executive-level interaction."),
                _c("mentions_competitor", "boolean", False, "The customer mentioned a competitor."),
                _c(
                    "kind",
                    "string",
                    False,
                    "Purpose of the interaction.",
                    allowed=("outreach", "meeting", "event_invite", "event_attended", "feedback", "other"),
                ),
            ),
        ),
        TableSpec(
            "contacts",
            "People at the customer and when they held their role (intervals).",
            (
                _CUSTOMER,
                _c("contact_id", "string", True, "Contact identifier."),
                _c("role", "string", False, "Role, e.g. key / decision_maker / user."),
                _c("start_date", "timestamp", True, "When the contact took the role."),
                _c("end_date", "timestamp", False, "When they left it; null = still there."),
            ),
            primary_key=("customer_id", "contact_id", "start_date"),
            date_order=(("start_date", "end_date"),),
        ),
        TableSpec(
            "surveys",
            "Satisfaction survey answers.",
            (
                _CUSTOMER,
                _c("survey_date", "timestamp", True, "When the answer was given."),
                _c("kind", "string", True, "Survey kind.", allowed=("csat", "nps")),
                _c("score", "float64", True, "Score: csat 1-5, nps 0-10.", non_negative=True),
            ),
        ),
        TableSpec(
            "market_events",
            "Market events by industry: adverse policy, competitor promotions.",
            (
                _c("date", "timestamp", True, "When the event became known."),
                _c("industry", "string", True, "Affected industry, or 'all'."),
                _c("kind", "string", True, "Event kind.", allowed=("policy_adverse", "competitor_promo")),
                _c("severity", "float64", False, "Strength, 0-1.", non_negative=True),
            ),
            has_customer=False,
        ),
        TableSpec(
            "contracts",
            "Contract terms (intervals) and cancellations.",
            (
                _CUSTOMER,
                _c("start_date", "timestamp", True, "Start of the contract term."),
                _c("end_date", "timestamp", False, "End of the term; null = open-ended."),
                _c("cancelled_at", "timestamp", False, "When the customer cancelled; null = not cancelled."),
                _c(
                    "monthly_value",
                    "float64",
                    False,
                    "Recurring value of the term per month (e.g. MRR); the customer's value (monthly_spend) when there "
                    "is no orders table.",
                    non_negative=True,
                ),
            ),
            primary_key=("customer_id", "start_date"),
            date_order=(("start_date", "end_date"), ("start_date", "cancelled_at")),
        ),
        TableSpec(
            "interventions",
            "The strategy-execution table: one row per warning issued (or lost customer put on a win-back list), and what the team did about it. "
            "Only read by `churnml kpis` and to keep contacted customers out of training labels.",
            (
                _CUSTOMER,
                _c("warning_date", "timestamp", True, "as_of of the warning list that raised the warning."),
                _c("warning_level", "int64", False, "Warning level then (1 highest, 3 lowest).", non_negative=True),
                _c("primary_cause", "string", False, "Primary cause then.", allowed=CAUSES),
                _c("action", "string", False, "Retention action taken or planned."),
                _c("owner", "string", False, "Department that acted."),
                _c("handled_at", "timestamp", False, "When the team acted; null = not handled (yet)."),
                _c(
                    "outcome",
                    "string",
                    False,
                    "The team's verdict: retained, lost, or pending.",
                    allowed=("retained", "lost", "pending"),
                ),
                _c("control", "boolean", False, "In the random control group: deliberately left untouched."),
                _c(
                    "kind", "string", False, "warning (a warning list's row; null means warning) or winback (a win-back list's row).",
                    allowed=("warning", "winback"),
                ),
                _c("value_tier", "string", False, "Value tier then: high, medium or low.", allowed=("high", "medium", "low")),
            ),
            primary_key=("customer_id", "warning_date"),
            date_order=(("warning_date", "handled_at"),),
        ),
    ]
}

# Where each table's time stamp lives, for summaries and range checks.
TIME_COLUMN = {
    "orders": "order_date",
    "customers": "signup_date",
    "invoices": "issue_date",
    "activity": "timestamp",
    "tickets": "opened_at",
    "interactions": "timestamp",
    "contacts": "start_date",
    "surveys": "survey_date",
    "market_events": "date",
    "contracts": "start_date",
    "interventions": "warning_date",
}

# The table every load needs, in order of preference: the first present is the anchor. It must have rows, and
# a missing customers table is derived from it (signup = its first time stamp). A subscription business keeps
# no order log: its contracts stand in for one.
ANCHORS = ("orders", "contracts")

# The tables whose time stamps date the data (where it begins and ends, the default as_of), by anchor: an
# order log is its business's clock (and stays the only one when present, whatever else is loaded); without
# one, the contracts and the customer events beside them (invoices, usage, tickets, interactions, surveys).
CLOCK = {
    "orders": ("orders",),
    "contracts": ("contracts", "invoices", "activity", "tickets", "interactions", "surveys"),
}

# The time columns that record something that happened, so none is after the load time (a contract or a
# market event may start in the future; an order cannot).
RECORDED_AT = {t: TIME_COLUMN[t] for t in ("orders", "customers", "invoices", "activity", "tickets", "interactions", "surveys", "interventions")}


def contract_markdown() -> str:
    """Return the raw-table contract as a Markdown table (used by the docs)."""
    lines = ["| table | column | type | required | meaning |", "|---|---|---|---|---|"]
    for spec in SCHEMA.values():
        for col in spec.columns:
            req = "yes" if col.required else "no"
            lines.append(f"| {spec.name} | {col.name} | {col.dtype} | {req} | {col.description} |")
    return "\n".join(lines)
