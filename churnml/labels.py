"""Churn labels: what "churned" means, who is eligible at a date, and when a customer churns.

Three definitions from the source documents:

* :class:`Inactivity` (time-based): the customer's activity (order, usage
  event, ticket, inbound or answered contact, survey answer) stops within
  ``within_days`` (default 90) after D and does not resume for ``days`` days
  (the inactivity period: presets ``fmcg`` 90, ``default`` 180, ``durable``
  365). Customers who went silent shortly before D and stay silent count as
  churning: they are inside the hesitation window, not yet declared lost.
* :class:`Drop` (behaviour-based): spend in ``[D, D + window)`` below
  ``share`` x the spend in ``[D - window, D)``.
* :class:`Contractual`: the customer has an active contract at D and none at
  ``D + horizon`` (cancelled, or a term ended without renewal).

And the question of a retailer's whole base, lapsed customers included:

* :class:`NoPurchase`: no order (or, with ``activity: any``, no activity) in
  ``[D, D + horizon_days)``; every customer with an earlier one is eligible.

Labels read only facts in ``[D, D + horizon)``; indicators read only facts
before D. When an ``interventions`` table is present, a snapshot whose label
window holds a retention action is not a clean label (the team changed the
outcome) and is left out of training; the random control group stays in. A snapshot is *eligible* when the customer started at least
``min_tenure_days`` before D and has not already churned by the same
definition at D. Its label is *complete* when ``D + horizon`` is not after
the end of the data; incomplete labels are never used for training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from churnml.config import PRESETS, ChurnDefinition, Config, Contractual, Drop, Inactivity, NoPurchase, load_config
from churnml.data.calendar import month_starts
from churnml.data.tables import Tables, load_tables

__all__ = [
    "PRESETS",
    "ChurnDefinition",
    "Contractual",
    "Drop",
    "Inactivity",
    "NoPurchase",
    "activity_events",
    "churn_labels",
    "churn_periods",
    "event_days",
    "labelled_dates",
    "label_expr",
    "return_periods",
    "return_sources",
    "scoring_expr",
    "scoring_status",
]

logger = logging.getLogger(__name__)

MIN_TRAINING_SNAPSHOTS = 3  # fewer, and a young base starts its snapshots before its history windows fill

ACTIVITY_SOURCES = {
    "orders": "order_date",
    "activity": "timestamp",
    "tickets": "opened_at",
    "interactions": "timestamp",
    "surveys": "survey_date",
}
# what a customer does that can end a lapse: any activity, and for a subscription business a new contract
EVENT_COLUMNS = ACTIVITY_SOURCES | {"contracts": "start_date"}


def activity_events(tables: Tables, sources: Sequence[str] = tuple(ACTIVITY_SOURCES)) -> ir.Table:
    """(customer_id, ts) of every customer-initiated event in the ``sources`` tables (:data:`EVENT_COLUMNS`)."""
    parts = []
    for name, col in EVENT_COLUMNS.items():
        if name not in tables or name not in sources:
            continue
        t = tables[name]
        if name == "interactions":  # our own unanswered outreach is not the customer's activity
            t = t.filter((t.direction == "inbound") | t.replied.fill_null(False) | (t.kind == "meeting"))
        parts.append(t.select("customer_id", ts=t[col]))
    return ibis.union(*parts)


def _data_end(tables: Tables, names: Sequence[str]) -> pd.Timestamp:
    ends = [tables.data_end(n) for n in names if n in tables]
    return max(e for e in ends if e is not None)


def _label_sources(churn: ChurnDefinition) -> list[str]:
    if isinstance(churn, Inactivity) or (isinstance(churn, NoPurchase) and churn.activity == "any"):
        return list(ACTIVITY_SOURCES)
    return ["orders"] if isinstance(churn, Drop | NoPurchase) else ["contracts", "orders"]


def _check_sources(tables: Tables, churn: ChurnDefinition) -> None:
    """Fail in words when the definition reads none of the tables present (a subscription business has no orders)."""
    sources = _label_sources(churn)
    if not isinstance(churn, Contractual) and not any(name in tables for name in sources):
        raise ValueError(
            f"the {churn.kind} churn definition reads {' / '.join(sources)}, and none is present (tables: {sorted(tables)}); "
            "without an orders table use kind: contract, or inactivity (or no_purchase with activity: any) on usage events"
        )


def event_days(churn: ChurnDefinition) -> int:
    """Days after as_of within which the definition's event must happen: ``within_days`` for inactivity, else the horizon."""
    return getattr(churn, "within_days", churn.horizon_days)


