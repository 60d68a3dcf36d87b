"""The validated tables: one container for every stage, and the loaders that build it.

Loaders accept a dict of pandas DataFrames, a directory of Parquet/CSV files,
or Ibis tables from any Ibis connection. Every loader validates
(:mod:`churnml.data.validation`) and returns :class:`Tables`: canonical
column names and types as lazy Ibis expressions on one backend, plus the
:class:`~churnml.data.validation.ValidationReport` that counts every excluded
or coerced row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import Config, TableSource, load_config
from churnml.constants import STRAY_SHARE
from churnml.data.schema import ANCHORS, CLOCK, RECORDED_AT, SCHEMA, TIME_COLUMN
from churnml.data.sources import read_table_file, table_files
from churnml.data.validation import DataValidationError, ValidationReport, anchor, canonicalize, missing_orders

__all__ = ["Tables", "from_directory", "from_ibis", "from_pandas", "load_tables"]

logger = logging.getLogger(__name__)


class Tables(Mapping[str, ir.Table]):
    """Validated canonical tables as Ibis expressions on one backend.

    Use it like a read-only dict: ``tables["orders"]`` is an Ibis table,
    ``"invoices" in tables`` says whether a table is present.

    Attributes
    ----------
    con : ibis backend
        The connection every table is bound to.
    report : ValidationReport
        What validation found and did.
    """

    def __init__(self, con: Any, tables: dict[str, ir.Table], report: ValidationReport, sampling: dict | None = None):
        self.con = con
        self._tables = tables
        self.report = report
        self.sampling = sampling  # set by sample_customers; logged with every model trained on these tables
        self._ranges: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]] = {}
        self._ends: dict[str, pd.Timestamp | None] = {}

    @property
    def clock(self) -> tuple[str, ...]:
        """The present tables whose time stamps date the data (:data:`~churnml.data.schema.CLOCK`).

        ``("orders",)`` whenever there is an order log, whatever else is
        loaded; without one (a subscription business), ``contracts`` and
        those of invoices, activity, tickets, interactions and surveys that
        are present.
        """
        base = anchor(self._tables)
        return tuple(name for name in CLOCK[base] if name in self._tables) if base else ()

    def time_range(self, name: str | None = None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """First and last time stamp of table ``name`` (None when empty): one query, remembered.

        Without ``name``, those of the data: the earliest first and the latest
        last over the :attr:`clock` tables (the orders' own when there are
        orders), a contract term booked to start after the load counting as
        ending at the load.
        """
        if name is None:
            ranges = [(lo, self._until_loaded(n, hi)) for n, (lo, hi) in ((n, self.time_range(n)) for n in self.clock)]
            return _earliest([lo for lo, _ in ranges]), _latest([hi for _, hi in ranges])
        if name not in self._ranges:
            t = self[name]
            column = t[TIME_COLUMN[name]]
            got = t.aggregate(lo=column.min(), hi=column.max()).to_pyarrow().to_pylist()[0]
            self._ranges[name] = tuple(None if v is None else pd.Timestamp(v) for v in (got["lo"], got["hi"]))
        return self._ranges[name]

    def data_start(self) -> pd.Timestamp | None:
        """Where the data begin: the first time stamp of the :attr:`clock` tables (the first order, when there are orders)."""
        return self.time_range()[0]

    def data_end(self, name: str | None = None) -> pd.Timestamp | None:
        """The last time stamp of table ``name``'s bulk (None when empty): strays after a month without rows left out, logged.

        Rows beyond a whole calendar month without any, together fewer than
        :data:`~churnml.constants.STRAY_SHARE` of the table (one order typed
        2026-03 in a log that ends in 2025-12), are not where the data ends:
        a default as_of after them would see every customer lapsed. A table
        whose time stamps may lie in the future by design (a contract term
        booked to start next month) is read up to the load time
        (``report.loaded``): nothing after it has happened yet.

        Without ``name``, where the data end: the latest bulk end of the
        :attr:`clock` tables (with orders, exactly the orders' own).
        """
        if name is None:
            return _latest([self.data_end(n) for n in self.clock])
        if name not in self._ends:
            t = self[name]
            last = self.time_range(name)[1]
            if last is not None and self._future_allowed(name) and last > self.report.loaded:  # terms booked ahead: up to the load
                t = t.filter(t[TIME_COLUMN[name]] <= self.report.loaded)
                last = _as_timestamp(t[TIME_COLUMN[name]].max().execute())
            column = t[TIME_COLUMN[name]]
            dated = t.filter(column.notnull())
            months = dated.group_by(month=dated[TIME_COLUMN[name]].truncate("M")).aggregate(rows=dated.count()).to_pandas()
            stray_from = _stray_tail(months.set_index("month").rows)
            if stray_from is not None:
                n = int(t.filter(column >= stray_from).count().execute())
                bulk = pd.Timestamp(t.filter(column < stray_from)[TIME_COLUMN[name]].max().execute())
                logger.warning(
                    "%s: %d row(s) from %s to %s lie beyond a month without any and are not where the data ends (%s); "
                    "check them (a typo in the year?)", name, n, stray_from.date(), last, bulk,
                )
                last = bulk
            self._ends[name] = last
        return self._ends[name]

    def _future_allowed(self, name: str) -> bool:
        """Whether ``name``'s time stamps may lie after the load (validation lets them) and a load time is known."""
        return name not in RECORDED_AT and self.report.loaded is not None

    def _until_loaded(self, name: str, ts: pd.Timestamp | None) -> pd.Timestamp | None:
        return min(ts, self.report.loaded) if ts is not None and self._future_allowed(name) else ts

    def sample_customers(self, fraction: float, seed: int = 0) -> Tables:
        """A random share of the customers, with all their rows in every table.

        The way to train on a customer base larger than one machine: the draw
        (a hash of customer_id and seed) runs on the tables' own engine, such
        as Spark, so only the sample's indicator rows ever reach pandas. Every
        customer has the same chance whatever its behaviour, so churn rates,
        and the calibrated probabilities of a model trained on the sample,
        stay those of the whole base. The draw is deterministic per engine;
        ``sampling`` records it and MLflow logs it with the model.

        Parameters
        ----------
        fraction : float
            Share of customers to keep, in (0, 1].
        seed : int

        Returns
        -------
        Tables
        """
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        tables = self._filtered(lambda t: _bucket(t, seed, 1_000_000) < round(fraction * 1_000_000))
        population = int(self._tables["customers"].count().to_pyarrow().as_py())
        sampled = int(tables["customers"].count().to_pyarrow().as_py())
        logger.info("sampled %d of %d customers (fraction %s, seed %d)", sampled, population, fraction, seed)
        sampling = {"fraction": fraction, "seed": seed, "customers": sampled, "population": population}
        return Tables(self.con, tables, self.report, sampling)

    def customer_bounds(self, chunks: int) -> list[str]:
        """The ``chunks - 1`` customer ids that split the customers, in sorted order, into groups of equal size."""
        if chunks < 1:
            raise ValueError(f"chunks must be at least 1, got {chunks}")
        if chunks == 1:  # one group needs no bound, and no sort of the ids
            return []
        ids = self._tables["customers"].select("customer_id").order_by("customer_id").to_pyarrow().column(0)
        return sorted({ids[len(ids) * i // chunks].as_py() for i in range(1, chunks)} if len(ids) else set())

    def customer_range(self, low: str | None, high: str | None) -> Tables:
        """The customers with ``low <= customer_id < high`` (None: unbounded), with all their rows.

        A range rather than a hash: where files are clustered by customer,
        the engine reads only the row groups of the range. With both bounds
        None, the tables themselves.
        """
        if low is None and high is None:
            return self

        def keep(t: ir.Table) -> ir.BooleanValue:
            inside = ibis.literal(True)
            if low is not None:
                inside &= t.customer_id >= low
            if high is not None:
                inside &= t.customer_id < high
            return inside

        return Tables(self.con, self._filtered(keep), self.report, self.sampling)

    def only_customers(self, ids) -> Tables:
        """The customers among ``ids`` (any iterable of customer ids), with all their rows.

        For work on a few customers of a large base (the win-back list
        explains its lapsed customers at their own loss dates): the engine
        computes their indicators only, through a semi-join, not a list of
        ids spelled into the query. Where the data begin and end stays the
        whole base's: it does not depend on which customers are looked at.
        """
        wanted = ibis.memtable(pd.DataFrame({"customer_id": pd.Series(list(ids), dtype="object").astype("string").drop_duplicates()}))

        def keep(t: ir.Table) -> ir.BooleanValue:
            return t.customer_id.isin(wanted.customer_id.cast(t.customer_id.type()))

        subset = Tables(self.con, self._filtered(keep), self.report, self.sampling)
        for name in self:
            self.data_end(name)
        subset._ranges, subset._ends = dict(self._ranges), dict(self._ends)
        return subset

    def _filtered(self, keep) -> dict[str, ir.Table]:
        # the same rule in every table: a customer is in or out everywhere, and no join is needed
        return {name: (t.filter(keep(t)) if SCHEMA[name].has_customer else t) for name, t in self._tables.items()}

    def __getitem__(self, name: str) -> ir.Table:
        if name not in self._tables:
            raise KeyError(f"table {name!r} is not present; present tables: {sorted(self._tables)}")
        return self._tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={self.report.rows_out.get(k, '?')}" for k in self._tables)
        return f"Tables({sizes})"

    def to_pandas(self, name: str) -> pd.DataFrame:
        """Materialise one canonical table as pandas."""
        return self[name].to_pandas()

    def summary(self) -> pd.DataFrame:
        """Rows, customers and date range per table, one row per present table."""
        rows = []
        for name, t in self._tables.items():
            time_col = TIME_COLUMN[name]
            aggs = {
                "rows": t.count(),
                "first": t[time_col].min(),
                "last": t[time_col].max(),
            }
            if SCHEMA[name].has_customer:
                aggs["customers"] = t.customer_id.nunique()
            got = t.aggregate(**aggs).to_pandas().iloc[0].to_dict()
            rows.append(
                {
                    "table": name,
                    "rows": int(got["rows"]),
                    "customers": int(got["customers"]) if "customers" in got else None,
                    "first": got["first"],
                    "last": got["last"],
                    "dropped": self.report.dropped.get(name, 0),
                }
            )
        return pd.DataFrame(rows).astype({"customers": "Int64"})


def _as_timestamp(value: Any) -> pd.Timestamp | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value)


def _earliest(stamps: list[pd.Timestamp | None]) -> pd.Timestamp | None:
    known = [s for s in stamps if s is not None]
    return min(known) if known else None


def _latest(stamps: list[pd.Timestamp | None]) -> pd.Timestamp | None:
    known = [s for s in stamps if s is not None]
    return max(known) if known else None


def _stray_tail(rows_per_month: pd.Series) -> pd.Timestamp | None:
    """The first month of a stray tail, or None: the earliest gap of a whole month whose later rows are few.

    ``rows_per_month`` counts rows by month start (months without rows absent).

    Examples
    --------
    >>> months = pd.to_datetime(["2025-10-01", "2025-11-01", "2025-12-01", "2026-03-01"])
    >>> _stray_tail(pd.Series([900, 950, 1000, 1], index=months)).date()
    datetime.date(2026, 3, 1)
    >>> _stray_tail(pd.Series([900, 950, 1000, 40], index=months)) is None  # a real, if quiet, month
    True
    """
    counts = rows_per_month.sort_index()
    tail = counts[::-1].cumsum()[::-1]  # rows from each month on
    months = pd.DatetimeIndex(counts.index)
    for i in range(1, len(counts)):
        gap = months[i] > months[i - 1] + pd.DateOffset(months=1)
        if gap and tail.iloc[i] < STRAY_SHARE * tail.iloc[0]:
            return months[i]
    return None


def _bucket(t: ir.Table, seed: int, buckets: int) -> ir.IntegerColumn:
    """A customer's bucket in [0, buckets): a hash of customer_id and seed, the same in every table."""
    return (t.customer_id.concat(f"|{seed}").hash() % buckets).abs()


# --------------------------------------------------------------------------
# Loaders


def load_tables(source: Any, config: Config | str | Path | dict | None = None) -> Tables:
    """Load and validate raw tables from any supported source.

    Parameters
    ----------
    source : dict, path, Tables or Ibis backend
        A dict of table name -> pandas DataFrame or Ibis table, a directory of
        Parquet/CSV files, an Ibis connection, or already loaded ``Tables``
        (returned as is).
    config : Config, path or dict, optional
        Column mapping and validation actions; embedded defaults when None.

    Returns
    -------
    Tables
    """
    if isinstance(source, Tables):
        return source
    if isinstance(source, (str, Path)):
        return from_directory(source, config)
    if isinstance(source, Mapping):
        if all(isinstance(v, pd.DataFrame) for v in source.values()):
            return from_pandas(source, config)
        return from_ibis(source, config)
    if hasattr(source, "list_tables"):
        return from_ibis(source, config)
    raise TypeError(
        "tables must be a dict of DataFrames or Ibis tables, a directory path, or an Ibis "
        f"connection; got {type(source).__name__}"
    )


def _duckdb() -> Any:
    con = ibis.duckdb.connect()
    # Time-zone-aware inputs become naive UTC, whatever the machine's zone.
    con.raw_sql("SET TimeZone = 'UTC'")
    return con


def _source_names(cfg: Config) -> dict[str, str]:
    return {name: (cfg.tables[name].source if name in cfg.tables and cfg.tables[name].source else name) for name in SCHEMA}


def from_pandas(frames: Mapping[str, pd.DataFrame], config: Config | str | Path | dict | None = None) -> Tables:
    """Load tables from a dict of pandas DataFrames keyed by table (or source) name.

    The frames are copied into an in-process DuckDB database.
    """
    cfg = load_config(config)
    con = _duckdb()
    raw = {}
    for name, source in _source_names(cfg).items():
        if source in frames:
            frame = frames[source]
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(f"table '{name}' must be a pandas DataFrame, got {type(frame).__name__}")
            raw[name] = con.create_table(f"raw_{name}", _arrow_ready(frame))
    _reject_unknown(frames, cfg)
    return Tables(con, *canonicalize(raw, cfg))


def _arrow_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in types Arrow converts, so validation names the table and the values instead of Arrow failing.

    Nanosecond time stamps are floored to DuckDB's microseconds (a later
    instant never becomes an earlier one's past): Arrow refuses a value that
    is not a whole microsecond. Object columns mixing types (``read_excel``
    gives floats beside text) become text, and all-null ones typed text, so
    the cast to the contract's type reports what does not parse.
    """
    fixed = {}
    for c, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype) and frame[c].dt.unit == "ns":
            fixed[c] = frame[c].dt.floor("us")
        elif dtype == object and pd.api.types.infer_dtype(frame[c], skipna=True) in _MIXED:
            fixed[c] = frame[c].astype("string")
    return frame.assign(**fixed) if fixed else frame


# pandas' names for object columns Arrow cannot type on its own
_MIXED = {"mixed", "mixed-integer", "mixed-integer-float", "empty"}


def from_directory(path: str | Path, config: Config | str | Path | dict | None = None, *, con: Any = None) -> Tables:
    """Load tables from a directory holding ``<name>.parquet``, ``<name>.csv`` or ``<name>/*.parquet``.

    Files are read lazily (out of core) by ``con``, any Ibis backend that
    reads Parquet: an in-process DuckDB by default, or e.g.
    ``ibis.pyspark.connect(spark)`` to read them with Spark (set the Spark
    session time zone to UTC). Nothing is loaded into pandas.
    """
    cfg = load_config(config)
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"table directory {root} does not exist")
    con = con or _duckdb()
    raw = {}
    for name, source in _source_names(cfg).items():
        if files := table_files(root, source):
            encoding = cfg.tables[name].encoding if name in cfg.tables else TableSource().encoding
            raw[name] = read_table_file(con, name, files, encoding, cfg.language)
    if anchor(raw) is None:  # neither an order log nor contracts standing in for it
        found = sorted(p.name for p in root.iterdir())[:10]
        source = _source_names(cfg)[ANCHORS[0]]
        raise DataValidationError([missing_orders("no_source", source=source, root=root, found=found)], cfg.language)
    return Tables(con, *canonicalize(raw, cfg))


def from_ibis(source: Any, config: Config | str | Path | dict | None = None) -> Tables:
    """Load tables from an Ibis connection (DuckDB file, Spark, ...) or a dict of Ibis tables.

    With a connection, tables are looked up by (mapped) name. All tables must
    live on the same backend.
    """
    cfg = load_config(config)
    if isinstance(source, Mapping):
        tables = {k: v for k, v in source.items()}
        bad = [k for k, v in tables.items() if not isinstance(v, ir.Table)]
        if bad:
            raise TypeError(f"tables {bad} are not Ibis tables; pass all as DataFrames or all as Ibis tables")
        _reject_unknown(tables, cfg)
        raw = {name: tables[src] for name, src in _source_names(cfg).items() if src in tables}
        if not raw:
            raise DataValidationError([missing_orders()], cfg.language)
        con = next(iter(raw.values()))._find_backend()
    else:
        con = source
        present = set(con.list_tables())
        raw = {name: con.table(src) for name, src in _source_names(cfg).items() if src in present}
    return Tables(con, *canonicalize(raw, cfg))


def _reject_unknown(frames: Mapping[str, Any], cfg: Config) -> None:
    known = set(_source_names(cfg).values())
    unknown = sorted(set(frames) - known)
    if unknown:
        raise ValueError(
            f"unknown table name(s) {unknown}; canonical tables are {sorted(SCHEMA)} "
            "(map your names with tables.<name>.source in the config)"
        )
