"""A subscription business without an order log: contracts stand in for orders, and the data are dated by the tables present."""

from __future__ import annotations

import logging

import ibis
import pandas as pd
import pytest

import churnml as cm
from churnml.data.calendar import latest_month_start, month_starts
from churnml.data.schema import TIME_COLUMN
from churnml.data.tables import from_directory, from_pandas
from churnml.data.validation import DataValidationError
from churnml.datasets.subscriptions import Subscriptions
from churnml.kpis import kpis
from churnml.labels import churn_labels, labelled_dates
from tests.conftest import needs_spark

ts = pd.Timestamp


def _subscriptions() -> dict[str, pd.DataFrame]:
    """Three subscribers on monthly terms and their logins, typed by hand; no orders table."""
    terms = [("a", "2024-01-10", 6), ("b", "2024-02-01", 3), ("c", "2024-03-15", 5)]  # customer, first term, terms taken
    contracts = pd.DataFrame(
        [(cid, ts(first) + pd.DateOffset(months=k), ts(first) + pd.DateOffset(months=k + 1)) for cid, first, n in terms for k in range(n)],
        columns=["customer_id", "start_date", "end_date"],
    )
    activity = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "c"],
            "timestamp": [ts("2024-01-12"), ts("2024-07-02 18:00"), ts("2024-02-03"), ts("2024-04-01"), ts("2024-08-05")],
            "event_type": "login",
        }
    )
    return {"contracts": contracts, "activity": activity}


# ---- loading: contracts stand in for the order log


def test_contracts_stand_in_for_orders_and_customers_are_derived_from_them():
    tables = from_pandas(_subscriptions())
    assert set(tables) == {"contracts", "activity", "customers"}
    customers = tables.to_pandas("customers").sort_values("customer_id")
    assert customers.customer_id.tolist() == ["a", "b", "c"]
    assert customers.signup_date.tolist() == [ts("2024-01-10"), ts("2024-02-01"), ts("2024-03-15")]  # signup = first term
    assert tables.report.derived == ["customers"] and tables.report.issues == []
    assert tables.clock == ("contracts", "activity")


def test_a_customers_table_given_beside_contracts_is_kept_and_checked():
    frames = _subscriptions()
    frames["customers"] = pd.DataFrame({"customer_id": ["a", "b"], "segment": "small", "signup_date": ts("2023-12-01")})
    msg = str(pytest.raises(DataValidationError, from_pandas, frames).value)
    assert "table 'contracts', column 'customer_id'" in msg and "'c'" in msg  # c is not among the customers
    frames["customers"] = pd.concat([frames["customers"], pd.DataFrame({"customer_id": ["c"], "signup_date": [ts("2024-03-15")]})])
    tables = from_pandas(frames)
    assert tables.report.derived == [] and tables.to_pandas("customers").signup_date.min() == ts("2023-12-01")


def test_a_directory_of_contracts_without_orders_loads(tmp_path):
    for name, frame in _subscriptions().items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
    assert from_directory(tmp_path).data_end() == ts("2024-08-05")


def test_without_orders_or_contracts_the_error_names_the_orders_table(tmp_path):
    frames = _subscriptions()
    with pytest.raises(DataValidationError, match="'orders'"):
        from_pandas({"activity": frames["activity"]})
    frames["activity"].to_parquet(tmp_path / "activity.parquet")
    with pytest.raises(DataValidationError, match=r"no orders\.parquet"):
        from_directory(tmp_path)


def test_empty_contracts_without_orders_is_an_error_and_beside_orders_is_fine(tiny_frames):
    empty = _subscriptions()["contracts"].iloc[:0]
    with pytest.raises(DataValidationError, match="table 'contracts': expected at least one row"):
        from_pandas({"contracts": empty})
    assert from_pandas({"orders": tiny_frames["orders"], "contracts": empty}).report.rows_out["contracts"] == 0


# ---- dating the data: one helper on Tables