def return_sources(churn: ChurnDefinition) -> list[str] | None:
    """The tables whose next event ends a lapse: the purchase itself for ``no_purchase``, any activity after an
    inactivity, a new contract after a contract ended; None for ``drop`` (a drop has no lapse to end)."""
    if isinstance(churn, Drop):
        return None
    if isinstance(churn, Contractual):
        return ["contracts"]
    return _label_sources(churn)


def labelled_dates(
    tables: Tables | dict | str,
    churn: ChurnDefinition | None = None,
    config: Config | str | dict | None = None,
    censored: bool = False,
) -> list[pd.Timestamp]:
    """Every month start whose label is complete (or, ``censored``, has one observed period) and whose indicators have some history.

    The first is ``recent_months + min_history_months`` months after the data
    start (the first order; without orders the first contract start or
    customer event): the first month in which a customer there from the
    start has a history month (earlier snapshots would have no history
    ratios for anyone), unless that leaves
    fewer dates than the time split needs with :data:`MIN_TRAINING_SNAPSHOTS`
    training snapshots: then a young base starts earlier, down to the month
    after its first order, and trains on what it has (ratios missing, the
    lifetime indicators present; logged). The last is the latest month start
    ``D`` with ``D + horizon`` inside the data. With ``censored`` the dates
    run from the month after the first order (at most ``survival.periods``
    months before the split's dates) to the latest whose first survival
    period is inside the data (:func:`churn_periods`: the hazard model
    learns from every period a snapshot observed).

    Returns
    -------
    list of pandas.Timestamp
        Possibly empty when the data is shorter than one month plus the horizon.
    """
    cfg = load_config(config)
    churn = churn or cfg.labels.churn
    tables = load_tables(tables, cfg)
    _check_sources(tables, churn)
    first_month = tables.data_start().normalize().replace(day=1)
    start = first_month + pd.DateOffset(months=cfg.indicators.recent_months + cfg.indicators.min_history_months)
    observed = cfg.survival.period_days + _event_lag(churn) if censored else churn.horizon_days
    end = _data_end(tables, _label_sources(churn)) - pd.Timedelta(days=observed)
    needed = MIN_TRAINING_SNAPSHOTS + cfg.model.calibration_snapshots + cfg.model.test_snapshots
    last = end.to_period("M").to_timestamp()
    if censored:  # the early snapshots observe the longest paths, the only ones that teach the late periods
        return list(pd.date_range(max(first_month + pd.DateOffset(months=1), last - pd.DateOffset(months=cfg.survival.periods + needed)), end, freq="MS"))
    young = max(first_month + pd.DateOffset(months=1), last - pd.DateOffset(months=needed - 1))
    if young < start:
        logger.info(
            "young base: snapshots from %s, %d month(s) after the first order (not %s), so that the time split has %d training snapshots",
            young.date(), (young.year - first_month.year) * 12 + young.month - first_month.month, start.date(), MIN_TRAINING_SNAPSHOTS,
        )
        start = young
    return list(pd.date_range(start, end, freq="MS"))


def _event_lag(churn: ChurnDefinition) -> int:
    """Days after a period's end before its outcome is known: an inactivity churn needs its silence to last."""
    return churn.days if isinstance(churn, Inactivity) else 0


