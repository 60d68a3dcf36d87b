"""Files of a table directory: find each table's one file and open it lazily, or say which file is wrong and how.

A table is ``<source>.parquet``, ``<source>/*.parquet`` or ``<source>.csv``;
two of them for one table is an error (which one is meant cannot be guessed).
A CSV is checked to decode in its configured encoding (``tables.<name>.encoding``)
before the engine reads it, its quote is the standard ``"``, and a file the engine splits into one column (a
broken quote, ragged rows) is read again with the delimiter of its header
line, so the error names the file and the line.
"""

from __future__ import annotations

import codecs
import csv
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import ibis.expr.types as ir

from churnml.data.validation import first_lines, table_error

__all__ = ["read_table_file", "table_files"]

_CHUNK = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")


def table_files(root: Path, source: str) -> list[Path]:
    """Every file or Parquet directory in ``root`` that could be the table ``source``."""
    candidates = [root / f"{source}.parquet", root / source, root / f"{source}.csv"]
    return [p for p in candidates if p.is_file() or (p.is_dir() and any(p.glob("*.parquet")))]


def read_table_file(con: Any, name: str, files: list[Path], encoding: str, language: str) -> ir.Table:
    """Open table ``name`` from its one file in ``files`` on ``con``; a :class:`DataValidationError` names what is wrong."""
    if len(files) > 1:
        raise table_error("unreadable_file", name, "ambiguous_files", language, files=", ".join(p.name for p in files), root=files[0].parent)
    path = files[0]
    if path.is_dir():
        return con.read_parquet(str(path / "*.parquet"), table_name=f"raw_{name}")
    if path.suffix == ".parquet":
        return con.read_parquet(path, table_name=f"raw_{name}")
    return _read_csv(con, name, path, encoding, language)


def _read_csv(con: Any, name: str, path: Path, encoding: str, language: str) -> ir.Table:
    utf8 = codecs.lookup(encoding).name == "utf-8"
    problem = _undecodable(path, encoding)
    if problem:
        raise table_error("unreadable_file", name, "csv_encoding", language, file=path, encoding=encoding, where=problem)
    readable = path if utf8 else _utf8_copy(con, path, encoding)
    try:
        # the standard quote, always: a sniffer free to choose "no quoting" keeps the quotes in the values
        table = con.read_csv(readable, table_name=f"raw_{name}", quote='"', skip=0)
        if len(table.columns) == 1 and any(d in table.columns[0] for d in _DELIMITERS):
            # the sniffer gave up on the dialect: read as text in the header's dialect, so the error names the line
            delimiter = next(d for d in _DELIMITERS if d in table.columns[0])
            with readable.open(encoding="utf-8", newline="") as f:
                header = next(csv.reader(f, delimiter=delimiter))
            text_columns = dict.fromkeys(header, "VARCHAR")
            table = con.read_csv(
                readable, table_name=f"raw_{name}", delim=delimiter, quote='"', header=True, auto_detect=False, columns=text_columns
            )
            table.count().execute()
    except Exception as exc:  # noqa: BLE001 - any engine's read error becomes one message naming the file
        raise table_error("unreadable_file", name, "csv_unreadable", language, file=path, error=first_lines(exc)) from exc
    return table


def _undecodable(path: Path, encoding: str) -> str | None:
    """Where ``path`` stops decoding in ``encoding`` (line and byte), or None: one streaming pass."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = lines = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                line = lines + chunk[: err.start].count(b"\n") + 1
                return f"line {line}, byte {offset + err.start}"
            offset += len(chunk)
            lines += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return f"the end of the file, byte {offset}"
    return None


def _utf8_copy(con: Any, path: Path, encoding: str) -> Path:
    """A UTF-8 copy of ``path`` that lives as long as ``con``: DuckDB reads only UTF-8, UTF-16 and Latin-1 without extensions."""
    folder = Path(tempfile.mkdtemp(prefix="churnml-csv-"))
    weakref.finalize(con, shutil.rmtree, folder, True)
    copy = folder / path.name
    with path.open(encoding=encoding, newline="") as src, copy.open("w", encoding="utf-8", newline="") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
    return copy
