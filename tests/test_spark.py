"""The same indicator code on Spark (Ibis' pyspark backend, local mode) gives DuckDB's values.

Skips only when Java is missing; pyspark itself comes with the project's
``spark`` extra, which the test command installs.
"""

import shutil

import ibis
import pandas as pd
import pytest

import churnml as cm
from churnml.datasets import SAMPLE_DIR
from churnml.indicators import build_indicators

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed: Spark cannot start"),
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("churnml-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        # the indicator query is wide; skip whole-stage code generation rather than log its fallback
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_indicators_on_spark_equal_duckdb_on_the_bundled_sample(spark):
    dates = ["2025-05-01", "2025-06-01", "2025-07-01"]
    on_spark = build_indicators(cm.tables.from_directory(SAMPLE_DIR, con=ibis.pyspark.connect(spark)), dates)
    on_duckdb = build_indicators(cm.datasets.load_sample(), dates)
    assert len(on_duckdb) > 5000
    pd.testing.assert_frame_equal(on_duckdb, on_spark, check_exact=False, rtol=1e-9, atol=1e-9)


def test_validation_errors_are_the_same_on_spark(spark, tmp_path):
    when = pd.to_datetime(["2024-01-01", "2024-02-01"])
    pd.DataFrame({"order_id": [1, 2], "customer_id": ["a", "b"], "order_date": when, "amount": [1.0, 2.0]}).to_parquet(tmp_path / "orders.parquet")
    invoices = {"invoice_id": ["i1", "i1"], "customer_id": ["a", "b"], "issue_date": when, "amount": [1.0, -2.0]}
    pd.DataFrame(invoices).to_parquet(tmp_path / "invoices.parquet")
    with pytest.raises(cm.DataValidationError) as err:
        cm.tables.from_directory(tmp_path, con=ibis.pyspark.connect(spark))
    message = str(err.value)
    assert "table 'invoices', column 'invoice_id': 2 row(s) share a primary key" in message
    assert "table 'invoices', column 'amount': 1 row(s) are negative" in message