def test_with_orders_the_data_are_dated_by_the_orders_alone(tiny_frames):
    late = pd.DataFrame({"customer_id": ["a"], "timestamp": [ts("2024-06-20")], "event_type": ["login"]})
    early = pd.DataFrame({"customer_id": ["a"], "start_date": [ts("2023-02-01")], "end_date": [ts("2024-09-01")]})
    tables = from_pandas({**tiny_frames, "activity": late, "contracts": early})
    assert tables.clock == ("orders",)
    assert tables.time_range() == tables.time_range("orders") == (ts("2024-01-03"), ts("2024-03-15"))
    assert tables.data_start() == ts("2024-01-03") and tables.data_end() == tables.data_end("orders") == ts("2024-03-15")
    assert latest_month_start(tables) == ts("2024-04-01")
    with pytest.raises(ValueError, match="orders run from 2024-01-03"):
        month_starts("2024-06-01", tables)


def test_without_orders_the_data_run_over_contracts_and_customer_events():
    frames = _subscriptions()
    tables = from_pandas(frames)
    assert tables.data_start() == ts("2024-01-10")
    assert tables.data_end() == ts("2024-08-05")  # c's last login, after the last term started (2024-07-15)
    assert tables.time_range() == (ts("2024-01-10"), ts("2024-08-05"))
    assert latest_month_start(tables) == ts("2024-09-01")
    assert month_starts(["2024-02-01", "2024-09-01"], tables) == [ts("2024-02-01"), ts("2024-09-01")]
    with pytest.raises(ValueError, match=r"the data \(contracts, activity\) run from 2024-01-10"):
        month_starts("2024-10-01", tables)
    with pytest.raises(ValueError, match="outside the data"):
        month_starts("2024-01-01", tables)
    # usage tracking that began before the first term, or a contracts table alone, moves the start and the end
    frames["activity"].loc[0, "timestamp"] = ts("2023-11-30")
    assert from_pandas(frames).data_start() == ts("2023-11-30")
    assert from_pandas({"contracts": frames["contracts"]}).data_end() == ts("2024-07-15")


def test_without_orders_stray_rows_do_not_move_the_data_end(caplog):
    frames = _subscriptions()
    logins = pd.date_range("2024-01-11", "2024-08-31", freq="D")
    frames["activity"] = pd.DataFrame({"customer_id": "a", "timestamp": [*logins, ts("2025-03-02")], "event_type": "login"})
    with caplog.at_level(logging.WARNING, logger="churnml.data.tables"):
        tables = from_pandas(frames)
        assert tables.data_end() == ts("2024-08-31") and latest_month_start(tables) == ts("2024-09-01")
    assert "activity: 1 row(s) from 2025-03-01" in caplog.text


def test_contract_terms_booked_to_start_after_the_load_do_not_move_the_data_end():
    frames = _subscriptions()
    today = pd.Timestamp.now(tz="UTC").tz_localize(None)
    booked = pd.DataFrame({"customer_id": ["a"], "start_date": [today.normalize() + pd.Timedelta(days=40)], "end_date": [pd.NaT]})
    frames["contracts"] = pd.concat([frames["contracts"], booked], ignore_index=True)
    tables = from_pandas({"contracts": frames["contracts"]})
    assert tables.time_range("contracts")[1] == booked.start_date[0]  # the table as it is
    assert tables.data_end() == tables.data_end("contracts") == ts("2024-07-15")  # a term booked ahead has not happened
    assert tables.report.loaded <= today.ceil("min") and tables.time_range()[1] == tables.report.loaded


# ---- downstream: indicators, labels, KPIs, a model


def test_contract_labels_and_indicators_need_no_orders():
    tables = from_pandas(_subscriptions())
    labels = churn_labels(tables, ["2024-04-01", "2024-05-01"], churn=cm.labels.Contractual(horizon_days=31), config={"labels": {"min_tenure_days": 0}})
    april = labels[labels.as_of == "2024-04-01"].set_index("customer_id")
    assert april.status.tolist() == ["eligible", "eligible", "eligible"]
    assert april.churned.tolist() == [0, 1, 0]  # b's third and last term ends 2024-05-01
    panel = cm.build_indicators(tables, "2024-05-01").set_index("customer_id")
    assert set(panel.index) == {"a", "b", "c"} and "months_to_contract_end" in panel and "orders_to_date" not in panel


