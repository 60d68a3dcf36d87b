"""Scoring for other applications: in process (:func:`score`) and over REST (the MLflow pyfunc flavour).

:func:`score` turns raw tables and a model (a ``ChurnModel``, a saved
directory, or an MLflow URI such as ``models:/churnml@champion``) into the
warning list.

Over REST, MLflow loads the model with "models from code": the logged
model's code is :mod:`churnml.ops.pyfunc_model` (three lines that name
:class:`ChurnPyfunc`), its one artifact is the directory
:meth:`ChurnModel.save` wrote. Loading needs only the installed churnml
package.

``predict`` takes a DataFrame of indicator rows: ``customer_id`` plus every
indicator the model was trained with (as from :func:`churnml.build_indicators`;
null for a missing value; the parameter ``allow_missing: true`` scores
without absent ones and names them in ``missing_inputs``) and returns one row
per input row with the warning columns :data:`OUTPUT_COLUMNS` (and, when the
model has a survival model, ``p_churn_<h>d``, ``survival_curve`` and
``expected_active_months``). A request churnml cannot score as asked is
refused with churnml's own message naming the column and a value: 400 for an
absent or non-scalar ``customer_id``, an absent indicator, a value of the
wrong type (``true`` for a number), an infinite one or one beyond 1e15; 413
for more rows than ``serving.max_rows``. The logged signature declares no
input schema, so MLflow passes the request through unconverted (its schema
would turn ``true`` into 1.0 and drop misspelt columns without a word).
Reasons cite comparable customers but not the customer's own value 3 months
earlier, which a single row cannot carry (``ChurnModel.score`` adds it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from churnml.config import load_config
from churnml.constants import MAX_ABS_VALUE
from churnml.data.tables import load_tables
from churnml.model import ChurnModel
from churnml.ops.registry import load_model
from churnml.scoring.warning_list import warning_list

__all__ = ["OUTPUT_COLUMNS", "ChurnPyfunc", "RequestError", "score", "warning_columns"]


def score(
    tables,
    model,
    as_of: str | pd.Timestamp | None = None,
    *,
    explain: str | None = None,
    config=None,
    language: str | None = None,
    allow_missing: bool = False,
) -> pd.DataFrame:
    """The warning list as of one date: every customer once, sorted by level, value at risk, risk.

    Parameters
    ----------
    tables : Tables, dict of DataFrames, or a directory
    model : ChurnModel, path, or MLflow URI (``models:/churnml@champion``)
    as_of : month start, optional
        Default: the month start after the last order.
    explain : {"warned", "all"}, optional
    config : optional
        Only for loading ``tables`` (column mapping); the model keeps its own.
    language : {"en", "zh"}, optional
        Language of the reasons and actions (default: the model's config).
    allow_missing : bool
        Score even without tables the model was trained with (see
        :func:`~churnml.scoring.warning_list.warning_list`).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`churnml.scoring.warning_list.warning_list`.
    """
    churn_model = model if isinstance(model, ChurnModel) else load_model(model)
    tables = load_tables(tables, load_config(config) if config is not None else churn_model.config_)
    return warning_list(churn_model, tables, as_of, explain=explain, language=language, allow_missing=allow_missing)

OUTPUT_COLUMNS = [
    "customer_id",
    "churn_probability",
    "health_score",
    "warning_level",
    "clv",
    "value_at_risk",
    "primary_cause",
    "cause_shares",
    "top_indicators",
    "reasons",
    "action",
    "owner",
    "value_tier",
    "quadrant",
]


class RequestError(MlflowException):
    """A scoring request churnml refuses: its own message and HTTP status (400, or 413 for too many rows)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message, INVALID_PARAMETER_VALUE)
        self.status = status

    def get_http_status_code(self) -> int:
        return self.status

    # MLflow's scoring server rewrites a model's error message to "Failed to predict data '<the whole input>'. Error: ...";
    # the client is to read what is wrong, not a dump of its own request: the first message set is kept
    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_message"):
            self._message = value