def label_expr(tables: Tables, dates: list[pd.Timestamp], churn: ChurnDefinition, config: Config) -> ir.Table:
    """customer_id, as_of, status, churned, lapsed, still_active for checked month starts, as one lazy Ibis expression.

    The statuses of :func:`churn_labels` except ``contacted`` (which needs the
    interventions table in memory); ``churned`` is set for every status.
    ``lapsed``: lost by the definition at as_of (status ``lapsed``; for
    ``no_purchase``, eligible rows with no purchase in the horizon before
    as_of). ``still_active``: in hindsight the customer had not left at
    as_of (inactivity: some activity in the label window; always true for
    the other definitions).
    """
    _check_sources(tables, churn)
    spine = _spine(tables, dates, churn.horizon_days, config)
    if isinstance(churn, Inactivity):
        facts = _inactivity(tables, spine, churn)
    elif isinstance(churn, Drop):
        facts = _drop(tables, spine, churn)
    elif isinstance(churn, NoPurchase):
        facts = _no_purchase(tables, spine, _label_sources(churn))
    else:
        if "contracts" not in tables:
            raise ValueError("the contractual churn definition needs a 'contracts' table; use Inactivity or Drop instead")
        facts = _contractual(tables, spine)
    end = _data_end(tables, _label_sources(churn))
    status = (
        ibis.cases(
            (~facts.tenure_ok, "too_new"),
            (facts.status != "eligible", facts.status),
            (facts.until > ibis.literal(end + pd.Timedelta(microseconds=1)), "incomplete"),
            else_="eligible",
        )
    )
    return facts.select("customer_id", "as_of", status=status, churned=facts.churned, lapsed=facts.lapsed, still_active=facts.still_active)


def _spine(tables: Tables, dates: list[pd.Timestamp], horizon_days: int, config: Config) -> ir.Table:
    """customer_id, as_of, until (as_of + horizon) and tenure_ok for every customer signed up before each date."""
    horizon = pd.Timedelta(days=horizon_days)
    snaps = ibis.memtable(pd.DataFrame({"as_of": dates, "until": [d + horizon for d in dates]}))
    customers = tables["customers"]
    spine = customers.cross_join(snaps).filter(customers.signup_date.isnull() | (customers.signup_date < snaps.as_of))
    tenure_ok = spine.signup_date.isnull() | (spine.signup_date <= spine.as_of - ibis.interval(days=config.labels.min_tenure_days))
    return spine.select("customer_id", "as_of", "until", tenure_ok=tenure_ok)


def churn_periods(tables: Tables, dates: list[pd.Timestamp], churn: ChurnDefinition, config: Config) -> pd.DataFrame:
    """When each snapshot's event happens, counted in periods of ``survival.period_days`` after as_of.

    The survival model's target. The event is the churn itself for
    inactivity and contractual definitions: ``event_period`` is the first
    period k (1 to ``survival.periods``) by whose end the customer has
    churned by the definition with its horizon set to k periods (inactivity:
    the activity stops within k periods and stays silent ``days`` days;
    contractual: no active contract k periods after as_of). For
    ``no_purchase`` the event is the next purchase: ``event_period`` is the
    period holding the first one at or after as_of, and "no purchase within
    k periods" is its absence. ``event_period`` is missing when no event
    happened within the observed periods; ``periods_observed`` counts the
    periods whose outcome the data can tell (right-censoring): an event
    beyond them is not known yet.

    Returns
    -------
    pandas.DataFrame
        customer_id, as_of, event_period (float, NaN when none observed),
        periods_observed (int).
    """
    _check_sources(tables, churn)
    ends = {f"p{k}": k * config.survival.period_days for k in range(1, config.survival.periods + 1)}
    spine = _spine(tables, dates, 0, config)
    if isinstance(churn, Inactivity):
        j = spine.join(_around(tables, spine, ends), ["customer_id", "as_of"])
        gap = ibis.interval(days=churn.days)
        flags = {k: j[f"next_{k}"].isnull() | (j[f"next_{k}"] >= j[f"last_{k}"] + gap) for k in ends}
    elif isinstance(churn, Contractual):
        j = spine.left_join(tables["contracts"], "customer_id")
        j = j.group_by(["customer_id", "as_of"]).aggregate(
            **{k: _active_at(j, j.as_of + ibis.interval(days=days)).fill_null(False).cast("int64").max() for k, days in ends.items()}
        )
        flags = {k: j[k] == 0 for k in ends}
    elif isinstance(churn, NoPurchase):
        return _next_event_periods(tables, dates, _label_sources(churn), config)
    else:
        raise ValueError(f"the survival model needs a churn definition with an event time (inactivity, contractual, no_purchase), not {churn.kind}")
    return _counted(j, flags, _data_end(tables, _label_sources(churn)), _event_lag(churn), config)


