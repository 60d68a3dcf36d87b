"""The raw-table contract: canonical tables, loaders and validation.

Only ``orders`` is required; every other table is optional and its
indicators are skipped when it is absent. Loaders accept a dict of pandas
DataFrames, a directory of Parquet/CSV files, or Ibis tables from any Ibis
connection. Every loader returns :class:`Tables`: canonical column names and
types as lazy Ibis expressions on one backend, plus a
:class:`ValidationReport` that counts every excluded or coerced row.

Time stamps are naive and read as UTC: time-zone-aware inputs are converted
to UTC first, so tables with and without zones can be mixed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import Config, load_config
from churnml.messages import text

__all__ = [
    "SCHEMA",
    "ColumnSpec",
    "DataValidationError",
    "Issue",
    "TableSpec",
    "Tables",
    "ValidationReport",
    "contract_markdown",
    "from_directory",
    "from_ibis",
    "from_pandas",
    "load_tables",
]

logger = logging.getLogger(__name__)

MAX_EXAMPLES = 5


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
    required: bool = False
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
            "One row per order (or order line). The only required table.",
            (
                _c("order_id", "string", True, "Order identifier; rows sharing one are lines of one order."),
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
            "Customer master data; derived from orders (first order = signup) when absent.",
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
                    "Kind of event.",
                    allowed=("login", "feature_use", "consultation", "other"),
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
            ),
            primary_key=("customer_id", "start_date"),
            date_order=(("start_date", "end_date"), ("start_date", "cancelled_at")),
        ),
        TableSpec(
            "interventions",
            "The strategy-execution table: one row per warning issued, and what the team did about it. "
            "Only read by `churnml kpis` and to keep contacted customers out of training labels.",
            (
                _CUSTOMER,
                _c("warning_date", "timestamp", True, "as_of of the warning list that raised the warning."),
                _c("warning_level", "int64", False, "Warning level then (1 highest, 3 lowest).", non_negative=True),
                _c("primary_cause", "string", False, "Primary cause then.", allowed=("price", "service", "needs_change")),
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


def contract_markdown() -> str:
    """Return the raw-table contract as a Markdown table (used by the docs)."""
    lines = ["| table | column | type | required | meaning |", "|---|---|---|---|---|"]
    for spec in SCHEMA.values():
        for col in spec.columns:
            req = "yes" if col.required else "no"
            lines.append(f"| {spec.name} | {col.name} | {col.dtype} | {req} | {col.description} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Validation results


@dataclass(frozen=True)
class Issue:
    """One failed data check.

    ``detail`` names the catalog text (``validation.<detail>`` in
    :mod:`churnml.messages`) that says what was expected, filled with
    ``params``; the message is available in every catalog language.
    """

    check: str
    table: str
    column: str
    count: int
    examples: tuple[str, ...]
    detail: str
    action: str
    params: tuple[tuple[str, str], ...] = ()

    def expected(self, language: str = "en") -> str:
        return text(f"validation.{self.detail}", language, **dict(self.params))

    def message(self, language: str = "en") -> str:
        if self.check == "missing_column":
            key = "validation.table_missing" if self.column == "*" else "validation.column_missing"
            return text(key, language, table=self.table, column=self.column, expected=self.expected(language))
        return text(
            "validation.issue", language, table=self.table, column=self.column, count=self.count,
            expected=self.expected(language), check=self.check, examples=", ".join(self.examples),
        )


@dataclass
class ValidationReport:
    """Every check that failed, what was done, and the rows per table kept."""

    issues: list[Issue] = field(default_factory=list)
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.action == "error"]

    @property
    def dropped(self) -> dict[str, int]:
        return {t: self.rows_in[t] - self.rows_out[t] for t in self.rows_out if self.rows_in[t] != self.rows_out[t]}

    def to_frame(self) -> pd.DataFrame:
        cols = ["check", "table", "column", "count", "action", "expected", "examples"]
        return pd.DataFrame(
            [[i.check, i.table, i.column, i.count, i.action, i.expected(), list(i.examples)] for i in self.issues],
            columns=cols,
        )


class DataValidationError(ValueError):
    """Raised when input tables break the contract; lists every problem found."""

    def __init__(self, issues: list[Issue], language: str = "en"):
        self.issues = issues
        body = "\n".join(f"  - {i.message(language)}" for i in issues)
        checks = sorted({i.check for i in issues} - {"missing_column"})
        settings = " / ".join(f"validation.{c}" for c in checks)
        tail = "\n" + text("validation.continue_hint", language, settings=settings) if checks else ""
        super().__init__(f"{text('validation.header', language, count=len(issues))}\n{body}{tail}")


# --------------------------------------------------------------------------
# The Tables container


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
            raw[name] = con.create_table(f"raw_{name}", frame)
    _reject_unknown(frames, cfg)
    return _canonicalize(con, raw, cfg)


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
        if (root / f"{source}.parquet").is_file():
            raw[name] = con.read_parquet(root / f"{source}.parquet", table_name=f"raw_{name}")
        elif (root / source).is_dir() and any((root / source).glob("*.parquet")):
            raw[name] = con.read_parquet(str(root / source / "*.parquet"), table_name=f"raw_{name}")
        elif (root / f"{source}.csv").is_file():
            raw[name] = con.read_csv(root / f"{source}.csv", table_name=f"raw_{name}")
    if "orders" not in raw:
        found = sorted(p.name for p in root.iterdir())[:10]
        source = _source_names(cfg)["orders"]
        raise DataValidationError([_missing_orders("no_source", source=source, root=root, found=found)], cfg.language)
    return _canonicalize(con, raw, cfg)


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
            raise DataValidationError([_missing_orders()], cfg.language)
        con = next(iter(raw.values()))._find_backend()
    else:
        con = source
        present = set(con.list_tables())
        raw = {name: con.table(src) for name, src in _source_names(cfg).items() if src in present}
    return _canonicalize(con, raw, cfg)


def _missing_orders(detail: str = "orders_missing", **params: object) -> Issue:
    return Issue("missing_column", "orders", "*", 1, (), detail, "error", _params(params))


def _params(values: dict[str, object]) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in values.items())


def _reject_unknown(frames: Mapping[str, Any], cfg: Config) -> None:
    known = set(_source_names(cfg).values())
    unknown = sorted(set(frames) - known)
    if unknown:
        raise ValueError(
            f"unknown table name(s) {unknown}; canonical tables are {sorted(SCHEMA)} "
            "(map your names with tables.<name>.source in the config)"
        )


# --------------------------------------------------------------------------
# Canonicalisation and checks


def _examples(expr: ir.Table, columns: list[str]) -> tuple[str, ...]:
    df = expr.select(*columns).limit(MAX_EXAMPLES).to_pandas()
    out = []
    for row in df.itertuples(index=False):
        shown = [f"{c}={v!r}" for c, v in zip(columns, row, strict=True)]
        out.append(f"({', '.join(shown)})" if len(columns) > 1 else repr(row[0]))
    return tuple(out)


def _key_columns(spec: TableSpec, column: str, available: list[str]) -> list[str]:
    keys = [k for k in (spec.primary_key or ("customer_id",)) if k in available and k != column]
    return [*keys, column]


def _canonicalize(con: Any, raw: dict[str, ir.Table], cfg: Config) -> Tables:
    """Rename, cast and check every table; raise once with every error found."""
    report = ValidationReport()
    if "orders" not in raw:
        raise DataValidationError([_missing_orders()], cfg.language)

    # 1. Required columns, all tables at once.
    missing: list[Issue] = []
    renamed: dict[str, ir.Table] = {}
    for name, t in raw.items():
        spec = SCHEMA[name]
        mapping = cfg.tables[name].columns if name in cfg.tables else {}
        have = set(t.columns)
        rename = {canon: user for canon, user in mapping.items() if user in have}
        present = sorted(have)[:20]
        for canon, user in mapping.items():
            if user not in have and canon in spec.required_columns:
                params = _params({"user": user, "canon": canon, "present": present})
                missing.append(Issue("missing_column", name, canon, 1, (), "mapped_column", "error", params))
        t = t.rename(rename) if rename else t
        for canon in spec.required_columns:
            if canon not in t.columns and canon not in mapping:
                params = _params({"dtype": spec.column(canon).dtype, "table": name, "canon": canon, "present": present})
                missing.append(Issue("missing_column", name, canon, 1, (), "required_column", "error", params))
        renamed[name] = t
    if missing:
        raise DataValidationError(missing, cfg.language)

    # 2. Cast to canonical types, counting values that do not parse.
    out: dict[str, ir.Table] = {}
    for name, t in renamed.items():
        spec = SCHEMA[name]
        values = cfg.tables[name].values if name in cfg.tables else {}
        out[name], issues, report.rows_in[name] = _cast_and_check(t, spec, values, cfg)
        if report.rows_in[name] == 0 and spec.required:
            raise DataValidationError([Issue("null_value", name, "*", 0, (), "empty_table", "error")], cfg.language)
        report.issues.extend(issues)

    # 3. Rows that reference customers the customers table does not know.
    if "customers" in out:
        known = out["customers"].select("customer_id")
        for name, t in out.items():
            if name == "customers" or not SCHEMA[name].has_customer:
                continue
            orphan = t.anti_join(known, "customer_id")
            n = int(orphan.count().to_pyarrow().as_py())
            if n:
                action = cfg.validation.unknown_customer
                report.issues.append(
                    Issue(
                        "unknown_customer",
                        name,
                        "customer_id",
                        n,
                        tuple(orphan.select("customer_id").distinct().limit(MAX_EXAMPLES).to_pandas().customer_id.map(repr)),
                        "unknown_customer",
                        action,
                    )
                )
                if action == "drop":
                    out[name] = t.semi_join(known, "customer_id")
    else:
        out["customers"] = _customers_from_orders(out["orders"])
        report.derived.append("customers")
        logger.info("table 'customers' absent: derived from orders (signup_date = first order)")

    for issue in report.issues:
        if issue.action != "error":
            logger.warning("%s -> %s", issue.message(), "rows dropped" if issue.action == "drop" else "kept")
    if report.errors:
        raise DataValidationError(report.errors, cfg.language)
    changed = {i.table for i in report.issues if i.action == "drop"} | set(report.derived)
    for name, t in out.items():  # count again only where rows were dropped or derived
        report.rows_out[name] = int(t.count().to_pyarrow().as_py()) if name in changed else report.rows_in[name]
        report.rows_in.setdefault(name, report.rows_out[name])
    for name, n in report.dropped.items():
        logger.warning("table '%s': %d of %d rows excluded by validation", name, n, report.rows_in[name])
    return Tables(con, out, report)


def _bucket(t: ir.Table, seed: int, buckets: int) -> ir.IntegerColumn:
    """A customer's bucket in [0, buckets): a hash of customer_id and seed, the same in every table."""
    return (t.customer_id.concat(f"|{seed}").hash() % buckets).abs()


