"""Point-in-time indicators: the documents' 20 indicators, market and profile.

Read it in the order of the flow:

* :mod:`.registry`: one declaration per indicator (category, tables, cause,
  reason, missing rule); :data:`REGISTRY` and :func:`list_indicators`;
* :mod:`.context`: the windows an indicator formula reads;
* one module per category holding its definitions: :mod:`.activity`,
  :mod:`.consumption`, :mod:`.interaction`, :mod:`.risk`, :mod:`.service`,
  :mod:`.relationship`, :mod:`.market`, :mod:`.profile`, and
  :mod:`.correlation` (two indicators falling together);
* :mod:`.panel`: each raw table aggregated once into monthly measures, then
  every window of every snapshot in one query;
* :mod:`.build`: :func:`~churnml.indicators.build.build_indicators`, the panel
  for many snapshots (``churnml.build_indicators``).

A snapshot at ``as_of`` (a month start) sees only facts stamped strictly
before it: the recent window is months ``[m-3, m-1]``, the history window
``[m-15, m-4]``. Missing data is not zero: rates are per *observed* month
(since the customer's start and the table's first record), and a ratio whose
history has fewer than ``min_history_months`` observed months (default 1: a
young base uses the history it has), or a zero history level, is NaN; the
``months_observed`` profile indicator gives the model the months a
customer's history rests on. Indicators whose tables are absent (or empty)
are skipped with one logged line.

Adding an indicator is one decorated formula in its category module (and
its reason in both message catalogs); a measure it needs that no table
aggregation produces yet is added to that table's function in
:mod:`.panel`.
"""

from churnml.indicators import (  # noqa: F401  the category modules fill REGISTRY, in this order
    activity,
    consumption,
    interaction,
    risk,
    service,
    relationship,
    market,
    profile,
    correlation,
)
from churnml.indicators.registry import REGISTRY, Indicator, indicators_markdown, list_indicators

__all__ = ["REGISTRY", "Indicator", "indicators_markdown", "list_indicators"]