VALUED_AS_OF = ts("2024-06-01")


def _valued_terms() -> dict[str, pd.DataFrame]:
    """Six subscribers whose terms carry a monthly value, and their logins; no orders table. The snapshot is 2024-06-01."""
    contracts = pd.DataFrame(
        [
            ("a", ts("2024-01-10"), ts("2024-07-10"), pd.NaT, 100.0),  # active at 2024-06-01
            ("a", ts("2024-03-01"), pd.NaT, pd.NaT, 25.5),  # an open-ended add-on, active too: a is worth 125.5
            ("b", ts("2024-01-01"), ts("2024-04-01"), pd.NaT, 40.0),  # ended before the snapshot: no active term
            ("c", ts("2024-02-15"), ts("2025-02-15"), pd.NaT, None),  # active, but without a value
            ("d", ts("2024-01-05"), ts("2024-05-05"), pd.NaT, 50.0),  # ended, then renewed at a higher price
            ("d", ts("2024-05-05"), ts("2025-05-05"), pd.NaT, 70.0),
            ("e", ts("2024-02-01"), ts("2025-02-01"), ts("2024-05-20"), 30.0),  # cancelled before the snapshot
            ("g", ts("2024-03-01"), VALUED_AS_OF, pd.NaT, 20.0),  # ends at the snapshot: still running then
        ],
        columns=["customer_id", "start_date", "end_date", "cancelled_at", "monthly_value"],
    )
    activity = pd.DataFrame(
        {"customer_id": ["a", "a", "d"], "timestamp": [ts("2024-02-03"), ts("2024-05-20 12:00"), ts("2024-05-31 18:00")], "event_type": "login"}
    )
    return {"contracts": contracts, "activity": activity}


def test_without_orders_a_customers_value_is_the_monthly_value_of_its_terms_active_at_as_of():
    panel = cm.build_indicators(_valued_terms(), VALUED_AS_OF).set_index("customer_id")
    spend = panel.monthly_spend
    assert spend["a"] == 125.5 and spend["d"] == 70.0  # a's two running terms; d's renewal, not the term that ended
    assert spend["g"] == 20.0
    assert spend[["b", "c", "e"]].isna().all()  # no term running, a running term without a value, a cancelled term
    assert panel.months_to_contract_end.notna()[["a", "c", "d"]].all()  # the other contract indicators are untouched
    # a contracts table without the optional monthly_value column loads, and values no one
    bare = _valued_terms()
    bare["contracts"] = bare["contracts"].drop(columns="monthly_value")
    tables = from_pandas(bare)
    assert tables.to_pandas("contracts").monthly_value.isna().all()
    unvalued = cm.build_indicators(tables, VALUED_AS_OF).set_index("customer_id")
    assert unvalued.monthly_spend.isna().all()
    pd.testing.assert_frame_equal(unvalued.drop(columns="monthly_spend"), panel.drop(columns="monthly_spend"))


def test_without_orders_the_value_at_as_of_ignores_terms_starting_or_ending_at_or_after_it():
    before = cm.build_indicators(_valued_terms(), VALUED_AS_OF)
    planted = _valued_terms()
    contracts = planted["contracts"]
    contracts.loc[(contracts.customer_id == "d") & (contracts.monthly_value == 70.0), "cancelled_at"] = ts("2024-06-10")  # known later
    future = pd.DataFrame(
        [
            ("a", VALUED_AS_OF, pd.NaT, pd.NaT, 1000.0),  # starts exactly at as_of: the future
            ("b", ts("2024-06-15"), ts("2024-07-15"), pd.NaT, 500.0),  # b comes back after as_of
            ("e", ts("2024-07-01"), ts("2025-07-01"), pd.NaT, 80.0),
            ("f", ts("2024-06-20"), ts("2025-06-20"), pd.NaT, 90.0),  # a subscriber who signs up after as_of
        ],
        columns=contracts.columns,
    )
    planted["contracts"] = pd.concat([contracts, future], ignore_index=True)
    planted["activity"] = pd.concat(
        [planted["activity"], pd.DataFrame({"customer_id": ["b", "c", "d"], "timestamp": [VALUED_AS_OF, ts("2024-06-02"), ts("2024-07-01")], "event_type": "login"})],
        ignore_index=True,
    )
    after = cm.build_indicators(planted, VALUED_AS_OF)
    pd.testing.assert_frame_equal(before, after)
    assert after.set_index("customer_id").monthly_spend["a"] == 125.5