def return_periods(tables: Tables, dates: list[pd.Timestamp], churn: ChurnDefinition, config: Config) -> pd.DataFrame:
    """When each snapshot's customer comes back, in periods after as_of: the next event of :func:`return_sources`.

    The return model's target, shaped like :func:`churn_periods`
    (right-censored the same way); meant for the snapshots the definition
    calls lapsed.
    """
    sources = return_sources(churn)
    if sources is None:
        raise ValueError(f"a {churn.kind} churn definition has no lapse to return from")
    return _next_event_periods(tables, dates, sources, config)


def _next_event_periods(tables: Tables, dates: list[pd.Timestamp], sources: Sequence[str], config: Config) -> pd.DataFrame:
    """The period of the first event of the ``sources`` tables at or after as_of (:func:`churn_periods` columns)."""
    ends = {f"p{k}": k * config.survival.period_days for k in range(1, config.survival.periods + 1)}
    spine = _spine(tables, dates, 0, config)
    j = spine.join(_around(tables, spine, {"now": 0}, sources), ["customer_id", "as_of"])
    flags = {k: j.next_now < j.as_of + ibis.interval(days=days) for k, days in ends.items()}
    return _counted(j, flags, _data_end(tables, sources), 0, config)


def _counted(j: ir.Table, flags: dict[str, ir.BooleanValue], end: pd.Timestamp, lag_days: int, config: Config) -> pd.DataFrame:
    """customer_id, as_of, the first period whose flag holds and the periods the data up to ``end`` can tell."""
    s = config.survival
    first = ibis.cases(*[(flags[k].fill_null(False), int(k[1:])) for k in flags], else_=ibis.null("int64"))
    out = j.select("customer_id", "as_of", event_period=first).to_pandas()
    out["periods_observed"] = ((end - out.as_of).dt.days - lag_days).floordiv(s.period_days).clip(0, s.periods).astype("int64")
    out["event_period"] = out.event_period.astype("float64").where(out.event_period <= out.periods_observed)
    return out


def scoring_expr(tables: Tables, as_of: pd.Timestamp, config: Config) -> ir.Table:
    """:func:`scoring_status` as a lazy Ibis expression (every customer once; engines such as Spark keep it distributed)."""
    labels = label_expr(tables, [as_of], config.labels.churn, config)
    # the label's horizon lies in the future of as_of: "incomplete" is what a scorable customer looks like
    scorable = labels.status.isin(["eligible", "incomplete"])
    scored = ibis.cases((scorable & labels.lapsed, "lapsed"), (scorable, "scored"), else_=labels.status)
    labels = labels.select("customer_id", status=scored)
    customers = tables["customers"]
    joined = customers.left_join(labels, customers.customer_id == labels.customer_id)
    return joined.select(customer_id=customers.customer_id, status=joined.status.fill_null("not_started"))


def churn_labels(
    tables: Tables | dict | str,
    as_of: str | pd.Timestamp | Sequence[str | pd.Timestamp],
    churn: ChurnDefinition | None = None,
    config: Config | str | dict | None = None,
) -> pd.DataFrame:
    """Label every customer known at each as_of date.

    Returns
    -------
    pandas.DataFrame
        customer_id, as_of, status, churned, still_active. ``status`` is ``eligible``,
        ``too_new`` (tenure below min_tenure_days), ``no_history`` (no
        activity yet), ``lapsed`` (churned by this definition at as_of; for
        the contractual one, every contract ended), ``no_contract``
        (contractual only: never had one), ``incomplete`` (the
        horizon runs past the data) or ``contacted`` (the team acted inside
        the label window, so the label is partly its own doing: see
        ``labels.exclude_contacted`` and the ``interventions`` table).
        ``churned`` is 0/1 for eligible rows and missing otherwise.
        ``still_active`` is hindsight for judging a model, never a feature:
        under inactivity, whether the customer was active again at or after
        as_of (a churner without such activity had already left, unnoticed);
        true for the other definitions.
    """
    cfg = load_config(config)
    churn = churn or cfg.labels.churn
    tables = load_tables(tables, cfg)
    dates = month_starts(as_of, tables)
    frame = label_expr(tables, dates, churn, cfg).drop("lapsed").to_pandas()
    if cfg.labels.exclude_contacted and "interventions" in tables:
        horizon = pd.Timedelta(days=churn.horizon_days)
        frame.loc[_contacted(frame, tables, horizon) & (frame.status == "eligible"), "status"] = "contacted"
    frame["churned"] = frame.churned.where(frame.status == "eligible").astype("Int64")
    frame["as_of"] = frame["as_of"].astype("datetime64[us]")
    return frame.sort_values(["as_of", "customer_id"], kind="stable", ignore_index=True)