def _customers_from_orders(orders: ir.Table) -> ir.Table:
    return orders.group_by("customer_id").aggregate(
        industry=ibis.null("string"),
        segment=ibis.null("string"),
        signup_date=orders.order_date.min(),
        region=ibis.null("string"),
        contract_end_date=ibis.null("timestamp"),
    )


def _cast(col: ir.Column, dtype: str) -> ir.Column:
    target = ibis.dtype(dtype)
    if col.type().copy(nullable=True) == target:
        return col
    if target.is_timestamp() and (col.type().is_timestamp() or col.type().is_date()):
        # zone-aware -> naive UTC (the session zone is UTC); any precision -> one type
        return col.cast(target)
    if target.is_string():
        return col.cast(target)
    return col.try_cast(target)


def _cast_and_check(t: ir.Table, spec: TableSpec, values: dict[str, dict[str, str]], cfg: Config) -> tuple[ir.Table, list[Issue], int]:
    """Return the canonical table, the issues found in it and its row count."""
    actions = cfg.validation
    present = [c for c in spec.columns if c.name in t.columns]
    cast = {}
    for col in present:
        expr = t[col.name]
        if col.name in values and values[col.name]:
            expr = expr.cast("string").substitute(values[col.name])
        if col.allowed:  # 'Complaint ' and 'complaint' are the same category
            # a regex, not strip(): Ibis 12 compiles strip() on Spark to TRIM(' \t\n\r\v\f' FROM x),
            # which Spark reads as "trim the letter f" ('feedback' -> 'eedback')
            expr = expr.cast("string").re_replace(r"^\s+|\s+$", "").lower()
        cast[col.name] = _cast(expr, col.dtype)
    # Optional columns absent from the input become typed nulls so that
    # downstream code sees one schema.
    for col in spec.columns:
        if col.name not in cast:
            cast[col.name] = ibis.null(col.dtype)
    typed = t.select(**{name: cast[name] for name in spec.column_names}, **{f"__raw_{c.name}": t[c.name] for c in present})

    # check, column, bad rows, parameters of the check's catalog text, action
    checks: list[tuple[str, str, ir.BooleanColumn, dict, str]] = []
    for col in present:
        raw, new = typed[f"__raw_{col.name}"], typed[col.name]
        if col.dtype != "string":
            checks.append(("unparseable", col.name, raw.notnull() & new.isnull(), {"dtype": col.dtype}, actions.unparseable))
        if col.required:
            checks.append(("null_value", col.name, raw.isnull(), {}, actions.null_value))
        if col.non_negative:
            checks.append(("negative_value", col.name, new < 0, {}, actions.negative_value))
        if col.allowed:
            outside = new.notnull() & ~new.isin(list(col.allowed))
            checks.append(("unknown_value", col.name, outside, {"allowed": list(col.allowed), "table": spec.name}, actions.unknown_value))
    for earlier, later in spec.date_order:
        if earlier in t.columns and later in t.columns:
            checks.append(("date_order", later, typed[later] < typed[earlier], {"earlier": earlier}, actions.date_order))

    issues: list[Issue] = []
    # one scan counts the rows and every check's failures
    counts = typed.aggregate(
        rows=typed.count(), **{f"c{i}": chk[2].fill_null(False).cast("int64").sum() for i, chk in enumerate(checks)}
    ).to_pandas().iloc[0]
    drop = None
    for i, (check, column, bad, params, action) in enumerate(checks):
        n = int(counts[f"c{i}"] or 0)
        if not n:
            continue
        bad = bad.fill_null(False)
        # show the value as the user wrote it, beside the row's key
        show = [f"__raw_{c}" if c == column else c for c in _key_columns(spec, column, list(t.columns))]
        examples = tuple(e.replace(f"__raw_{column}=", f"{column}=") for e in _examples(typed.filter(bad), show))
        issues.append(Issue(check, spec.name, column, n, examples, check, action, _params(params)))
        if action == "drop":
            drop = bad if drop is None else (drop | bad)

    for key in [spec.primary_key] if spec.primary_key and spec.key_is_unique else []:
        if not all(k in t.columns for k in key):
            continue
        dupes = typed.group_by(list(key)).aggregate(dup_rows=typed.count()).filter(lambda d: d.dup_rows > 1)
        n_dupes = int(dupes.dup_rows.sum().to_pyarrow().as_py() or 0)
        if n_dupes:
            action = actions.duplicate_key
            ex = _examples(dupes, list(key))
            issues.append(Issue("duplicate_key", spec.name, "+".join(key), n_dupes, ex, "duplicate_key", action))
            if action == "drop":
                # keep the first row of each key, deterministically by all columns
                order = [typed[c] for c in spec.column_names]
                typed = typed.mutate(__rank=ibis.row_number().over(group_by=list(key), order_by=order))
                typed = typed.filter(typed.__rank == 0).drop("__rank")

    if drop is not None:
        typed = typed.filter(~drop)
    return typed.select(*spec.column_names), issues, int(counts["rows"])