def test_without_orders_days_since_last_activity_reads_the_usage_events():
    panel = cm.build_indicators(_valued_terms(), VALUED_AS_OF).set_index("customer_id")
    days = panel.days_since_last_activity
    assert days["a"] == 11.5 and days["d"] == 0.25  # a's login on 2024-05-20 12:00, d's on 2024-05-31 18:00
    assert days[["b", "c", "e", "g"]].isna().all()  # no login before as_of
    assert "days_since_last_order" not in panel


def test_without_orders_or_customer_events_days_since_last_activity_is_skipped_with_one_line(caplog):
    with caplog.at_level(logging.INFO, logger="churnml.indicators"):
        panel = cm.build_indicators({"contracts": _valued_terms()["contracts"]}, VALUED_AS_OF)
    assert "days_since_last_activity" not in panel and panel.set_index("customer_id").monthly_spend["a"] == 125.5
    (line,) = [r.getMessage() for r in caplog.records if "days_since_last_activity" in r.getMessage()]
    assert line.startswith("table 'orders or activity or tickets or interactions or surveys' absent: skipping")


def test_with_orders_the_customers_value_comes_from_the_orders_and_not_the_terms(tiny_frames):
    terms = pd.DataFrame({"customer_id": ["a"], "start_date": [ts("2024-01-01")], "end_date": [ts("2025-01-01")], "monthly_value": [1e6]})
    with_terms = cm.build_indicators({**tiny_frames, "contracts": terms}, "2024-04-01")
    alone = cm.build_indicators(tiny_frames, "2024-04-01")
    pd.testing.assert_series_equal(with_terms.monthly_spend, alone.monthly_spend)


def test_a_negative_monthly_value_is_a_data_problem():
    frames = _valued_terms()
    frames["contracts"].loc[0, "monthly_value"] = -5.0
    msg = str(pytest.raises(DataValidationError, from_pandas, frames).value)
    assert "table 'contracts', column 'monthly_value'" in msg and "negative" in msg


def test_a_handled_warning_followed_by_a_new_term_is_a_return():
    frames = _subscriptions()
    frames["interventions"] = pd.DataFrame(
        {
            "customer_id": ["b", "c"],
            "warning_date": [ts("2024-04-01"), ts("2024-05-01")],
            "warning_level": [1, 1],
            "handled_at": [ts("2024-04-05"), ts("2024-05-03")],
            "outcome": ["lost", "retained"],
        }
    )
    config = {"labels": {"churn": {"kind": "contract", "horizon_days": 31}, "min_tenure_days": 0}, "kpis": {"return_days": 30}}
    out = kpis(from_pandas(frames), config, by=["warning_level"]).set_index("warning_level")
    # c renewed on 2024-05-15, within 30 days of the action; b took no new term (its last began 2024-04-01)
    assert out.loc["all", "return_rate"] == 0.5
    assert out.loc["all", "win_back_rate"] == 0.5


WORLD = Subscriptions()
START, CUT, H = ts("2024-01-01"), ts("2025-01-01"), 90
CONTRACT = {"labels": {"churn": {"kind": "contract", "horizon_days": H}, "min_tenure_days": 0}, "tracking": {"enabled": False}}


@pytest.fixture(scope="module")
def subscribers() -> dict[str, pd.DataFrame]:
    """The subscription world without its payments: customers, contracts and logins before the cut."""
    frames = WORLD.draw(800, START, 6, CUT + pd.Timedelta(days=H + 1), seed=5)
    return {name: frame[frame[TIME_COLUMN[name]] < CUT] for name, frame in frames.items() if name != "orders"}


