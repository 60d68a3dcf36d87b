"""Scoring for other applications: in process (:func:`score`) and over REST (the MLflow pyfunc flavour).

:func:`score` turns raw tables and a model (a ``ChurnModel``, a saved
directory, or an MLflow URI such as ``models:/churnml@champion``) into the
warning list.

Over REST, MLflow loads the model with "models from code": the logged
model's code is :mod:`churnml.ops.pyfunc_model` (three lines that name
:class:`ChurnPyfunc`), its one artifact is the directory
:meth:`ChurnModel.save` wrote. Loading needs only the installed churnml
package.

``predict`` takes a DataFrame of indicator rows: ``customer_id`` plus any
indicator columns (as from :func:`churnml.build_indicators`; absent
indicators count as missing values, extra columns are ignored) and returns
one row per input row with the warning columns :data:`OUTPUT_COLUMNS` (and,
when the model has a survival model, ``p_churn_<h>d``, ``survival_curve`` and
``expected_active_months``).
Reasons cite comparable customers but not the customer's own value 3 months
earlier, which a single row cannot carry (``ChurnModel.score`` adds it).
"""

from __future__ import annotations

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from churnml.config import load_config
from churnml.data.tables import load_tables
from churnml.model import ChurnModel
from churnml.ops.registry import load_model
from churnml.scoring.warning_list import warning_list

__all__ = ["OUTPUT_COLUMNS", "ChurnPyfunc", "score", "warning_columns"]


def score(
    tables, model, as_of: str | pd.Timestamp | None = None, *, explain: str | None = None, config=None, language: str | None = None
) -> pd.DataFrame:
    """The warning list as of one date: every customer once, sorted by level, value, risk.

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

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`churnml.scoring.warning_list.warning_list`.
    """
    churn_model = model if isinstance(model, ChurnModel) else load_model(model)
    tables = load_tables(tables, load_config(config) if config is not None else churn_model.config_)
    return warning_list(churn_model, tables, as_of, explain=explain, language=language)

OUTPUT_COLUMNS = [
    "customer_id",
    "churn_probability",
    "health_score",
    "warning_level",
    "primary_cause",
    "cause_shares",
    "top_indicators",
    "reasons",
    "action",
    "owner",
    "value_tier",
    "quadrant",
]


def warning_columns(model, rows: pd.DataFrame) -> pd.DataFrame:
    """The warning columns for indicator rows; bad input raises an MLflow 400 error naming the problem."""
    if not isinstance(rows, pd.DataFrame):
        raise MlflowException(f"expected a table of indicator rows, got {type(rows).__name__}", INVALID_PARAMETER_VALUE)
    if "customer_id" not in rows.columns:
        raise MlflowException(
            f"every row needs a customer_id; got columns {list(rows.columns)[:10]}", INVALID_PARAMETER_VALUE
        )
    if rows.customer_id.isna().any():
        raise MlflowException("customer_id must not be null", INVALID_PARAMETER_VALUE)
    rows = rows.assign(customer_id=rows.customer_id.astype(str))
    out = model.predict_frame(rows)
    at = OUTPUT_COLUMNS.index("warning_level") + 1  # the survival model's columns, when there is one, follow the level
    survival = getattr(model, "survival_", None)
    return out[OUTPUT_COLUMNS[:at] + (survival.columns if survival is not None else []) + OUTPUT_COLUMNS[at:]]


class ChurnPyfunc(PythonModel):
    """Loads the saved ChurnModel from the ``churn_model`` artifact and scores indicator rows."""

    def load_context(self, context) -> None:
        self.model = ChurnModel.load(context.artifacts["churn_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return warning_columns(self.model, model_input)