def warning_columns(model, rows: pd.DataFrame, allow_missing: bool = False) -> pd.DataFrame:
    """The warning columns for indicator rows; a request that cannot be scored as asked raises :class:`RequestError`."""
    check_request(model, rows, allow_missing)
    rows = rows.assign(customer_id=rows.customer_id.astype(str))
    out = model.predict_frame(rows, allow_missing=allow_missing)
    at = OUTPUT_COLUMNS.index("warning_level") + 1  # the survival model's columns, when there is one, follow the level
    survival = getattr(model, "survival_", None)
    extra = ["missing_inputs"] if "missing_inputs" in out else []
    return out[OUTPUT_COLUMNS[:at] + (survival.columns if survival is not None else []) + OUTPUT_COLUMNS[at:] + extra]


def check_request(model, rows: pd.DataFrame, allow_missing: bool = False) -> None:
    """Refuse, naming the column and a value, what would be scored as something else than asked.

    Raises
    ------
    RequestError
        413 for more rows than ``serving.max_rows``; 400 for no or a bad
        customer_id, an absent indicator (unless ``allow_missing``), a
        value of the wrong type, an infinite one or one beyond 1e15.
    """
    if not isinstance(rows, pd.DataFrame):
        raise RequestError(f"expected a table of indicator rows, got {type(rows).__name__}")
    limit = model.config_.serving.max_rows
    if len(rows) > limit:
        raise RequestError(f"{len(rows):,} rows in one request, more than serving.max_rows ({limit:,}); send smaller batches", 413)
    if "customer_id" not in rows.columns:
        raise RequestError(f"every row needs a customer_id; the columns were {list(rows.columns)[:10]}")
    ids = rows.customer_id
    bad = ids.map(lambda v: isinstance(v, bool) or not isinstance(v, (str, int, np.integer)))
    if bad.any():
        raise RequestError(f"customer_id must be a text or an integer, got {ids[bad].iloc[0]!r} in row {ids.index[bad][0]}")
    try:
        model.schema_.check(rows.columns, allow_missing)
    except ValueError as err:
        raise RequestError(str(err)) from None
    numeric = [c for c in model.schema_.numeric if c in rows]
    # numbers already: one vectorised look for extremes; the column-by-column check only where it can find something
    plain = [c for c in numeric if pd.api.types.is_numeric_dtype(rows[c]) and not pd.api.types.is_bool_dtype(rows[c])]
    flagged = set()
    if plain:
        values = np.abs(rows[plain].to_numpy(dtype="float64", na_value=np.nan))
        flagged = {c for c, bad in zip(plain, (values > MAX_ABS_VALUE).any(axis=0), strict=True) if bad}
    for column in numeric:
        if column in flagged or column not in plain:
            _check_numbers(rows, column)
    for column in model.schema_.categorical:
        if column in rows:
            values = rows[column]
            bad = values.notna() & ~values.map(lambda v: isinstance(v, str))
            if bad.any():
                raise RequestError(_bad_value(rows, column, bad, "a text"))


def _check_numbers(rows: pd.DataFrame, column: str) -> None:
    values = rows[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):  # a numeric column holds no other type
        wrong_type = values.map(lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.number))))
        if wrong_type.any():
            raise RequestError(_bad_value(rows, column, wrong_type, "a number or null"))
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    extreme = np.isinf(numbers) | (numbers.abs() > MAX_ABS_VALUE)
    if extreme.any():
        raise RequestError(_bad_value(rows, column, extreme, f"a finite number within {MAX_ABS_VALUE:.0e}"))


def _bad_value(rows: pd.DataFrame, column: str, bad: pd.Series, expected: str) -> str:
    first = bad.to_numpy().nonzero()[0][0]
    count = int(bad.sum())
    value = rows[column].iloc[first]
    value = value.item() if isinstance(value, np.generic) else value  # as the request wrote it: inf, not np.float64(inf)
    return (
        f"column {column!r}: expected {expected}, got {value!r} for customer_id "
        f"{rows.customer_id.iloc[first]!r}" + (f" (and {count - 1} more row(s))" if count > 1 else "")
    )


class ChurnPyfunc(PythonModel):
    """Loads the saved ChurnModel from the ``churn_model`` artifact and scores indicator rows."""

    def load_context(self, context) -> None:
        self.model = ChurnModel.load(context.artifacts["churn_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return warning_columns(self.model, model_input, allow_missing=bool((params or {}).get("allow_missing", False)))
