"""The warning list on Spark, for customer bases larger than one machine.

The same code as the local path, distributed:

1. raw tables read by Spark through Ibis' pyspark backend
   (``cm.tables.from_directory(path, con=ibis.pyspark.connect(spark))``);
2. the indicator panel (as of the date and 3 months earlier, for the
   reasons), who can be scored, and the last order and interaction dates, as
   one Ibis expression compiled to a Spark DataFrame: nothing is collected on
   the driver;
3. scoring with ``mapInPandas``: each partition runs
   :meth:`ChurnModel.predict_frame` on its rows (``mlflow.pyfunc.spark_udf``
   cannot carry the map and array columns of the warning list), so health
   score, level, causes, reasons and actions are the local path's;
4. sorted like the local list (level, value at risk, risk) and written as Parquet by
   Spark.

The model travels to the executors inside the task closure (a few MB); load
it from the registry with ``churnml.load_model("models:/churnml@champion")``
or pass the URI.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import ibis
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from churnml.data.calendar import scoring_dates
from churnml.data.tables import Tables
from churnml.indicators.build import indicator_expr
from churnml.labels import scoring_expr
from churnml.model import NOT_FITTED, ChurnModel
from churnml.ops.registry import load_model
from churnml.scoring.control import mark_control
from churnml.scoring.warning_list import LAST_EVENTS, RANK, VALUE_DECIMALS, last_event_expr, score_rows

__all__ = ["WARNING_FIELDS", "score_spark", "warning_fields", "write_spark"]

logger = logging.getLogger(__name__)

EARLIER = "earlier__"  # prefix of the columns holding the indicators 3 months earlier
VALUE = "__value"  # value at risk, rounded: the second sort key

WARNING_FIELDS = [
    ("customer_id", "string"),
    ("as_of", "timestamp"),
    ("status", "string"),
    ("churn_probability", "double"),
    ("health_score", "double"),
    ("warning_level", "long"),
    ("clv", "double"),
    ("value_at_risk", "double"),
    ("value_tier", "string"),
    ("quadrant", "string"),
    ("primary_cause", "string"),
    ("cause_shares", "map<string, double>"),
    ("top_indicators", "array<string>"),
    ("reasons", "array<string>"),
    ("action", "string"),
    ("owner", "string"),
    ("return_probability", "double"),
    ("control", "boolean"),
    ("last_order_date", "timestamp"),
    ("last_interaction_date", "timestamp"),
]

def warning_fields(model: ChurnModel) -> list[tuple[str, str]]:
    """The warning list's Spark fields for one model: :data:`WARNING_FIELDS`, plus its survival columns."""
    survival = getattr(model, "survival_", None)
    if survival is None:
        return WARNING_FIELDS
    extra = [(name, "array<double>" if name == "survival_curve" else "double") for name in survival.columns]
    at = [name for name, _ in WARNING_FIELDS].index("value_at_risk") + 1  # where predict_frame puts them
    return WARNING_FIELDS[:at] + extra + WARNING_FIELDS[at:]


def _score_batches(
    batches: Iterator[pd.DataFrame], model, explain: str | None, indicators: list[str], language: str
) -> Iterator[pd.DataFrame]:
    """mapInPandas body: the local path's warning columns for each batch of rows."""
    settings = model.config_.kpis
    fields = warning_fields(model)
    nested = [name for name, kind in fields if kind.startswith(("map", "array"))]
    for batch in batches:
        batch = batch.reset_index(drop=True)
        numbered = batch.status.isin(["scored", "lapsed"])
        out = batch[["customer_id", "as_of", "status", "last_order_date", "last_interaction_date"]].copy()
        rows = batch.loc[numbered, ["customer_id", "as_of", *indicators]]
        earlier = batch.loc[batch.status == "scored", ["customer_id", *(EARLIER + c for c in indicators)]]
        earlier.columns = ["customer_id", *indicators]
        out = out.join(score_rows(model, rows, batch.status[numbered], earlier, explain=explain, language=language))
        out[VALUE] = out.value_at_risk.round(VALUE_DECIMALS)
        out["warning_level"] = out.warning_level.fillna(0).astype("int64")
        out = mark_control(out, settings, language)
        for name in nested:  # Arrow takes None, not NaN, for a missing map or array
            out[name] = out[name].astype(object).where(out[name].notna(), None)
        yield out[[name for name, _ in fields] + [VALUE]]


