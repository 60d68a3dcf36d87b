"""The monthly panel: each raw table aggregated once into (customer, month) measures, then every window in one query.

1. **Monthly aggregations.** One function per raw table, declared with
   :func:`aggregates`, returns the table's ``(customer_id, month)`` measures
   (counts, sums, last time stamps) and *state deltas* for things that are
   open at a date (an overdue invoice adds +1 in the month after it fell due
   and -1 in the month after it was paid; the same for open tickets and
   active contracts). A measure is named after its table (``o_`` orders,
   ``a_`` activity, ``t_`` tickets, ``i_`` invoices, ``x_`` interactions,
   ``s_`` surveys, ``k_`` contacts, ``c_`` contracts); an indicator formula
   reads it by that name.
2. **Windows.** :func:`windowed_panel` joins the tables' monthly rows side by
   side, then to the (snapshot month, month) pairs the windows read, and one
   aggregation by customer and snapshot gives every window of every
   snapshot.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import IndicatorSettings
from churnml.constants import DAY_SECONDS
from churnml.data.tables import Tables
from churnml.indicators.context import Window

__all__ = ["AGGREGATIONS", "EXACT_SUMS", "aggregates", "month_of", "panel_parts", "windowed_panel"]

EXACT = "decimal(38, 12)"  # exact sums with 12 decimals
# sums whose terms can cancel (refunds, state deltas, prepayments) run as exact decimals: float
# cancellation leaves residues that flip zero checks, and differently on each engine
EXACT_SUMS = {"o_amount", "i_pay_days", "i_overdue_amount", "i_overdue_due", "c_end", "c_value"}

# monthly(table, month expression, **measures): the table grouped by customer and month
Monthly = Callable[..., ir.Table]
Aggregation = Callable[[ir.Table, IndicatorSettings, Monthly], list[ir.Table]]
# table name -> its monthly aggregation, in the order the panel joins them
AGGREGATIONS: dict[str, Aggregation] = {}


def aggregates(table: str) -> Callable[[Aggregation], Aggregation]:
    """Declare the monthly aggregation of raw table ``table`` (one or more grouped tables of measures)."""

    def register(fn: Aggregation) -> Aggregation:
        AGGREGATIONS[table] = fn
        return fn

    return register


def month_of(ts: ir.TimestampValue) -> ir.IntegerValue:
    """The month index of a time stamp (:func:`churnml.data.calendar.month_index` in Ibis)."""
    return (ts.year().cast("int64") * 12 + ts.month().cast("int64") - 1).name("m")


def _count(cond: ir.BooleanValue) -> ir.IntegerValue:
    return cond.cast("int64").sum()


def _epoch(ts: ir.TimestampValue) -> ir.FloatingValue:
    return ts.epoch_seconds().cast("float64")


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(bits: int) -> int:
    """Bitwise OR over a group (``bit_or`` in DuckDB and Spark SQL)."""


@ibis.udf.scalar.builtin(name="bit_count")
def _bit_count(bits: int) -> int:
    """Number of set bits (``bit_count`` in DuckDB and Spark SQL)."""


def _days_in_month(ts: ir.TimestampValue, month: ir.IntegerValue) -> ir.IntegerValue:
    """Distinct days of a group's month: one bit per day of the month, OR-ed, then counted.

    Four times faster than a distinct count on DuckDB (measured on 17M
    activity rows). NULL for a folded row that spans several months, whose
    days would share bits; only unbounded windows read that row.
    """
    days = _bit_count(_bit_or(ibis.literal(1) << (ts.day().cast("int32") - 1)))
    return (month.min() == month.max()).ifelse(days, ibis.null("int64"))


@aggregates("orders")
def _orders(o: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    return [
        monthly(
            o, month_of(o.order_date),
            # distinct orders: an order log may hold one row per order line
            o_n=o.order_id.nunique(),
            o_amount=o.amount.cast(EXACT).sum(),
            o_disc_n=o.order_id.nunique(where=o.discount > 0),
            o_first=_epoch(o.order_date).min(),
            o_last=_epoch(o.order_date).max(),
        )
    ]


@aggregates("activity")
def _activity(a: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    return [
        monthly(
            a, month_of(a.timestamp),
            a_login=_count(a.event_type == "login"),
            a_days=_days_in_month(a.timestamp, month_of(a.timestamp)),
            a_features=a.feature.nunique(),
            a_last=_epoch(a.timestamp).max(),
        )
    ]


@aggregates("tickets")
def _tickets(t: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    opened = monthly(
        t, month_of(t.opened_at),
        t_complaint=_count(t.category == "complaint"),
        t_price=_count(t.category == "price"),
        t_consult=_count(t.category.isin(["consultation", "technical"])),
        t_last=_epoch(t.opened_at).max(),
    )
    # a response is known from the month it happened, not the month the ticket opened
    responded = t.filter(t.first_response_at.notnull())
    hours = (_epoch(responded.first_response_at) - _epoch(responded.opened_at)) / 3600.0
    standard = responded.category.cases(*s.response_standard_hours.items(), else_=s.response_standard_hours.get("other", 24.0))
    responses = monthly(
        responded, month_of(responded.first_response_at),
        t_resp_n=responded.count(), t_resp_hours=hours.sum(), t_resp_late=_count(hours > standard),
    )
    # open at D: opened before D and not resolved before D
    starts = t.select("customer_id", m=month_of(t.opened_at) + 1, t_open=ibis.literal(1.0))
    closes = t.filter(t.resolved_at.notnull()).select("customer_id", m=month_of(t.resolved_at) + 1, t_open=ibis.literal(-1.0))
    opens = starts.union(closes)
    return [opened, responses, monthly(opens, opens.m, t_open=opens.t_open.sum())]


@aggregates("invoices")
def _invoices(i: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    paid = i.filter(i.paid_date.notnull())
    payments = monthly(
        paid, month_of(paid.paid_date),
        i_paid_n=paid.count(),
        i_pay_days=((_epoch(paid.paid_date) - _epoch(paid.issue_date)) / DAY_SECONDS).cast(EXACT).sum(),
    )
    # overdue at D: due before D and not paid before D (invoices paid late or not at all)
    late = i.filter(i.due_date.notnull() & (i.paid_date.isnull() | (i.paid_date > i.due_date)))
    cols = {"i_overdue_n": 1.0, "i_overdue_amount": late.amount, "i_overdue_due": _epoch(late.due_date)}
    start = late.select("customer_id", m=month_of(late.due_date) + 1, **{k: ibis.literal(v) if isinstance(v, float) else v for k, v in cols.items()})
    settled = late.filter(late.paid_date.notnull())
    stop = settled.select(
        "customer_id",
        m=month_of(settled.paid_date) + 1,
        i_overdue_n=ibis.literal(-1.0),
        i_overdue_amount=-settled.amount,
        i_overdue_due=-_epoch(settled.due_date),
    )
    overdue = start.union(stop)
    return [payments, monthly(overdue, overdue.m, **{k: overdue[k].cast(measure_type(k)).sum() for k in cols})]


@aggregates("interactions")
def _interactions(x: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    # our emails and calls that await an answer (meetings and invitations are not asked to reply)
    outreach = (x.direction == "outbound") & x.replied.notnull() & (x.kind.isnull() | (x.kind == "outreach"))
    two_way = (x.direction == "inbound") | (x.replied.fill_null(False)) | (x.kind == "meeting")
    return [
        monthly(
            x, month_of(x.timestamp),
            x_outreach=_count(outreach),
            x_replied=_count(outreach & x.replied),
            x_attended=_count(x.kind == "event_attended"),
            x_feedback=_count(x.kind == "feedback"),
            x_competitor=_count(x.mentions_competitor.fill_null(False)),
            x_exec_last=x.is_executive.ifelse(_epoch(x.timestamp), ibis.null("float64")).max(),
            x_contact_last=two_way.ifelse(_epoch(x.timestamp), ibis.null("float64")).max(),
            x_last=((x.direction == "inbound") | x.replied.fill_null(False)).ifelse(_epoch(x.timestamp), ibis.null("float64")).max(),
        )
    ]


@aggregates("surveys")
def _surveys(v: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    csat, nps = v.kind == "csat", v.kind == "nps"
    return [
        monthly(
            v, month_of(v.survey_date),
            s_csat_n=_count(csat),
            s_csat_sum=csat.ifelse(v.score, 0.0).sum(),
            s_nps_n=_count(nps),
            s_nps_sum=nps.ifelse(v.score, 0.0).sum(),
            s_low=_count((csat & (v.score <= s.low_csat)) | (nps & (v.score <= s.low_nps))),
            s_last=_epoch(v.survey_date).max(),
        )
    ]


@aggregates("contacts")
def _contacts(k: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    ended = k.filter(k.end_date.notnull() & (k.role.isnull() | k.role.isin(s.key_roles)))
    return [monthly(ended, month_of(ended.end_date), k_key_end=ended.count())]


@aggregates("contracts")
def _contracts(c: ir.Table, s: IndicatorSettings, monthly: Monthly) -> list[ir.Table]:
    # active at D: started before D, not ended and not cancelled before D; with the end dates and the
    # monthly values (c_value, and c_value_n terms that carry one) of the active terms
    stop_at = ibis.least(c.end_date.fill_null(c.cancelled_at), c.cancelled_at.fill_null(c.end_date))
    begin = c.select(
        "customer_id", m=month_of(c.start_date) + 1, c_active=ibis.literal(1.0),
        c_end=_epoch(c.end_date).fill_null(0.0), c_end_n=c.end_date.notnull().cast("float64"),
        c_value=c.monthly_value.fill_null(0.0), c_value_n=c.monthly_value.notnull().cast("float64"),
    )
    ends = c.filter(stop_at.notnull()).mutate(stop_at=stop_at)
    finish = ends.select(
        "customer_id", m=month_of(ends.stop_at) + 1, c_active=ibis.literal(-1.0),
        c_end=-_epoch(ends.end_date).fill_null(0.0), c_end_n=-ends.end_date.notnull().cast("float64"),
        c_value=-ends.monthly_value.fill_null(0.0), c_value_n=-ends.monthly_value.notnull().cast("float64"),
    )
    active = begin.union(finish)
    return [
        monthly(
            active, active.m,
            c_active=active.c_active.sum(), c_end=active.c_end.cast(EXACT).sum(), c_end_n=active.c_end_n.sum(),
            c_value=active.c_value.cast(EXACT).sum(), c_value_n=active.c_value_n.sum(),
        )
    ]


def panel_parts(tables: Tables, s: IndicatorSettings, lower: int, present: set[str]) -> list[ir.Table]:
    """Every present table's monthly aggregations: (customer_id, m, first_m, measures) each.

    Months before ``lower`` fold into one row at ``lower``: older facts only
    count in unbounded windows (states, latest time stamps). ``first_m`` is
    the earliest unfolded month of the row. ``present`` names the tables with
    data.
    """

    def monthly(t: ir.Table, month: ir.IntegerValue, **measures: ir.Value) -> ir.Table:
        return t.group_by(["customer_id", ibis.greatest(month, lower).name("m")]).aggregate(first_m=month.min(), **measures)

    return [part for name, aggregate in AGGREGATIONS.items() if name in present for part in aggregate(tables[name], s, monthly)]


def measure_type(measure: str) -> str:
    """Exact decimals for sums whose terms can cancel (:data:`EXACT_SUMS`), else float64."""
    return EXACT if measure in EXACT_SUMS else "float64"


def windowed_panel(
    parts: list[ir.Table], customers: ir.Table, snapshot_months: list[int], windows: dict[str, Window], lower: int
) -> ir.Table:
    """Every window for every (customer, snapshot month) in one join and one aggregation.

    The tables' monthly rows (months before ``lower`` folded into one row at
    ``lower``, see :func:`panel_parts`) are joined side by side on
    (customer, month), then to a small table of (snapshot month, month it
    looks at) pairs; each window is a conditional sum (or maximum, minimum) over the
    pairs whose offset falls in it, grouped by customer and snapshot. On
    DuckDB this is cheaper than running totals and row shifts over a dense
    customer x month grid (a window function costs about as much per column
    as this whole aggregation does per window), and on Spark it is a
    broadcast join. Sums are direct, so a window without facts is exactly
    zero, and sums whose terms can cancel are exact decimals
    (:data:`EXACT_SUMS`).
    """
    measures = sorted({w.measure for w in windows.values()})
    # one fact-less row per customer at ``lower``: every customer gets a row for every snapshot
    panel = customers.select("customer_id", m=ibis.literal(lower, "int64"))
    first_months = []
    for i, part in enumerate(parts):
        read = [k for k in part.columns if k in measures]
        if not read:  # a table no selected indicator reads
            continue
        first = f"first_m_{i}"
        part = part.select("customer_id", m=part.m.cast("int64"), **{first: part.first_m.cast("int64")}, **{k: part[k].cast(measure_type(k)) for k in read})
        # full outer joins on (customer, month): measured 2x faster than a union regrouped by (customer, month)
        joined = panel.outer_join(part, ["customer_id", "m"])
        panel = joined.select(
            customer_id=ibis.coalesce(joined.customer_id, joined.customer_id_right),
            m=ibis.coalesce(joined.m, joined.m_right),
            **{c: joined[c] for c in panel.columns if c not in ("customer_id", "m")},
            **{c: joined[c] for c in (first, *read)},
        ).view()  # a new relation, so the next join does not extend this join chain
        first_months.append(first)
    firsts = [panel[c] for c in first_months]
    first_m = ibis.least(*firsts) if len(firsts) > 1 else (firsts[0] if firsts else ibis.null("int64"))
    panel = panel.mutate(first_m=first_m, **{k: ibis.null(measure_type(k)) for k in measures if k not in panel.columns})
    # offset = month - snapshot month, from the folded first row up to the last month a window reads
    # (the snapshot month itself for states); first_seen reads every offset before the snapshot
    top = max([-1, *(w.hi for w in windows.values())])
    pairs = pd.DataFrame(
        [(s, s + d, d) for s in snapshot_months for d in range(lower - s, top + 1)], columns=["snapshot_m", "m", "offset"]
    ).astype("int64")
    joined = panel.join(ibis.memtable(pairs), "m")

    def window(w: Window) -> ir.FloatingValue:
        inside = joined.offset <= w.hi if w.lo is None else joined.offset.between(w.lo, w.hi)
        value = joined[w.measure]
        agg = inside.ifelse(value, ibis.null(measure_type(w.measure)))
        return {"max": agg.max, "min": agg.min, "sum": agg.sum}[w.agg]().cast("float64")

    return joined.group_by(["customer_id", joined.snapshot_m.name("m")]).aggregate(
        first_seen=(joined.offset < 0).ifelse(joined.first_m, ibis.null("int64")).min(),  # first month with any record before the snapshot
        **{name: window(w) for name, w in windows.items()},
    )
