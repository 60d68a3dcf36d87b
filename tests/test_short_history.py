"""Short histories (issue 24): indicators use the history that exists, and months_observed says how much there is.

A hand-made order log that starts in January 2024, read at as_of 2024-06-01:
the recent window is March-May 2024, the history window March 2023-February
2024, of which the log holds January and February only.
"""

import numpy as np
import pandas as pd
import pytest

from churnml.indicators.build import build_indicators

AS_OF = pd.Timestamp("2024-06-01")
T = pd.Timestamp


def _frames() -> dict[str, pd.DataFrame]:
    orders = [
        # young: first order in the log's first month; history Jan 200 (2 orders), Feb 100 (1); recent 50 a month
        ("young", T("2024-01-05"), 100.0), ("young", T("2024-01-20"), 100.0), ("young", T("2024-02-10"), 100.0),
        ("young", T("2024-03-10"), 50.0), ("young", T("2024-04-10"), 50.0), ("young", T("2024-05-10"), 50.0),
        # old: a customer since 2019, so its history in the log starts with the log (Jan, Feb: 100 a month)
        ("old", T("2024-01-15"), 100.0), ("old", T("2024-02-15"), 100.0), ("old", T("2024-04-15"), 100.0),
        # mid: signed up mid-data (2024-02-20), so one history month (Feb, 80) and a recent 40 a month
        ("mid", T("2024-02-25"), 80.0), ("mid", T("2024-03-25"), 40.0), ("mid", T("2024-04-25"), 40.0), ("mid", T("2024-05-25"), 40.0),
        # fresh: its whole life inside the recent window (Mar 100, Apr 100, May 40): no history window
        ("fresh", T("2024-03-12"), 100.0), ("fresh", T("2024-04-12"), 100.0), ("fresh", T("2024-05-12"), 40.0),
        # quiet: no signup date; starts with its first record (April)
        ("quiet", T("2024-04-03"), 30.0),
    ]
    frame = pd.DataFrame(orders, columns=["customer_id", "order_date", "amount"])
    frame.insert(0, "order_id", [f"o{i}" for i in range(len(frame))])
    customers = pd.DataFrame(
        {
            "customer_id": ["young", "old", "mid", "fresh", "quiet"],
            "signup_date": [T("2024-01-05"), T("2019-05-01"), T("2024-02-20"), T("2024-03-12"), pd.NaT],
        }
    )
    return {"orders": frame, "customers": customers}


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return build_indicators(_frames(), AS_OF).set_index("customer_id")


def test_two_history_months_give_a_ratio_from_exactly_those_months(panel):
    young = panel.loc["young"]
    # history: (200 + 100) / 2 months = 150 a month, 3 orders / 2 = 1.5 a month; recent: 50 a month, 1 order a month
    assert young.amount_ratio == pytest.approx(50 / 150)
    assert young.order_freq_ratio == pytest.approx(1 / 1.5)
    assert young.order_value_ratio == pytest.approx(50 / 100)
    assert young.months_observed == 5  # what the ratio rests on: 5 months, 2 of them before the recent window


def test_one_history_month_is_enough_by_default_and_the_minimum_is_configurable(panel):
    assert panel.loc["mid", "amount_ratio"] == pytest.approx(40 / 80)  # Feb only (signed up on the 20th)
    assert panel.loc["old", "amount_ratio"] == pytest.approx((100 / 3) / 100)
    strict = build_indicators(_frames(), AS_OF, {"indicators": {"min_history_months": 3}}).set_index("customer_id")
    assert strict[["amount_ratio", "order_freq_ratio"]].isna().all().all()  # nobody has 3 history months in the log
    assert strict.loc["young", "months_observed"] == 5  # the count does not depend on the minimum


def test_a_life_inside_the_recent_window_has_no_ratio_but_a_streak_and_a_trend(panel):
    fresh = panel.loc["fresh"]
    assert np.isnan(fresh.amount_ratio) and np.isnan(fresh.order_freq_ratio)
    assert fresh.months_observed == 3
    assert fresh.amount_per_month_3m == pytest.approx(80.0)
    # May 40 < 70% of the mean before it (Mar, Apr: 100); Apr 100 is not below Mar's 100
    assert fresh.months_below_history_amount == 1
    # least-squares slope of 40, 100, 100 at x = -1, -2, -3 is -30 a month, over their mean 80
    assert fresh.amount_trend == pytest.approx(-30 / 80)
    assert fresh.amount_decline_streak == 1


def test_a_trend_needs_three_observed_months(panel):
    assert np.isnan(panel.loc["quiet", "amount_trend"])  # April and May only
    # mid's four months 40, 40, 40, 80 (last first, x = -1..-4): slope -12 a month over their mean 50
    assert panel.loc["mid", "amount_trend"] == pytest.approx(-12 / 50)


