"""The win-back list: every lapsed customer once, explained at its loss snapshot, in both languages, on odd input."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.data.calendar import next_month_start
from churnml.messages import catalog, text
from churnml.output import write_outputs
from churnml.scoring.winback import TIER_ORDER

AS_OF = pd.Timestamp("2026-01-01")  # the sample's default as_of: the month start after its last order


@pytest.fixture(scope="module")
def listed(sample, sample_model):
    return cm.winback(sample, sample_model, AS_OF)


def test_every_lapsed_customer_appears_once_with_its_loss_and_value(sample, sample_model, listed):
    status = cm.labels.scoring_status(sample, AS_OF, sample_model.config_)
    assert listed.customer_id.is_unique
    assert sorted(listed.customer_id) == sorted(status.customer_id[status.status == "lapsed"])
    assert (listed.as_of == AS_OF).all() and (listed.lost_on < AS_OF).all()
    # lapsed by the default definition: no activity in the 180 days before as_of
    assert (listed.lost_on < AS_OF - pd.Timedelta(days=180)).all()
    assert (listed.loss_snapshot == listed.lost_on.map(next_month_start)).all() and (listed.loss_snapshot > listed.lost_on).all()
    orders = sample.to_pandas("orders")
    spend = orders[orders.order_date < AS_OF].groupby("customer_id").amount.sum().reindex(listed.customer_id).fillna(0.0)
    np.testing.assert_allclose(listed.historical_spend, spend.to_numpy())
    assert set(listed.value_tier) <= set(TIER_ORDER) and listed.primary_cause.isin(["price", "service", "needs_change"]).mean() > 0.9
    np.testing.assert_allclose(listed.expected_recovered_value, listed.return_probability * listed.value_if_returned)
    assert (listed.value_if_returned >= 0).all()


def test_priority_puts_high_value_first_then_expected_recovered_value(listed):
    assert listed.priority.tolist() == list(range(1, len(listed) + 1))
    tiers = listed.value_tier.map(TIER_ORDER)
    assert tiers.is_monotonic_increasing
    for _, group in listed.groupby("value_tier"):
        assert group.expected_recovered_value.is_monotonic_decreasing
        for _, tied in group.groupby("expected_recovered_value"):
            assert tied.value_if_returned.is_monotonic_decreasing


def test_the_cause_is_the_warning_the_model_gives_at_the_loss_snapshot(sample, sample_model, listed):
    row = listed.iloc[0]
    snapshot = row.loss_snapshot
    panel = cm.build_indicators(sample, [snapshot - pd.DateOffset(months=3), snapshot])
    at = panel[(panel.customer_id == row.customer_id)]
    then = sample_model.predict_frame(at[at.as_of == snapshot], explain="all", earlier=at[at.as_of < snapshot]).iloc[0]
    assert row.churn_probability_at_loss == pytest.approx(then.churn_probability)
    assert row.value_if_returned == pytest.approx(then.clv + then.value_at_risk)
    assert row.value_tier == then.value_tier
    assert row.warning_level_at_loss == then.warning_level and row.primary_cause == then.primary_cause
    assert row.reasons == then.reasons and row.top_indicators == then.top_indicators
    strategy = text(f"winback.{row.primary_cause}", "en")
    assert row.strategy.startswith(strategy) and row.owner == sample_model.config_.causes.playbook[row.primary_cause].owner
    assert (text("playbook.high_value", "en") in row.strategy) == (row.value_tier == "high")


def test_rows_planted_after_as_of_change_nothing(sample, sample_model, listed):
    frames = {name: sample.to_pandas(name) for name in sample}
    lost = listed.customer_id.iloc[:5]
    future = pd.DataFrame({"customer_id": lost, "order_date": AS_OF + pd.Timedelta(days=3), "amount": 10_000.0})
    if "order_id" in frames["orders"]:
        future["order_id"] = [f"future-{i}" for i in range(len(future))]
    frames["orders"] = pd.concat([frames["orders"], future], ignore_index=True)
    planted = cm.winback(cm.from_pandas(frames), sample_model, AS_OF)
    pd.testing.assert_frame_equal(planted, listed)


def test_the_list_in_chinese_and_the_files_for_people(sample, sample_model, listed, tmp_path):
    zh = cm.winback(sample, sample_model, AS_OF, language="zh")
    assert zh.attrs["language"] == "zh" and zh.strategy.iloc[0].startswith(text(f"winback.{zh.primary_cause.iloc[0]}", "zh"))
    pd.testing.assert_frame_equal(zh.drop(columns=["reasons", "strategy"]), listed.drop(columns=["reasons", "strategy"]))
    parquet, csv = write_outputs(zh, tmp_path / "winback")
    assert pd.read_parquet(parquet).customer_id.tolist() == zh.customer_id.tolist()
    people = pd.read_csv(csv, encoding="utf-8-sig")
    words = catalog("zh")
    assert words["column.expected_recovered_value"] in people.columns and words["column.strategy"] in people.columns
    assert set(people[words["column.value_tier"]]) <= {words[f"value_tier.{t}"] for t in TIER_ORDER}


def test_odd_customers_and_a_look_back_longer_than_the_data(sample, sample_model, listed, caplog):
    frames = {name: sample.to_pandas(name) for name in sample}
    extra = pd.DataFrame({
        "customer_id": ["one_order", "refunded", "never_bought"],
        "signup_date": pd.to_datetime(["2025-01-10", "2024-06-01", "2023-01-01"]),
    })
    frames["customers"] = pd.concat([frames["customers"], extra], ignore_index=True)
    orders = pd.DataFrame({
        "customer_id": ["one_order", "refunded", "refunded"],
        "order_date": pd.to_datetime(["2025-01-15", "2024-06-10", "2024-07-01"]),
        "amount": [100.0, 50.0, -200.0],  # the refund exceeds the purchase
    })
    if "order_id" in frames["orders"]:
        orders["order_id"] = ["x1", "x2", "x3"]
    frames["orders"] = pd.concat([frames["orders"], orders], ignore_index=True)
    with caplog.at_level(logging.WARNING, logger="churnml.scoring.winback"):
        odd = cm.winback(cm.from_pandas(frames), sample_model, AS_OF, lookback_months=60).set_index("customer_id")
    assert "reaches before the data" in caplog.text
    assert odd.index.is_unique and len(odd) == len(listed) + 2 and "never_bought" not in odd.index  # no activity: nothing to lose
    assert odd.loc["one_order", "orders"] == 1 and odd.loc["one_order", "historical_spend"] == pytest.approx(100.0)
    refunded = odd.loc["refunded"]
    assert refunded.historical_spend == pytest.approx(-150.0) and refunded.value_if_returned >= 0.0
    recent = cm.winback(sample, sample_model, AS_OF, lookback_months=12)
    assert set(recent.customer_id) < set(listed.customer_id)
    assert (recent.lost_on >= AS_OF - pd.DateOffset(months=12)).all()
    assert len(listed[listed.lost_on >= AS_OF - pd.DateOffset(months=12)]) == len(recent)
