"""The same indicator code on Spark (Ibis' pyspark backend, local mode) gives DuckDB's values.

Skips, saying why, when pyspark is not importable or Java is missing; pyspark
comes with the project's ``spark`` extra, which the test command installs.
"""

import ibis
import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.datasets import SAMPLE_DIR
from churnml.indicators.build import build_indicators
from tests.conftest import needs_spark

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    needs_spark,  # pyspark importable and Java installed
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
    on_spark = build_indicators(cm.from_directory(SAMPLE_DIR, con=ibis.pyspark.connect(spark)), dates)
    on_duckdb = build_indicators(cm.datasets.load_sample(), dates)
    assert len(on_duckdb) > 5000
    pd.testing.assert_frame_equal(on_duckdb, on_spark, check_exact=False, rtol=1e-9, atol=1e-9)


def test_validation_errors_are_the_same_on_spark(spark, tmp_path):
    when = pd.to_datetime(["2024-01-01", "2024-02-01"])
    pd.DataFrame({"order_id": [1, 2], "customer_id": ["a", "b"], "order_date": when, "amount": [1.0, 2.0]}).to_parquet(tmp_path / "orders.parquet")
    invoices = {"invoice_id": ["i1", "i1"], "customer_id": ["a", "b"], "issue_date": when, "amount": [1.0, -2.0]}
    pd.DataFrame(invoices).to_parquet(tmp_path / "invoices.parquet")
    with pytest.raises(cm.DataValidationError) as err:
        cm.from_directory(tmp_path, con=ibis.pyspark.connect(spark))
    message = str(err.value)
    assert "table 'invoices', column 'invoice_id': 2 row(s) share a primary key" in message
    assert "table 'invoices', column 'amount': 1 row(s) are negative" in message


def test_warning_list_on_spark_equals_the_local_one(spark, sample, sample_model, tmp_path):
    from churnml.ops.spark import score_spark, warning_fields, write_spark

    local = cm.score(sample, sample_model, "2025-06-01")
    on_spark = cm.from_directory(SAMPLE_DIR, con=ibis.pyspark.connect(spark))
    written = write_spark(score_spark(on_spark, sample_model, "2025-06-01"), tmp_path / "warnings")
    remote = pd.read_parquet(written)
    assert list(remote.columns) == [name for name, _ in warning_fields(sample_model)] == list(local.columns)
    assert "p_churn_90d" in local.columns  # the survival model's columns travel too
    assert len(remote) == len(local) == 2500 and remote.customer_id.is_unique
    # Spark wrote the list in the local list's order: level, value, risk
    assert remote.customer_id.tolist() == local.customer_id.tolist()
    for column in ["status", "warning_level", "value_tier", "quadrant", "primary_cause", "owner", "action", "control"]:
        assert remote[column].fillna("-").astype(str).tolist() == local[column].fillna("-").astype(str).tolist(), column
    pd.testing.assert_series_equal(remote.churn_probability, local.churn_probability, check_exact=False, rtol=1e-9, atol=1e-12)
    pd.testing.assert_series_equal(remote.health_score, local.health_score, check_exact=False, rtol=1e-9, atol=1e-9)
    for column in ["p_churn_30d", "p_churn_60d", "p_churn_90d", "expected_active_months", "return_probability"]:
        pd.testing.assert_series_equal(remote[column], local[column], check_exact=False, rtol=1e-9, atol=1e-12)
    assert local.return_probability[local.status == "lapsed"].notna().all() and (local.status == "lapsed").sum() > 100
    scored = local.status == "scored"
    assert np.allclose(np.vstack(remote.survival_curve[scored]), np.vstack(local.survival_curve[scored]), rtol=1e-9, atol=1e-12)
    warned = local.warning_level > 0
    assert warned.sum() > 100
    assert [list(r) for r in remote.reasons[warned]] == local.reasons[warned].tolist()
    for mine, theirs in zip(remote.cause_shares[warned], local.cause_shares[warned], strict=True):
        assert dict(mine) == pytest.approx(theirs, abs=1e-9)
    for column in ["last_order_date", "last_interaction_date"]:
        pd.testing.assert_series_equal(remote[column].astype("datetime64[us]"), local[column], check_names=False)


def test_spark_scoring_refuses_local_tables_and_unfitted_models(spark, sample):
    from churnml.ops.spark import score_spark

    with pytest.raises(ValueError, match="needs tables on Spark"):
        score_spark(sample, cm.ChurnModel())
    on_spark = cm.from_directory(SAMPLE_DIR, con=ibis.pyspark.connect(spark))
    with pytest.raises(ValueError, match="ChurnModel is not fitted yet"):
        score_spark(on_spark, cm.ChurnModel())


def test_customers_are_sampled_on_spark(spark):
    on_spark = cm.from_directory(SAMPLE_DIR, con=ibis.pyspark.connect(spark))
    part = on_spark.sample_customers(0.2, seed=5)
    ids = set(part.to_pandas("customers").customer_id)
    assert 0.15 < len(ids) / 2500 < 0.25 and part.sampling["customers"] == len(ids)
    orders = cm.datasets.load_sample().to_pandas("orders")
    assert len(part.to_pandas("orders")) == orders.customer_id.isin(ids).sum()