def test_months_observed_counts_from_the_later_of_signup_and_the_logs_first_month(panel):
    assert panel.loc["mid", "months_observed"] == 4  # signed up in February 2024, mid-data: Feb..May
    assert panel.loc["mid", "tenure_months"] == 4
    assert panel.loc["old", "months_observed"] == 5  # since 2019, but the log starts in January 2024
    assert panel.loc["old", "tenure_months"] == 61
    assert panel.loc["quiet", "months_observed"] == 2  # no signup date: from its first record (April)
    earlier = build_indicators(_frames(), "2024-03-01").set_index("customer_id")
    assert earlier.loc["old", "months_observed"] == 2 and earlier.loc["young", "months_observed"] == 2


def test_rows_at_or_after_as_of_change_nothing():
    frames = _frames()
    before = build_indicators(frames, AS_OF)
    planted = frames["orders"].copy()
    future = pd.DataFrame(
        [
            ("young", AS_OF, 5000.0), ("young", AS_OF + pd.Timedelta(days=3), 1.0),  # exactly at as_of, and after
            ("fresh", AS_OF, 9999.0), ("old", AS_OF + pd.Timedelta(days=40), 7.0),
            ("quiet", AS_OF + pd.Timedelta(hours=1), 1.0),
            ("late", AS_OF + pd.Timedelta(days=10), 50.0),  # a customer whose first record lies after as_of
        ],
        columns=["customer_id", "order_date", "amount"],
    )
    future.insert(0, "order_id", [f"f{i}" for i in range(len(future))])
    customers = pd.concat([frames["customers"], pd.DataFrame({"customer_id": ["late"], "signup_date": [AS_OF + pd.Timedelta(days=9)]})])
    after = build_indicators({"orders": pd.concat([planted, future], ignore_index=True), "customers": customers}, AS_OF)
    pd.testing.assert_frame_equal(before, after)
    assert (before.months_observed.notna()).all() and "late" not in set(before.customer_id)


def test_a_long_fall_is_measured_against_the_months_before_it_not_against_itself():
    # 100 a month for a year, then 65 a month for the last 6 months: 6 months below 70% of the level before the fall
    # (the fall's own months must not dilute the reference; 65 is above 70% of a mean that counted them)
    days = pd.date_range("2023-06-01", periods=18, freq="MS") + pd.Timedelta(days=9)  # Jun 2023 - Nov 2024
    orders = pd.DataFrame({"customer_id": "steady", "order_date": days, "amount": [100.0] * 12 + [65.0] * 6})
    row = build_indicators({"orders": orders}, "2024-12-01").iloc[0]
    assert row.months_below_history_amount == 6
    assert row.months_below_history_orders == 0
    assert row.months_observed == 18


def test_a_three_month_base_trains_and_scores_a_six_month_horizon_and_says_its_test_is_not_out_of_time():
    import churnml as cm
    from churnml.datasets.btyd import BgNbd
    from churnml.evaluation import score_metrics

    cut, horizon = T("2024-04-01"), 180
    world = BgNbd().draw(4000, "2024-01-01", 3, cut + pd.Timedelta(days=horizon + 1), seed=3)
    known = {"customers": world["customers"][world["customers"].signup_date < cut], "orders": world["orders"][world["orders"].order_date < cut]}
    config = {"labels": {"churn": {"kind": "no_purchase", "horizon_days": horizon}, "min_tenure_days": 0}, "tracking": {"enabled": False}}
    model = cm.ChurnModel(config).fit(cm.from_pandas(known))
    split = model.holdout_.split
    assert len(split.train) == 1 and split.calibration == split.test and split.shared
    assert model.config_.labels.churn.horizon_days == horizon  # not shortened
    assert "Only 2 snapshot dates" in cm.evaluation.report(model).to_markdown()
    scored = model.score(cm.from_pandas(known), as_of=cut).set_index("customer_id")
    buyers = scored.index.intersection(known["orders"].customer_id.unique())
    assert scored.churn_probability[buyers].between(0, 1).all()
    later = world["orders"][(world["orders"].order_date >= cut) & (world["orders"].order_date < cut + pd.Timedelta(days=horizon))]
    y = (~buyers.isin(later.customer_id)).astype("int64")
    mine = score_metrics(y, scored.churn_probability[buyers].to_numpy())
    optimum = score_metrics(y, BgNbd().optimum(world["orders"], cut, horizon).reindex(buyers).to_numpy())
    assert mine["auc_roc"] >= optimum["auc_roc"] - 0.01 and mine["ece"] <= optimum["ece"] + 0.02, (mine, optimum)