def scoring_status(tables: Tables | dict | str, as_of: str | pd.Timestamp, config: Config | str | dict | None = None) -> pd.DataFrame:
    """Who can be scored as of one date: every customer of the customers table once.

    Returns
    -------
    pandas.DataFrame
        customer_id, status: ``scored`` for customers a model may score (eligible,
        whatever their label's future holds), ``lapsed`` for customers the
        definition calls lost at as_of (scored for their return instead; for
        ``no_purchase``, no purchase in the horizon before as_of), else the reason from
        :func:`churn_labels` (``too_new``, ``no_history``, ``no_contract``)
        or ``not_started`` (signed up on or after as_of).
    """
    cfg = load_config(config)
    tables = load_tables(tables, cfg)
    (as_of,) = month_starts(as_of, tables)
    return scoring_expr(tables, as_of, cfg).to_pandas().sort_values("customer_id", ignore_index=True)


def _contacted(frame: pd.DataFrame, tables: Tables, horizon: pd.Timedelta) -> np.ndarray:
    """Rows whose label window [as_of, as_of + horizon) holds a retention action (control group excepted)."""
    iv = tables["interventions"]
    iv = iv.filter(iv.handled_at.notnull() & ~iv.control.fill_null(False)).select("customer_id", "handled_at").to_pandas()
    pairs = frame[["customer_id", "as_of"]].reset_index().merge(iv, on="customer_id")
    inside = (pairs.handled_at >= pairs.as_of) & (pairs.handled_at < pairs.as_of + horizon)
    return frame.index.isin(pairs["index"][inside])


def _around(tables: Tables, spine: ir.Table, offsets: dict[str, int], sources: Sequence[str] = tuple(ACTIVITY_SOURCES)) -> ir.Table:
    """Per snapshot and named marker (as_of + offset days): the last activity before it and the next one after it.

    One window pass over the customer's events and all markers together;
    returns customer_id, as_of, ``last_<name>`` and ``next_<name>`` (events of the ``sources`` tables).
    """
    events = activity_events(tables, sources)
    markers = ibis.union(
        *[spine.select("customer_id", "as_of", ts=spine.as_of + ibis.interval(days=days), point=ibis.literal(name)) for name, days in offsets.items()]
    )
    stream = ibis.union(
        events.select("customer_id", as_of=ibis.null("timestamp"), ts="ts", point=ibis.null("string"), ev="ts"),
        markers.mutate(ev=ibis.null("timestamp")),
    )
    # markers sort before events stamped at the same instant: those belong to the future
    order = [stream.ts, ibis.desc(stream.point.notnull())]
    before = ibis.window(group_by="customer_id", order_by=order, rows=(None, -1))
    after = ibis.window(group_by="customer_id", order_by=order, rows=(1, None))
    seen = stream.mutate(last_before=stream.ev.max().over(before), next_after=stream.ev.min().over(after))
    seen = seen.filter(seen.point.notnull())
    aggregates = {}
    for name in offsets:
        aggregates[f"last_{name}"] = seen.last_before.max(where=seen.point == name)
        aggregates[f"next_{name}"] = seen.next_after.max(where=seen.point == name)
    return seen.group_by(["customer_id", "as_of"]).aggregate(**aggregates)


def _inactivity(tables: Tables, spine: ir.Table, churn: Inactivity) -> ir.Table:
    """Last event before D and before D + within_days, and the next event after that, in one window pass."""
    j = spine.join(_around(tables, spine, {"now": 0, "end": churn.within_days}), ["customer_id", "as_of"])
    gap = ibis.interval(days=churn.days)
    status = ibis.cases(
        (j.last_now.isnull(), "no_history"),
        (j.last_now < j.as_of - gap, "lapsed"),
        else_="eligible",
    )
    # the last activity before D + within is followed by `days` of silence
    churned = (j.next_end.isnull() | (j.next_end >= j.last_end + gap)).cast("int64")
    # hindsight: activity again at or after D means the customer had not left yet; a churner without any left before D
    still_active = j.next_now.notnull() & (j.next_now < j.until)
    return j.select("customer_id", "as_of", "until", "tenure_ok", status=status, churned=churned, lapsed=status == "lapsed", still_active=still_active)


