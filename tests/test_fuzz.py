"""Malformed tables against load_tables + score: every run ends in a warning list with every customer once, or in a DataValidationError.

Hypothesis draws the tables a careless export gives: mixed types in one
column, nulls, unparseable or far-off dates, duplicate and odd ids,
non-finite amounts, CSV files in other encodings. Any other exception is a
bug: the user would get a traceback naming no table.
"""

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import churnml as cm
from churnml.ops.serving import score

# CI draws the same examples every run (a red build names a change, not luck); elsewhere each run explores new ones
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")

IDS = st.one_of(st.sampled_from(["a", "b", "c", " a", "A"]), st.integers(-3, 3), st.none(), st.just(""), st.just(float("nan")), st.text(max_size=4))
DATES = st.one_of(
    st.datetimes(pd.Timestamp("1990-01-01"), pd.Timestamp("2099-12-31")),
    st.sampled_from(["2025-03-04", "2025-13-01", "yesterday", "", "2025-05-04T23:17:50+08:00", "04/05/2025"]),
    st.none(),
)
AMOUNTS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10**6, 10**6),
    st.sampled_from(["12.5", "1,5", "abc", ""]),
    st.booleans(),
    st.none(),
)


@st.composite
def order_logs(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    columns = {
        "order_id": draw(st.lists(st.one_of(st.integers(0, 5), st.text(max_size=3)), min_size=n, max_size=n)),
        "customer_id": draw(st.lists(IDS, min_size=n, max_size=n)),
        "order_date": draw(st.lists(DATES, min_size=n, max_size=n)),
        "amount": draw(st.lists(AMOUNTS, min_size=n, max_size=n)),
    }
    dropped = draw(st.sets(st.sampled_from(list(columns)), max_size=1))
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items() if k not in dropped})


# a valid spine of orders the drawn rows join: most draws then get past the required columns to the deeper checks
SPINE = pd.DataFrame(
    {
        "order_id": [f"s{i}" for i in range(30)],
        "customer_id": [("a", "b", "c")[i % 3] for i in range(30)],
        "order_date": pd.date_range("2024-01-03", periods=30, freq="17D"),
        "amount": [100.0 + i for i in range(30)],
    }
)

POLICIES = st.sampled_from([{}, {"validation": {c: "warn" for c in cm.config.ValidationSettings.model_fields}}, {"validation": {c: "drop" for c in cm.config.ValidationSettings.model_fields}}])


def _score_or_refuse(tables_source, config, model) -> None:
    try:
        tables = cm.load_tables(tables_source, config)
        customers = tables.to_pandas("customers").customer_id
        warnings = score(tables, model, allow_missing=True)
    except cm.DataValidationError:
        return
    assert warnings.customer_id.is_unique and set(warnings.customer_id) == set(customers)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=order_logs(), with_spine=st.booleans(), policy=POLICIES)
def test_malformed_frames_end_in_a_list_or_a_validation_error(sample_model, orders, with_spine, policy):
    frame = pd.concat([SPINE.astype(object), orders], ignore_index=True) if with_spine else orders
    _score_or_refuse({"orders": frame}, policy, sample_model)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=order_logs(), encoding=st.sampled_from(["utf-8", "gbk", "utf-16", "latin-1"]), declared=st.sampled_from(["utf-8", "gb18030"]))
def test_malformed_csv_files_end_in_a_list_or_a_validation_error(sample_model, orders, encoding, declared):
    chinese = pd.DataFrame({"order_id": ["z"], "customer_id": ["客户"], "order_date": ["2024-05-01"], "amount": [1.0]})
    text = pd.concat([SPINE.astype(object), chinese, orders], ignore_index=True).to_csv(index=False)
    with tempfile.TemporaryDirectory() as folder:
        try:
            (Path(folder) / "orders.csv").write_bytes(text.encode(encoding))
        except UnicodeEncodeError:  # latin-1 cannot write the Chinese row: that file cannot exist
            return
        _score_or_refuse(folder, {"tables": {"orders": {"encoding": declared}}}, sample_model)