def test_the_subscription_world_without_payments_is_dated_by_its_terms_and_logins(subscribers):
    tables = cm.from_pandas(subscribers)
    assert tables.clock == ("contracts", "activity") and tables.report.derived == []
    assert tables.data_start() == subscribers["customers"].signup_date.min()
    assert latest_month_start(tables) == CUT  # the month start after the last term start and login
    labels = churn_labels(tables, "2024-09-01", config=CONTRACT)
    assert set(labels.customer_id[labels.status == "eligible"]) == set(Subscriptions.active(subscribers["contracts"], ts("2024-09-01")))


def test_a_subscription_business_without_orders_is_trained_and_scored(subscribers):
    tables = cm.from_pandas(subscribers)
    dates = pd.date_range("2024-03-01", "2024-09-01", freq="MS")  # complete 90-day labels
    model = cm.ChurnModel(CONTRACT).fit(tables, as_of=dates)
    scored = model.score(tables).set_index("customer_id")  # default as_of: the cut
    assert scored.index.is_unique and set(scored.index) == set(subscribers["customers"].customer_id)
    assert (scored.as_of == CUT).all()
    active = Subscriptions.active(subscribers["contracts"], CUT)
    assert set(scored.index[scored.status == "scored"]) == set(active)  # every subscriber at the cut, no one else
    assert scored.churn_probability[scored.status == "scored"].between(0, 1).all()
    # subscribers whose terms all ended are lapsed, with their chance of signing again
    assert scored.return_probability[scored.status == "lapsed"].between(0, 1).all() and (scored.status == "lapsed").any()


def test_default_training_dates_without_orders_are_those_with_them(subscribers):
    config = cm.config.load_config(CONTRACT)
    with_payments = {**subscribers, "orders": subscribers["contracts"].assign(order_date=lambda c: c.start_date, amount=WORLD.fee)[["customer_id", "order_date", "amount"]]}
    for censored in (False, True):
        assert labelled_dates(cm.from_pandas(subscribers), config=config, censored=censored) == labelled_dates(cm.from_pandas(with_payments), config=config, censored=censored)


def test_without_orders_each_subscribers_value_is_the_fee_of_its_running_terms(subscribers):
    frames = dict(subscribers)
    fees = {cid: 10.0 + i % 7 for i, cid in enumerate(sorted(frames["contracts"].customer_id.unique()))}
    frames["contracts"] = frames["contracts"].assign(monthly_value=lambda c: c.customer_id.map(fees))
    when = ts("2024-09-01")
    spend = cm.build_indicators(frames, when, {"indicators": {"only": ["monthly_spend"]}}).set_index("customer_id").monthly_spend
    active = Subscriptions.active(frames["contracts"], when)
    assert spend[spend.notna()].index.sort_values().equals(active.sort_values())  # valued: exactly the subscribers at as_of
    assert (spend[active] == active.map(fees)).all()  # one monthly term at a time: its fee


@pytest.mark.spark
@pytest.mark.slow
@needs_spark  # pyspark importable and Java installed
def test_without_orders_the_value_and_activity_indicators_on_spark_equal_duckdb(tmp_path):
    from pyspark.sql import SparkSession

    frames = _valued_terms()
    for name, frame in frames.items():  # Spark reads microsecond time stamps
        frame.to_parquet(tmp_path / f"{name}.parquet", coerce_timestamps="us", allow_truncated_timestamps=True)
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        dates = ["2024-04-01", "2024-05-01", VALUED_AS_OF]
        on_spark = cm.build_indicators(from_directory(tmp_path, con=ibis.pyspark.connect(spark)), dates)
    finally:
        spark.stop()
    on_duckdb = cm.build_indicators(from_directory(tmp_path), dates)
    pd.testing.assert_frame_equal(on_duckdb, on_spark, check_exact=False, rtol=1e-9, atol=1e-9)
    assert on_spark.set_index(["as_of", "customer_id"]).monthly_spend[(VALUED_AS_OF, "a")] == 125.5