def _no_purchase(tables: Tables, spine: ir.Table, sources: Sequence[str]) -> ir.Table:
    """The last purchase before D and the first at or after it: churned when none comes before D + horizon.

    Lapsed: no purchase in the horizon before D either (churned, by the same definition, as of D - horizon).
    """
    j = spine.join(_around(tables, spine, {"now": 0}, sources), ["customer_id", "as_of"])
    status = ibis.cases((j.last_now.isnull(), "no_history"), else_="eligible")
    churned = (j.next_now.isnull() | (j.next_now >= j.until)).cast("int64")
    lapsed = j.last_now.notnull() & (j.last_now < j.as_of - (j.until - j.as_of))
    return j.select("customer_id", "as_of", "until", "tenure_ok", status=status, churned=churned, lapsed=lapsed, still_active=ibis.literal(True))


def _drop(tables: Tables, spine: ir.Table, churn: Drop) -> ir.Table:
    """Spend before and after D from cumulative sums at three markers per snapshot."""
    o = tables["orders"]
    w = ibis.interval(days=churn.window_days)
    marks = [
        spine.select("customer_id", "as_of", ts=spine.as_of - w, point=ibis.literal("prev")),
        spine.select("customer_id", "as_of", ts="as_of", point=ibis.literal("now")),
        spine.select("customer_id", "as_of", ts="until", point=ibis.literal("next")),
    ]
    stream = ibis.union(
        o.select("customer_id", as_of=ibis.null("timestamp"), ts="order_date", point=ibis.null("string"), amount=o.amount),
        *[m.mutate(amount=ibis.literal(0.0)) for m in marks],
    )
    order = [stream.ts, ibis.desc(stream.point.notnull())]
    spent = stream.mutate(cum=stream.amount.sum().over(ibis.window(group_by="customer_id", order_by=order, rows=(None, -1))))
    spent = spent.filter(spent.point.notnull())
    wide = spent.group_by(["customer_id", "as_of"]).aggregate(
        **{p: spent.cum.fill_null(0.0).max(where=spent.point == p) for p in ("prev", "now", "next")}
    )
    j = spine.join(wide, ["customer_id", "as_of"])
    before, after = j.now - j.prev, j.next - j.now
    status = ibis.cases((before <= 0, "no_history"), else_="eligible")
    return j.select(
        "customer_id", "as_of", "until", "tenure_ok", status=status, churned=(after < churn.share * before).cast("int64"),
        lapsed=ibis.literal(False), still_active=ibis.literal(True),
    )


def _active_at(j: ir.Table, when: ir.TimestampValue) -> ir.BooleanValue:
    """Whether a contract row (joined to a snapshot) is active at ``when``: started, not ended, not cancelled."""
    return (j.start_date < when) & (j.end_date.isnull() | (j.end_date >= when)) & (j.cancelled_at.isnull() | (j.cancelled_at >= when))


def _contractual(tables: Tables, spine: ir.Table) -> ir.Table:
    j = spine.left_join(tables["contracts"], "customer_id")
    flags = j.group_by([j.customer_id, j.as_of, j.until, j.tenure_ok]).aggregate(
        now=_active_at(j, j.as_of).fill_null(False).cast("int64").max(),
        later=_active_at(j, j.until).fill_null(False).cast("int64").max(),
        before=(j.start_date < j.as_of).fill_null(False).cast("int64").max(),
    )
    # a customer whose contracts all ended is lapsed (it may sign again); one who never had any has no contract
    status = ibis.cases((flags.now == 1, "eligible"), (flags.before == 1, "lapsed"), else_="no_contract")
    return flags.select(
        "customer_id", "as_of", "until", "tenure_ok", status=status, churned=(flags.later == 0).cast("int64"),
        lapsed=status == "lapsed", still_active=ibis.literal(True),
    )
