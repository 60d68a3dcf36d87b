"""Dates: the month starts snapshots are taken at, checked against the data.

Indicators are monthly: a snapshot ``as_of`` is a month start and sees only
facts stamped strictly before it. These helpers check and normalise the
dates every stage is given, and choose the defaults (the month start after
the last order for scoring).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import pandas as pd

from churnml.data.tables import Tables

__all__ = ["latest_month_start", "month_index", "month_starts", "next_month_start", "scoring_dates"]

logger = logging.getLogger(__name__)


def next_month_start(ts: pd.Timestamp) -> pd.Timestamp:
    """The first month start after ``ts``'s month began (``2025-03-15`` -> ``2025-04-01``)."""
    return ts.normalize().replace(day=1) + pd.offsets.MonthBegin(1)


def month_index(ts: pd.Timestamp) -> int:
    """Months since year 0: consecutive months are consecutive integers (the panel's month key)."""
    return ts.year * 12 + ts.month - 1


def latest_month_start(tables: Tables) -> pd.Timestamp:
    """The month start after the last order of the bulk (:meth:`Tables.data_end`): the default as_of for scoring and retraining."""
    end = tables.data_end("orders")
    logger.info("as_of not given: %s, the month start after the last order (%s)", next_month_start(end).date(), end)
    return next_month_start(end)


def scoring_dates(tables: Tables, as_of: str | pd.Timestamp | None, recent_months: int) -> tuple[pd.Timestamp, list[pd.Timestamp]]:
    """The scoring date (default: :func:`latest_month_start`) and the snapshots a warning list reads.

    Returns ``as_of`` and ``[as_of - recent_months, as_of]``, or ``[as_of]``
    alone when the data does not reach that far back (reasons then go
    without the customer's earlier value).
    """
    (when,) = month_starts(latest_month_start(tables) if as_of is None else as_of, tables)
    try:
        return when, month_starts([when - pd.DateOffset(months=recent_months), when], tables)
    except ValueError:
        return when, [when]


def month_starts(as_of: str | pd.Timestamp | Sequence[str | pd.Timestamp], tables: Tables | None = None) -> list[pd.Timestamp]:
    """Check and normalise as_of dates: month starts, no duplicates, returned sorted.

    Time-zone-aware dates are converted to naive UTC (the tables' convention).
    With ``tables``, dates after the month that follows the last order, or
    before the first order, are errors: the indicators would describe no data.

    Examples
    --------
    >>> [str(d.date()) for d in month_starts(["2025-02-01", "2025-01-01"])]
    ['2025-01-01', '2025-02-01']
    """
    values = [as_of] if isinstance(as_of, (str, pd.Timestamp)) or not isinstance(as_of, Iterable) else list(as_of)
    if not values:
        raise ValueError("as_of is empty; give one or more month starts such as '2025-01-01'")
    dates = []
    for v in values:
        try:
            ts = pd.Timestamp(v)
        except (ValueError, TypeError):
            raise ValueError(f"as_of value {v!r} is not a date; expected a month start such as '2025-01-01'") from None
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        if ts != ts.normalize() or ts.day != 1:
            raise ValueError(
                f"as_of {v!r} is not the first day of a month; indicators are monthly. Use "
                f"{ts.normalize().replace(day=1).date()} (data up to then) or the next month start."
            )
        dates.append(ts)
    dupes = sorted({d for d in dates if dates.count(d) > 1})
    if dupes:
        raise ValueError(f"as_of has duplicated dates: {[str(d.date()) for d in dupes]}")
    dates = sorted(dates)
    if tables is not None:
        first, last = tables.time_range("orders")
        latest = next_month_start(last)
        bad = [d for d in dates if d <= first or d > latest]
        if bad:
            raise ValueError(
                f"as_of {[str(d.date()) for d in bad]} outside the data: orders run from {first} to {last}, "
                f"so as_of must be after {first.date()} and no later than {latest.date()}"
            )
    return dates
