"""Validation: rename, cast and check raw tables against the contract, reporting every problem at once.

Each check (:class:`churnml.config.ValidationSettings`) either stops with an
error naming the table, the column and up to five offending values with their
row keys, or keeps (``warn``) or drops (``drop``) the rows and counts them in
the :class:`ValidationReport`. Checks run as queries on the tables' own
backend, one scan per table.

Time stamps are naive and read as UTC: time-zone-aware inputs are converted
to UTC first, so tables with and without zones can be mixed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnml.config import Config, ValidationSettings
from churnml.constants import FUTURE_TOLERANCE, MAX_ABS_VALUE
from churnml.data.schema import ANCHORS, RECORDED_AT, SCHEMA, TIME_COLUMN, TableSpec
from churnml.messages import text

__all__ = ["DataValidationError", "Issue", "ValidationReport", "anchor", "canonicalize", "first_lines", "missing_orders", "table_error"]

logger = logging.getLogger(__name__)

MAX_EXAMPLES = 5


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
        if self.column == "*":  # about the whole table: no rows to count or show
            return text("validation.table_problem", language, table=self.table, expected=self.expected(language))
        return text(
            "validation.issue", language, table=self.table, column=self.column, count=self.count,
            expected=self.expected(language), check=self.check, examples=", ".join(self.examples),
        )


@dataclass
class ValidationReport:
    """Every check that failed, what was done, the rows per table kept, and when the tables were loaded.

    ``loaded`` (naive UTC, to the minute) bounds where the data can end: a
    contract term may be booked to start later, but nothing after the load
    has happened yet.
    """

    issues: list[Issue] = field(default_factory=list)
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    derived: list[str] = field(default_factory=list)
    loaded: pd.Timestamp | None = None

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
        checks = sorted({i.check for i in issues} & set(ValidationSettings.model_fields))  # the ones a setting can let pass
        settings = " / ".join(f"validation.{c}" for c in checks)
        tail = "\n" + text("validation.continue_hint", language, settings=settings) if checks else ""
        super().__init__(f"{text('validation.header', language, count=len(issues))}\n{body}{tail}")


def missing_orders(detail: str = "orders_missing", **params: object) -> Issue:
    """The issue raised when there is no orders table, nor contracts to stand in for it (:data:`~churnml.data.schema.ANCHORS`)."""
    return Issue("missing_column", "orders", "*", 1, (), detail, "error", _params(params))


def anchor(names) -> str | None:
    """The table a load is anchored on: ``orders`` when present, else ``contracts`` (a subscription business), else None."""
    return next((name for name in ANCHORS if name in names), None)


def table_error(check: str, table: str, detail: str, language: str, **params: object) -> DataValidationError:
    """An error about table ``table`` as a whole (no rows to count): ``detail`` is the catalog text, filled with ``params``."""
    return DataValidationError([Issue(check, table, "*", 0, (), detail, "error", _params(params))], language)


def first_lines(exc: Exception, lines: int = 3) -> str:
    """The start of an engine's error message on one line (DuckDB's run to 20 lines of advice)."""
    return " ".join(line.strip() for line in str(exc).strip().splitlines()[:lines])


def _params(values: dict[str, object]) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in values.items())


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


def canonicalize(raw: dict[str, ir.Table], cfg: Config) -> tuple[dict[str, ir.Table], ValidationReport]:
    """Rename, cast and check every table; raise once with every error found.

    Returns the canonical tables (lazy, on the raw tables' backend) and the report.
    """
    report = ValidationReport(loaded=pd.Timestamp.now(tz="UTC").tz_localize(None).floor("min"))
    base = anchor(raw)
    if base is None:
        raise DataValidationError([missing_orders()], cfg.language)

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
        t = _mapped(t, rename)
        if name == "orders" and "order_id" not in t.columns and "order_id" not in mapping:
            # an order log without order numbers (a daily export, a POS dump): each row is one order
            t = t.mutate(order_id=ibis.row_number().cast("string"))
            report.derived.append("orders.order_id")
            logger.info("column 'order_id' absent from 'orders': each row counts as one order")
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
        out[name], issues, report.rows_in[name] = _cast_and_check(t, spec, values, cfg, report.loaded)
        if report.rows_in[name] == 0 and name == base:
            raise table_error("empty_table", name, "empty_table", cfg.language)
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
        out["customers"] = _customers_from(out[base], TIME_COLUMN[base])
        report.derived.append("customers")
        logger.info("table 'customers' absent: derived from %s (signup_date = the first %s)", base, TIME_COLUMN[base])

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
    if base == "orders" and any(i.table == "orders" and i.action != "error" for i in report.issues):  # else every row has both: no scan
        _require_usable_orders(out["orders"], report, cfg.language)
    return out, report


def _require_usable_orders(orders: ir.Table, report: ValidationReport, language: str) -> None:
    """Every later step dates customers by their orders: after drop and warn, at least one must have a customer and a date."""
    usable = int(orders.filter(orders.customer_id.notnull() & orders.order_date.notnull()).count().to_pyarrow().as_py())
    if not usable:
        raise table_error("empty_table", "orders", "no_usable_rows", language, rows=report.rows_in["orders"])


def _mapped(t: ir.Table, columns: dict[str, str]) -> ir.Table:
    """``t`` with each canonical column taken from the user's column it maps to (canonical -> user).

    One user column may fill several canonical ones (a ticket's ``created``
    as both ``opened_at`` and ``first_response_at``), which a rename cannot
    do; a mapped column replaces a same-named one already there.
    """
    if not columns:
        return t
    kept = [c for c in t.columns if c not in columns and c not in columns.values()]
    return t.select(*kept, **{canon: t[user] for canon, user in columns.items()})


def _customers_from(t: ir.Table, column: str) -> ir.Table:
    """One row per customer of ``t`` (orders, or contracts without them), signed up at its first ``column``."""
    return t.group_by("customer_id").aggregate(
        industry=ibis.null("string"),
        segment=ibis.null("string"),
        signup_date=t[column].min(),
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
    if target.is_timestamp() and col.type().is_string():
        # through a zone-aware type: a cast straight to a naive one drops a written offset ('+08:00')
        # instead of applying it; text without an offset is read as UTC (the session zone)
        return col.try_cast(target.copy(timezone="UTC")).cast(target)
    if target.is_string():
        return col.cast(target)
    return col.try_cast(target)


def _cast_and_check(
    t: ir.Table, spec: TableSpec, values: dict[str, dict[str, str]], cfg: Config, loaded: pd.Timestamp
) -> tuple[ir.Table, list[Issue], int]:
    """Return the canonical table, the issues found in it and its row count (``loaded``: the load time, naive UTC)."""
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
        if col.dtype == "float64":  # inf, or a value no currency reaches, crashes the engine's decimal sums
            checks.append(("out_of_range", col.name, new.abs() > MAX_ABS_VALUE, {"limit": f"{MAX_ABS_VALUE:.0e}"}, actions.out_of_range))
        if col.name == RECORDED_AT.get(spec.name):  # a typo such as 2099 would move every default date
            checks.append(("future_date", col.name, new > loaded + pd.Timedelta(FUTURE_TOLERANCE), {"now": f"{loaded:%Y-%m-%d %H:%M}"}, actions.future_date))
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
    try:
        counts = typed.aggregate(
            rows=typed.count(), **{f"c{i}": chk[2].fill_null(False).cast("int64").sum() for i, chk in enumerate(checks)}
        ).to_pandas().iloc[0]
    except Exception as exc:  # noqa: BLE001 - the first full read of a file: a row the reader's sample did not show
        raise table_error("unreadable_file", spec.name, "engine_read", cfg.language, error=first_lines(exc)) from exc
    drop = None
    nulled = {}
    for i, (check, column, bad, params, action) in enumerate(checks):
        n = int(counts[f"c{i}"] or 0)
        if not n:
            continue
        bad = bad.fill_null(False)
        if check == "out_of_range" and action == "warn":  # kept, like an unparseable value, as null: no sum can hold it
            nulled[column] = ibis.ifelse(bad, ibis.null(typed[column].type()), typed[column])
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
            if action == "warn" and spec.name == "customers":
                # every output lists each customer once: their table cannot keep two rows of one, whatever the policy
                logger.warning("duplicate_key: warn keeps one row of each customer id in 'customers' (the first by all columns)")
                action = "drop"
            ex = _examples(dupes, list(key))
            issues.append(Issue("duplicate_key", spec.name, "+".join(key), n_dupes, ex, "duplicate_key", action))
            if action == "drop":
                # keep the first row of each key, deterministically by all columns
                order = [typed[c] for c in spec.column_names]
                typed = typed.mutate(__rank=ibis.row_number().over(group_by=list(key), order_by=order))
                typed = typed.filter(typed.__rank == 0).drop("__rank")

    if drop is not None:
        typed = typed.filter(~drop)
    return typed.mutate(**nulled).select(*spec.column_names), issues, int(counts["rows"])
