"""The window context: what an indicator formula sees.

A formula reads window sums of the monthly panel's measures (the recent
window, the history window, single-month lags, the latest time stamp, states
at the cutoff), the months each window actually observed, and the
settings. Formulas run twice: first to *collect* the windows they need
(values are placeholders), then on the windowed snapshot table to build the
result; so declaring a formula is all it takes for its windows to be
computed.

Short histories: a customer's *observed* months start at the later of its
start (signup, or first record) and the table's first month. A rate over a
window divides by the window's observed months, so a young base is compared
with the history it has: a ratio to history needs ``min_history_months``
observed history months (default 1), and the ``months_observed`` profile
indicator tells the model how many months that is, so that it can trust a
ratio on one month less than one on twelve. A customer whose whole observed
life lies inside the recent window has no history window at all: its ratios
stay NaN (comparing the recent window with part of itself would be a
different indicator under the same name); its month-over-month streak and
its streaks against the months before them are defined from its second
month on, its trend from its third.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from churnml.constants import DAY_SECONDS

if TYPE_CHECKING:  # settings are only read; importing config here would be circular
    from churnml.config import IndicatorSettings

__all__ = ["HISTORY_CHANGE_MISSING", "HISTORY_RATIO_MISSING", "STREAK_MISSING", "Window", "WindowContext", "div"]

HISTORY_RATIO_MISSING = (
    "NaN with fewer than min_history_months observed history months (none while the customer's whole life lies inside "
    "the recent window) or a zero history level. months_observed gives the months it rests on."
)
HISTORY_CHANGE_MISSING = (
    "NaN with fewer than min_history_months observed history months (none while the customer's whole life lies inside "
    "the recent window)."
)
STREAK_MISSING = (
    "NaN with fewer than min_history_months observed months before last month{zero}. A run reaches back only to "
    "months with min_history_months observed months before them, so a young customer's run is compared with the "
    "months it has."
)


@dataclass(frozen=True)
class Window:
    measure: str
    lo: int | None  # months relative to the snapshot month; None = unbounded
    hi: int
    agg: str  # sum, max or min

    @property
    def name(self) -> str:
        lo = "u" if self.lo is None else str(-self.lo)
        return f"w_{self.measure}_{lo}_{-self.hi}_{self.agg}"


class WindowContext:
    """What an indicator formula sees: window sums, observed months, settings.

    Formulas run twice: first to *collect* the windows they need (values are
    placeholders), then on the windowed snapshot table to build the result.
    """

    def __init__(self, settings: IndicatorSettings, table_start: dict[str, int], table: ir.Table | None = None):
        self.s = settings
        self.table_start = table_start
        self.table = table
        self.windows: dict[str, Window] = {}

    # -- windows
    def win(self, measure: str, lo: int | None, hi: int, agg: str = "sum") -> ir.FloatingValue:
        w = Window(measure, lo, hi, agg)
        self.windows[w.name] = w
        if self.table is None:
            return ibis.literal(1.0)
        col = self.table[w.name]
        return col.fill_null(0.0) if agg == "sum" else col

    def recent(self, measure: str) -> ir.FloatingValue:
        return self.win(measure, -self.s.recent_months, -1)

    def history(self, measure: str) -> ir.FloatingValue:
        r = self.s.recent_months
        return self.win(measure, -(r + self.s.history_months), -(r + 1))

    def lag(self, measure: str, k: int) -> ir.FloatingValue:
        return self.win(measure, -k, -k)

    def last(self, measure: str) -> ir.FloatingValue:
        """Latest value (a time stamp in epoch seconds) before the snapshot month."""
        return self.win(measure, None, -1, "max")

    def first(self, measure: str) -> ir.FloatingValue:
        """Earliest value (a time stamp in epoch seconds) before the snapshot month."""
        return self.win(measure, None, -1, "min")

    def state(self, measure: str) -> ir.FloatingValue:
        """Cumulative state deltas up to and including the snapshot month (see module doc)."""
        return self.win(measure, None, 0)

    # -- columns of the snapshot row
    @property
    def m(self) -> ir.IntegerValue:
        return ibis.literal(0) if self.table is None else self.table.m

    @property
    def as_of(self) -> ir.FloatingValue:
        return ibis.literal(0.0) if self.table is None else self.table.as_of_epoch

    def column(self, name: str) -> ir.Value:
        return ibis.literal(1.0) if self.table is None else self.table[name]

    # -- observed months
    def observed(self, table: str, lo: int, hi: int) -> ir.IntegerValue:
        """Months in ``[m+lo, m+hi]`` after both the customer's start and the table's first record."""
        if self.table is None:
            return ibis.literal(1)
        start = ibis.greatest(self.table.start_m.fill_null(self.table_start[table]), ibis.literal(self.table_start[table]))
        first = ibis.greatest(self.m + lo, start)
        return ibis.greatest((self.m + hi) - first + 1, 0)

    def recent_months(self, table: str) -> ir.IntegerValue:
        return self.observed(table, -self.s.recent_months, -1)

    def history_months(self, table: str) -> ir.IntegerValue:
        r = self.s.recent_months
        return self.observed(table, -(r + self.s.history_months), -(r + 1))

    # -- common forms
    def recent_rate(self, measure: str, table: str) -> ir.FloatingValue:
        months = self.recent_months(table)
        return (months > 0).ifelse(self.recent(measure) / months, ibis.null("float64"))

    def history_rate(self, measure: str, table: str) -> ir.FloatingValue:
        """Monthly rate over the observed months of the history window; NaN with fewer than ``min_history_months`` of them."""
        months = self.history_months(table)
        return (months >= self.min_history).ifelse(self.history(measure) / months, ibis.null("float64"))

    @property
    def min_history(self) -> int:
        """Observed months a history average needs (``min_history_months``, at least 1: never a division by zero)."""
        return max(1, self.s.min_history_months)

    def ratio_to_history(self, measure: str, table: str) -> ir.FloatingValue:
        """Recent monthly rate / history monthly rate; NaN with fewer than ``min_history_months`` observed history months or a zero history."""
        return div(self.recent_rate(measure, table), self.history_rate(measure, table))

    def recent_mean(self, total: str, count: str) -> ir.FloatingValue:
        """Per-event mean in the recent window (``total / count``); NaN without events."""
        return div(self.recent(total), self.recent(count))

    def history_mean(self, total: str, count: str) -> ir.FloatingValue:
        """Per-event mean in the history window; NaN without events."""
        return div(self.history(total), self.history(count))

    def rate_change(self, measure: str, table: str) -> ir.FloatingValue:
        """Recent monthly rate minus history monthly rate (for sparse counts, where ratios explode)."""
        return self.recent_rate(measure, table) - self.history_rate(measure, table)

    def lags(self, measure: str, n: int) -> list[ir.FloatingValue]:
        """The measure in each of the last ``n`` months, last month first."""
        return [self.lag(measure, k) for k in range(1, n + 1)]

    def days_since(self, measure: str) -> ir.FloatingValue:
        """Days from the latest time stamp of ``measure`` to as_of."""
        return (self.as_of - self.last(measure)) / DAY_SECONDS

    def streak(self, conditions: Iterable[ir.BooleanValue]) -> ir.FloatingValue:
        """Consecutive months, counting back from last month, where each condition holds."""
        total, run = ibis.literal(0.0), ibis.literal(1.0)
        for cond in conditions:
            run = run * cond.fill_null(False).cast("float64")
            total = total + run
        return total

    def streak_vs_reference(self, measure: str, table: str, above: bool = False) -> ir.FloatingValue:
        """The longest run of months ending last month, each below Y% (``above``: more than) of the months before the run.

        A run of the last j months (at most ``streak_months``) is compared
        with the customer's mean monthly value over its observed months of
        ``[m - streak_months - history_months, m - j - 1]``: everything before
        the run, back to one fixed start, and at least
        ``min_history_months`` observed months of it (below: a positive
        mean). With a long history and a fall inside the streak window this
        is the fixed reference before the window; a young customer's run is
        compared with the months it has before it. NaN when last month has
        no reference (below: or a zero one). Reads the same windows as a
        fixed reference: the single months of the streak window and one
        window before it.
        """
        n, h = self.s.streak_months, self.s.history_months
        lo = -(n + h)
        lags = self.lags(measure, n)  # lags[k - 1] is month k, counted back from last month
        before = self.win(measure, lo, -(n + 1))
        runs, first_reference = [], None
        for j in range(1, n + 1):
            months = self.observed(table, lo, -(j + 1))  # the customer's months are contiguous: with any before month j, months j..1 are observed
            reference = (months >= self.min_history).ifelse((before + sum(lags[j:], ibis.literal(0.0))) / months, ibis.null("float64"))
            run = lags[:j]
            if above:  # every month of the run above the reference: its smallest is
                valid = (ibis.least(*run) if j > 1 else run[0]) > reference
            else:
                valid = (reference > 0) & ((ibis.greatest(*run) if j > 1 else run[0]) < self.s.below_history_share * reference)
            runs.append((valid.fill_null(False), j))
            first_reference = reference if first_reference is None else first_reference
        longest = ibis.cases(*((valid, float(j)) for valid, j in reversed(runs)), else_=0.0)
        valid = first_reference.notnull() & ((first_reference > 0) if not above else ibis.literal(True))
        return valid.ifelse(longest, ibis.null("float64"))


def div(a: ir.NumericValue, b: ir.NumericValue) -> ir.FloatingValue:
    """a / b, NaN where b is zero (a ratio to nothing is unknown, not infinite)."""
    return (b != 0).ifelse(a / b, ibis.null("float64"))