def score_spark(
    tables: Tables, model, as_of: str | pd.Timestamp | None = None, *, explain: str | None = None, language: str | None = None
):
    """The warning list as a Spark DataFrame: every customer of the customers table once.

    Parameters
    ----------
    tables : Tables
        Loaded on an Ibis pyspark connection.
    model : ChurnModel, saved directory, or MLflow URI
    as_of : month start, optional
        Default: the month start after the last order.
    explain : {"warned", "all"}, optional
    language : {"en", "zh"}, optional
        Language of the reasons and actions (default: the model's config).

    Returns
    -------
    pyspark.sql.DataFrame
        The columns of :func:`churnml.score` (:func:`warning_fields`), sorted by
        warning level, value at risk and risk like the local list.
    """
    if getattr(tables.con, "name", None) != "pyspark":
        raise ValueError(
            f"score_spark needs tables on Spark (from_directory(..., con=ibis.pyspark.connect(spark))), not on {tables.con.name}; "
            "use churnml.score for the local path"
        )
    churn_model = model if isinstance(model, ChurnModel) else load_model(model)
    check_is_fitted(churn_model, "fitted_", msg=NOT_FITTED)
    cfg = churn_model.config_
    when, dates = scoring_dates(tables, as_of, cfg.indicators.recent_months)
    panel, selected = indicator_expr(tables, dates, cfg)
    indicators = [ind.name for ind in selected]
    churn_model.schema_.check(indicators)  # the local path's refusal, before the work is distributed

    now = panel.filter(panel.as_of == when)
    before = panel.filter(panel.as_of == dates[0]) if len(dates) == 2 else now.filter(ibis.literal(False))
    before = before.select(customer_id=before.customer_id, **{EARLIER + c: before[c] for c in indicators})
    status = scoring_expr(tables, when, cfg)
    rows = status.left_join(now.drop("as_of"), status.customer_id == now.customer_id).drop("customer_id_right")
    rows = rows.left_join(before, rows.customer_id == before.customer_id).drop("customer_id_right")
    for name, column, out in LAST_EVENTS:
        if name in tables:
            last = last_event_expr(tables, name, column, out, when)
            rows = rows.left_join(last, rows.customer_id == last.customer_id).drop("customer_id_right")
        else:
            rows = rows.mutate(**{out: ibis.null("timestamp")})
    rows = rows.mutate(as_of=ibis.literal(when))
    logger.info("warning list as of %s on Spark: %d indicators, model %s", when.date(), len(indicators), churn_model.fitted_.name)

    # a temporary Spark view keeps everything distributed; the name is unique per call
    view = f"churnml_warning_rows_{uuid.uuid4().hex}"
    tables.con.create_view(view, rows)
    frame = tables.con.raw_sql(f"SELECT * FROM {view}")
    schema = ", ".join(f"{name} {kind}" for name, kind in warning_fields(churn_model)) + f", {VALUE} double"
    body = partial(_score_batches, model=churn_model, explain=explain, indicators=indicators, language=language or cfg.language)
    scored = frame.mapInPandas(body, schema)

    from pyspark.sql import functions as F

    status, level = F.col("status"), F.col("warning_level")
    rank = (
        F.when(status == "lapsed", RANK["lapsed"]).when(status != "scored", RANK["unscored"])
        .when(level == 0, RANK["no_warning"]).otherwise(level)
    )
    ordered = scored.orderBy(
        rank.asc(), F.col(VALUE).desc_nulls_last(), F.col("churn_probability").desc_nulls_last(),
        F.col("return_probability").desc_nulls_last(), F.col("customer_id").asc(),
    )
    return ordered.drop(VALUE)


def write_spark(warnings, path: str | Path) -> str:
    """Write a Spark warning list as Parquet (Spark's committer: files appear only when the job succeeds)."""
    target = str(path)
    warnings.write.mode("overwrite").parquet(target)
    return target
