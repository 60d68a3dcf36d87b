"""Building the indicator panel: every selected indicator for every customer and snapshot date.

:func:`indicator_expr` is the whole panel as one lazy Ibis expression (the
monthly panel of :mod:`churnml.indicators.panel`, the snapshot dates, the
customers, the market join, then every formula of the registry);
:func:`build_indicators` runs it ``indicators.chunk_customers`` customers at
a time and returns pandas, or streams it to Parquet. The same expressions run
on DuckDB (the default) and on Spark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from churnml.config import Config, IndicatorSettings, load_config
from churnml.data.calendar import month_index, month_starts
from churnml.data.schema import TIME_COLUMN
from churnml.data.tables import Tables, load_tables
from churnml.files import atomic_path
from churnml.indicators.context import WindowContext
from churnml.indicators.panel import AGGREGATIONS, month_of, panel_parts, windowed_panel
from churnml.indicators.registry import REGISTRY, Indicator

__all__ = ["build_indicators", "indicator_expr"]

logger = logging.getLogger(__name__)


def build_indicators(
    tables: Tables | dict | str,
    as_of: str | pd.Timestamp | Sequence[str | pd.Timestamp],
    config: Config | str | dict | None = None,
    *,
    path: str | Path | None = None,
) -> pd.DataFrame | Path:
    """Compute every indicator whose tables are present, one row per (customer_id, as_of).

    Parameters
    ----------
    tables : Tables, dict of DataFrames, or a directory
        Raw tables (loaded and validated if not already).
    as_of : date or list of dates
        Month starts. Each snapshot uses only facts stamped strictly before
        its date. Unsorted dates are sorted; duplicates are an error.
    config : Config, path or dict, optional
        ``indicators`` settings (windows, thresholds, ``only``).
    path : str or Path, optional
        Write the result as one Parquet file there (atomically) instead of
        returning it: for panels larger than memory. Each range of
        customers' rows is streamed to the file, ordered by as_of and
        customer_id within the range, so memory stays bounded whatever the
        number of customers.

    Notes
    -----
    The engine computes ``indicators.chunk_customers`` customers at a time:
    consecutive ranges of customer_id, so that files clustered by customer
    are read once in all, and the engine's memory is that of one range.

    Returns
    -------
    pandas.DataFrame, or the Parquet path when ``path`` is given
        customer_id (str), as_of (datetime64), then the indicators in
        registry order: float64 for numeric ones, str for profile fields.
        Customers appear from the first snapshot after their start (signup,
        or first record when the signup date is unknown).

    Examples
    --------
    >>> from churnml.datasets import make_synthetic
    >>> tables, _ = make_synthetic(100, months=12, seed=1)
    >>> panel = build_indicators(tables, as_of=["2024-10-01", "2024-11-01"])
    >>> panel.groupby("as_of").size().gt(0).all()
    np.True_
    """
    cfg = load_config(config)
    tables = load_tables(tables, cfg)
    dates = month_starts(as_of, tables)
    if path is not None:
        return _write_in_chunks(tables, dates, cfg, Path(path))
    panel = _in_as_of_order([expr.to_pyarrow() for expr in _chunks(tables, dates, cfg)], dates)
    frame = panel.to_pandas()  # ibis' own pandas conversion is several times slower than Arrow's
    frame["as_of"] = frame["as_of"].astype("datetime64[us]")
    for name in frame.columns[2:]:
        categorical = REGISTRY[name].kind == "categorical"
        frame[name] = frame[name].astype("str" if categorical else "float64")
        if categorical:
            frame.loc[frame[name].isin(["None", "nan"]), name] = pd.NA
    return frame


def _in_as_of_order(parts: list[pa.Table], dates: list[pd.Timestamp]) -> pa.Table:
    """One table ordered by as_of and customer_id from customer ranges in order, each ordered so.

    Every range's rows of one as_of, range after range, then the next as_of:
    slices, not a sort.
    """
    if len(parts) == 1:
        return parts[0]
    bounds = []
    for part in parts:
        stamps = part.column("as_of").to_numpy()
        bounds.append(np.append(np.searchsorted(stamps, np.array(dates, dtype=stamps.dtype)), len(stamps)))
    schema = parts[0].schema
    pieces = [part.slice(b[i], b[i + 1] - b[i]).cast(schema) for i in range(len(dates)) for part, b in zip(parts, bounds, strict=True)]
    return pa.concat_tables(pieces)


def _chunks(tables: Tables, dates: list[pd.Timestamp], config: Config) -> Iterator[ir.Table]:
    """The panel, ``indicators.chunk_customers`` customers at a time: one expression per customer_id range, in order.

    Each expression's rows are ordered by as_of and customer_id.
    """
    customers = int(tables["customers"].count().to_pyarrow().as_py())
    chunks = max(1, -(-customers // config.indicators.chunk_customers))
    bounds = [None, *tables.customer_bounds(chunks), None]
    # every chunk must see the tables' first months of the whole data, not of its own customers
    table_start = _table_starts(tables)
    for low, high in tqdm(list(zip(bounds, bounds[1:])), desc="indicators", unit="chunk", disable=chunks == 1):
        expr, _ = indicator_expr(tables.customer_range(low, high), dates, config, table_start)
        yield expr.order_by(["as_of", "customer_id"])  # sorted by the engine, in parallel
    logger.info("indicators for %d customers in %d chunk(s)", customers, chunks)


def _write_in_chunks(tables: Tables, dates: list[pd.Timestamp], config: Config, target: Path) -> Path:
    """build_indicators(path=...): one customer chunk at a time, streamed into one Parquet file."""
    with atomic_path(target) as tmp:
        writer = None
        try:
            for expr in _chunks(tables, dates, config):
                for batch in expr.to_pyarrow_batches():
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, batch.schema)
                    writer.write_batch(batch.cast(writer.schema) if batch.schema != writer.schema else batch)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no rows at all: an empty file with the panel's columns
            pq.write_table(indicator_expr(tables, dates, config)[0].limit(0).to_pyarrow(), tmp)
    logger.info("indicators written to %s", target)
    return target


def indicator_expr(
    tables: Tables, dates: list[pd.Timestamp], config: Config, table_start: dict[str, int] | None = None
) -> tuple[ir.Table, list[Indicator]]:
    """The indicator panel as one lazy Ibis expression on the tables' backend, and the indicators it holds.

    ``dates`` are checked month starts (:func:`month_starts`). Engines that
    keep results distributed (Spark) use the expression as it is;
    :func:`build_indicators` runs it and returns pandas. ``table_start``
    (first month with data per table) defaults to the tables' own.
    """
    s = config.indicators
    table_start = _table_starts(tables) if table_start is None else table_start
    for name in AGGREGATIONS:
        if name in tables and name not in table_start:
            logger.info("table '%s' is empty: its indicators are skipped", name)
    selected = _select(tables, s, table_start)

    ctx = WindowContext(s, table_start)
    for ind in selected:
        ind.compute(ctx)  # collect the windows
    snapshot_months = [month_index(d) for d in dates]
    lookback = max([-w.lo for w in ctx.windows.values() if w.lo is not None] + [1])
    lower = min(snapshot_months) - lookback - 1  # older months fold into one row there
    parts = panel_parts(tables, s, lower, set(table_start))

    snapshots = ibis.memtable(
        pd.DataFrame({"m": snapshot_months, "as_of": dates, "as_of_epoch": [d.timestamp() for d in dates]})
    )
    windowed = windowed_panel(parts, tables["customers"], snapshot_months, ctx.windows, lower)
    customers = tables["customers"]
    rows = (
        windowed.join(snapshots, "m")
        .join(customers, "customer_id")
        .filter(customers.signup_date.isnull() | (customers.signup_date < snapshots.as_of))
        .mutate(start_m=ibis.coalesce(month_of(customers.signup_date), ibis._.first_seen))
    )
    if any("market_events" in ind.tables for ind in selected):
        rows = _join_market(rows, tables["market_events"], snapshots, s)
    out = WindowContext(s, table_start, rows)
    result = rows.select(
        customer_id=rows.customer_id,
        as_of=rows.as_of,
        **{ind.name: (ind.compute(out).cast("string") if ind.kind == "categorical" else ind.compute(out).cast("float64")) for ind in selected},
    )
    return result, selected


def _table_starts(tables: Tables) -> dict[str, int]:
    """First month with data per present panel or market table (history before it is unobserved, not zero)."""
    firsts = [
        tables[name].aggregate(table=ibis.literal(name), first=tables[name][TIME_COLUMN[name]].min().cast("timestamp"))
        for name in (*AGGREGATIONS, "market_events")
        if name in tables
    ]
    found = ibis.union(*firsts).to_pyarrow().to_pylist() if firsts else []  # one query for every table
    return {row["table"]: month_index(pd.Timestamp(row["first"])) for row in found if row["first"] is not None}


def _select(tables: Tables, s: IndicatorSettings, table_start: dict[str, int]) -> list[Indicator]:
    available = set(table_start) | {"customers"}
    chosen = [REGISTRY[n] for n in (s.only or REGISTRY)]
    missing: dict[str, list[str]] = {}
    keep = []
    for ind in chosen:
        absent = [t for t in ind.tables if t not in available]
        if ind.any_of and not available & set(ind.any_of):  # none of the tables it can read from
            absent.append(" or ".join(ind.any_of))
        if absent:
            for t in absent:
                missing.setdefault(t, []).append(ind.name)
        else:
            keep.append(ind)
    for t, names in sorted(missing.items()):
        logger.info("table '%s' absent: skipping %d indicators (%s)", t, len(names), ", ".join(names))
    return keep


def _join_market(rows: ir.Table, events: ir.Table, snapshots: ir.Table, s: IndicatorSettings) -> ir.Table:
    """Market events of each customer's industry (plus 'all') in the last market_months months."""
    m = month_of(events.date)
    counts = events.group_by([events.industry, m]).aggregate(
        adverse=(events.kind == "policy_adverse").cast("int64").sum(), promo=(events.kind == "competitor_promo").cast("int64").sum()
    )
    per_snapshot = counts.cross_join(snapshots.select(snap_m="m")).filter(
        (ibis._.m >= ibis._.snap_m - s.market_months) & (ibis._.m <= ibis._.snap_m - 1)
    )
    by_industry = per_snapshot.group_by(["industry", "snap_m"]).aggregate(adverse=ibis._.adverse.sum(), promo=ibis._.promo.sum())
    everyone = by_industry.filter(by_industry.industry == "all").select(snap_m="snap_m", all_adverse="adverse", all_promo="promo")
    own = by_industry.filter(by_industry.industry != "all").rename(own_industry="industry")
    rows = rows.left_join(own, [rows.industry == own.own_industry, rows.m == own.snap_m]).drop("own_industry", "snap_m")
    rows = rows.left_join(everyone, rows.m == everyone.snap_m).drop("snap_m")
    known = rows.industry.notnull()
    return rows.mutate(
        market_adverse=known.ifelse(rows.adverse.fill_null(0) + rows.all_adverse.fill_null(0), ibis.null("int64")).cast("float64"),
        market_promo=known.ifelse(rows.promo.fill_null(0) + rows.all_promo.fill_null(0), ibis.null("int64")).cast("float64"),
    )
