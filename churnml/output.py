"""Files for machines and for people: Parquet with codes, and a CSV in words that Excel opens.

Every table churnml writes for others (the warning list, the KPIs) goes
through :func:`write_outputs`: ``<stem>.parquet`` keeps the codes and exact
values, ``<stem>.csv`` is :func:`for_people` in the chosen language (codes in
words, headers translated), UTF-8 with a byte-order mark so that Excel reads
Chinese correctly. Both are written atomically (:func:`churnml.files.atomic_path`).
No text cell of the CSV starts a formula: a cell a spreadsheet would run
(first character, or first after leading blanks, one of ``= + - @``, tab,
carriage return) gets a leading ``'``, as OWASP recommends against CSV
injection; numeric columns and the Parquet file are kept exact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from churnml.files import atomic_path
from churnml.messages import catalog

__all__ = ["CODES", "for_people", "write_outputs"]


# Columns holding codes, and the catalog section that puts each code in words.
CODES = {
    "status": "status", "warning_level": "level", "primary_cause": "cause", "owner": "owner",
    "value_tier": "value_tier", "quadrant": "quadrant", "control": "yes_no", "warning_level_at_loss": "level",
}


def _as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """Dicts and lists as JSON text, which every file format can hold."""
    flat = frame.copy()
    for column in flat.columns:
        if flat[column].map(lambda v: isinstance(v, (dict, list))).any():
            flat[column] = flat[column].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
    return flat


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    """Text a spreadsheet would run as a formula, prefixed with ``'`` so that it shows as text; anything else as it is."""
    if isinstance(value, str) and (value.startswith(FORMULA_START) or value.lstrip().startswith(FORMULA_START)):
        return "'" + value
    return value


def _without_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell (and header) made inert; numeric, boolean and date columns untouched."""
    safe = frame.copy()
    for i, (_, values) in enumerate(safe.items()):
        if values.dtype == object or isinstance(values.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            safe.isetitem(i, values.astype(object).map(_inert))
    safe.columns = [_inert(c) for c in safe.columns]
    return safe


def for_people(frame: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """A table as people read it: codes in words and column headers in ``language``.

    Warning levels, causes, departments, value tiers, quadrants, statuses and
    the control flag become their catalog names; cause shares become
    "price-sensitive 62%; ..." and lists of reasons one text. Other columns
    are kept as they are.

    Examples
    --------
    >>> frame = pd.DataFrame({"customer_id": ["c1"], "warning_level": [1], "primary_cause": ["service"], "owner": ["finance"]})
    >>> for_people(frame, "zh").iloc[0].to_dict()
    {'客户编号': 'c1', '预警等级': '一级预警：流失风险最高，紧急处理', '流失原因': '服务不满型', '负责部门': '财务部'}
    """
    words = catalog(language)
    separator = words["reason_context.separator"]
    out = frame.copy()
    for column, section in CODES.items():
        if column in out:
            out[column] = out[column].map(lambda v, s=section: words.get(f"{s}.{str(v).lower()}", v) if pd.notna(v) else v)
    if "cause_shares" in out:
        out["cause_shares"] = out.cause_shares.map(
            lambda shares: separator.join(f"{words[f'cause.{c}']} {v:.0%}" for c, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v > 0)
            if isinstance(shares, dict) else shares
        )
    for column in ("reasons", "top_indicators"):
        if column in out:
            out[column] = out[column].map(lambda items: separator.join(items) if isinstance(items, list) else items)
    return out.rename(columns=lambda c: _header(c, words))


def _header(column: str, words: dict[str, str]) -> str:
    """A column's header in the catalog's language; ``p_churn_<h>d`` for any horizon ``h``."""
    horizon = re.fullmatch(r"p_churn_(\d+)d", column)
    if horizon:
        return words["column.p_churn_horizon"].format(days=horizon.group(1))
    return words.get(f"column.{column}", column)


def write_outputs(frame: pd.DataFrame, stem: str | Path, language: str | None = None) -> list[Path]:
    """Write ``<stem>.parquet`` for machines and ``<stem>.csv`` for people, each to a temporary file renamed into place.

    The Parquet file keeps the frame's columns and codes. The CSV file is
    :func:`for_people` in ``language`` (default: the language the warning
    list was scored in, else English), UTF-8 with a byte-order mark so that
    Excel opens Chinese text correctly, with no text cell that starts a
    formula (see the module docstring) and RFC 4180 line ends, so that a
    carriage return inside a cell is quoted. Both files are written whole
    before either is renamed into place, so a crash mid-write leaves the
    previous pair as it was (a kill can fall only between the two renames).
    """
    stem = Path(stem)
    machines, people = _as_json(frame), _without_formulas(_as_json(for_people(frame, language or frame.attrs.get("language", "en"))))
    parquet, csv = stem.with_suffix(".parquet"), stem.with_suffix(".csv")
    with atomic_path(parquet) as machines_tmp, atomic_path(csv) as people_tmp:
        machines.to_parquet(machines_tmp, index=False)
        people.to_csv(people_tmp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return [parquet, csv]
