"""Dates: the month starts snapshots are taken at, checked against the data.

Indicators are monthly: a snapshot ``as_of`` is a month start and sees only
facts stamped strictly before it. These helpers check and normalise the
dates every stage is given (any day is accepted and stands for the snapshot
at the month start on or before it: :func:`month_starts`), and choose the
defaults (the month start after the data end, :meth:`Tables.data_end
<churnml.data.tables.Tables.data_end>`: after the last order, or without
orders after the last contract start or customer event, for scoring).
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
    """The month start after the data end (:meth:`Tables.data_end`): the default as_of for scoring and retraining.

    With orders, the month start after the last order of the bulk; without
    (a subscription business), after the last time stamp of its contracts
    and customer events (:attr:`Tables.clock`).
    """
    end = tables.data_end()
    if end is None:
        raise ValueError(f"no dated rows in {' / '.join(tables.clock) or 'orders'}: there is no data end to take as_of from; give as_of")
    what = "the last order" if tables.clock == ("orders",) else f"the last record of {', '.join(tables.clock)}"
    logger.info("as_of not given: %s, the month start after %s (%s)", next_month_start(end).date(), what, end)
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
    """Check and normalise as_of dates to the month starts snapshots are taken at: no duplicates, returned sorted.

    A snapshot is taken at a month start D and reads only the facts stamped
    strictly before D. **Any day is accepted**: a date that is not a month
    start (``2025-06-15``, or a time of day) stands for the snapshot at the
    month start on or before it (``2025-06-01``): the facts stamped before
    that month start, and none stamped on or after the date given. The days
    from the month start to the date given are not read: the indicators
    count whole months (a half month would read as a fall in every rate,
    and a contract renewal due in the rest of the month as its end) and
    must see what the model was trained on. To read a month's facts, give
    the next month start (or no as_of at all: the default is the month
    start after the data end). Each such date is named in one warning.

    Time-zone-aware dates are converted to naive UTC (the tables'
    convention) first. With ``tables``, snapshots after the month that
    follows the data end, or not after the data start (the first order;
    without orders, the first contract start or customer event:
    :meth:`Tables.time_range`), are errors: the indicators would describe
    no data.

    Examples
    --------
    >>> [str(d.date()) for d in month_starts(["2025-02-01", "2025-01-01"])]
    ['2025-01-01', '2025-02-01']
    >>> [str(d.date()) for d in month_starts("2025-06-15")]  # facts before 2025-06-01
    ['2025-06-01']
    """
    values = [as_of] if isinstance(as_of, (str, pd.Timestamp)) or not isinstance(as_of, Iterable) else list(as_of)
    if not values:
        raise ValueError("as_of is empty; give one or more dates such as '2025-01-01'")
    given, dates = [], []
    for v in values:
        try:
            ts = pd.Timestamp(v)
        except (ValueError, TypeError):
            raise ValueError(f"as_of value {v!r} is not a date; expected a date such as '2025-01-01'") from None
        if ts is pd.NaT:
            raise ValueError(f"as_of value {v!r} is not a date; expected a date such as '2025-01-01'")
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        given.append(ts)
        dates.append(ts.normalize().replace(day=1))
    moved = {g: d for g, d in zip(given, dates, strict=True) if g != d}
    dupes = sorted({d for d in dates if dates.count(d) > 1})
    if dupes:
        same = [" and ".join(_day(g) for g, d in zip(given, dates, strict=True) if d == dupe) for dupe in dupes]
        raise ValueError(
            f"as_of has duplicated dates: {[str(d.date()) for d in dupes]}"
            + (f" ({'; '.join(same)}: a day stands for the snapshot at the month start on or before it)" if moved else "")
        )
    if moved:
        logger.warning("%s", _snapshots_of_days(moved))
    dates = sorted(dates)
    if tables is not None:
        first, last = tables.time_range()
        if first is None:
            raise ValueError(f"no dated rows in {' / '.join(tables.clock) or 'orders'}: no as_of lies inside the data")
        latest = next_month_start(last)
        bad = [d for d in dates if d <= first or d > latest]
        if bad:
            what = "orders run" if tables.clock == ("orders",) else f"the data ({', '.join(tables.clock)}) run"
            asked = [f"{d.date()} (given as {_day(g)})" for g, d in moved.items() if d in bad]
            raise ValueError(
                f"as_of {[str(d.date()) for d in bad]} outside the data: {what} from {first} to {last}, "
                f"so as_of must be after {first.date()} and no later than {latest.date()}"
                + (f"; a day that is not a month start is the snapshot at the month start before it: {', '.join(asked)}" if asked else "")
            )
    return dates


def _snapshots_of_days(moved: dict[pd.Timestamp, pd.Timestamp]) -> str:
    """The warning that says which snapshot each day given stands for (day -> month start on or before it)."""
    days = sorted(moved)
    if len(days) == 1:
        start = moved[days[0]]
        return (
            f"as_of {_day(days[0])} is not a month start: it stands for the snapshot at {start.date()}, which reads only "
            f"the facts stamped before {start.date()} (indicators count whole months); give {next_month_start(start).date()} "
            f"to read {start:%B %Y} as well"
        )
    return (
        f"as_of {', '.join(_day(d) for d in days)} are not month starts: they stand for the snapshots at "
        f"{', '.join(str(moved[d].date()) for d in days)}, which read only the facts stamped before them (indicators count "
        "whole months); give the next month starts to read those months as well"
    )


def _day(ts: pd.Timestamp) -> str:
    """A date as given: the day alone at midnight, else the time too."""
    return str(ts.date()) if ts == ts.normalize() else str(ts)
