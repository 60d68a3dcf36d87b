import logging
import math

import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.constants import CATEGORIES, CAUSES
from churnml.data.calendar import month_starts
from churnml.indicators import REGISTRY, indicators_markdown, list_indicators
from churnml.indicators.build import build_indicators
from tests import golden_world as golden


# Short histories (issue 24): b (two months of life, both in the recent window) now has streaks against the
# months before each month, and every customer has months_observed. golden_world.EXPECTED predates them.
EXPECTED = golden.EXPECTED | {
    "months_observed": (18.0, 2.0),  # a: since 2023-01 (signup, and the order log's first month); b: May, Jun 2024
    "months_below_history_amount": (2.0, 1.0),  # b: Jun 100 < 70% of May's 200; May has no month before it
    "months_below_history_orders": (0.0, 0.0),  # b: Jun's 1 order is not below 70% of May's 1
    "months_above_history_complaints": (2.0, 0.0),  # b: no complaint in May or Jun
}


@pytest.fixture(scope="module")
def golden_tables():
    return cm.load_tables(golden.frames())


@pytest.fixture(scope="module")
def golden_panel(golden_tables):
    return build_indicators(golden_tables, golden.AS_OF).set_index("customer_id")


# ---- golden values, one per indicator


def test_every_indicator_has_a_golden_value():
    assert set(EXPECTED) == set(REGISTRY)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_golden_value(golden_panel, name):
    for customer, expected in zip(("a", "b"), EXPECTED[name], strict=True):
        got = golden_panel.loc[customer, name]
        if expected is None or (isinstance(expected, float) and math.isnan(expected)):
            assert pd.isna(got), f"{name} for {customer}: expected missing, got {got}"
        elif isinstance(expected, str):
            assert got == expected
        else:
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), f"{name} for {customer}"


def test_one_row_per_known_customer_and_stable_schema(golden_panel):
    assert golden_panel.index.tolist() == ["a", "b"]  # c signs up after as_of
    numeric = [n for n, i in REGISTRY.items() if i.kind == "numeric"]
    assert (golden_panel[numeric].dtypes == "float64").all()
    assert list(golden_panel.columns) == ["as_of", *REGISTRY]


def test_order_lines_count_as_one_order(golden_panel):
    frames = golden.frames()
    orders = frames["orders"]
    line = orders[(orders.customer_id == "a") & (orders.order_date == pd.Timestamp("2024-04-20"))].assign(amount=0.0, discount=0.0)
    frames["orders"] = pd.concat([orders, line], ignore_index=True)  # a second, free line of the same order
    panel = build_indicators(frames, golden.AS_OF).set_index("customer_id")
    for name in ("order_freq_ratio", "discount_share_3m", "amount_ratio", "order_value_ratio"):
        assert panel.loc["a", name] == pytest.approx(golden_panel.loc["a", name]), name



def test_refunds_that_cancel_leave_exactly_zero():
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floats in every order: a zero history must stay zero (NaN ratio, not 1e17)
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4"],
            "customer_id": "r",
            "order_date": pd.to_datetime(["2024-01-05", "2024-01-12", "2024-01-20", "2024-06-03"]),
            "amount": [0.1, 0.2, -0.3, 10.0],
        }
    )
    row = build_indicators({"orders": orders}, "2024-07-01").iloc[0]  # history: Jan to Mar (3 observed months), recent: Apr to Jun
    assert row.amount_per_month_3m == pytest.approx(10.0 / 3)
    assert pd.isna(row.amount_ratio)


def test_an_order_log_that_starts_after_a_customer_signed_up_does_not_count_its_lifetime():
    # the log begins in 2024-01; "old" signed up in 2019, so its first orders are not in it
    orders = pd.DataFrame(
        {
            "customer_id": ["old", "old", "new", "new"],
            "order_date": pd.to_datetime(["2024-01-10", "2024-03-01", "2024-02-05", "2024-04-01"]),
            "amount": 10.0,
        }
    )
    customers = pd.DataFrame({"customer_id": ["old", "new"], "signup_date": pd.to_datetime(["2019-05-01", "2024-02-01"])})
    panel = build_indicators({"orders": orders, "customers": customers}, "2024-05-01").set_index("customer_id")
    assert pd.isna(panel.loc["old", "orders_to_date"]) and pd.isna(panel.loc["old", "days_since_first_order"])
    assert panel.loc["new", "orders_to_date"] == 2 and panel.loc["new", "days_since_first_order"] == (pd.Timestamp("2024-05-01") - pd.Timestamp("2024-02-05")).days
    assert panel.loc["old", "days_since_last_order"] == 61  # recency is known either way
    # without a signup date the customer starts with its first record, which the log holds
    alone = build_indicators({"orders": orders}, "2024-05-01").set_index("customer_id")
    assert alone.loc["old", "orders_to_date"] == 2


def test_active_days_count_each_calendar_day_once_from_the_1st_to_the_31st():
    # history Apr 2023 - Mar 2024: active every day (366 days, Feb 2024 has 29);
    # recent: all 30 days of April, May 1st and May 31st (twice, and once at 23:59), nothing in June
    every_day = pd.date_range("2023-04-01", "2024-04-30 12:00", freq="D") + pd.Timedelta(hours=12)
    may = pd.to_datetime(["2024-05-01 08:00:00", "2024-05-31 00:00:00", "2024-05-31 09:30:00", "2024-05-31 23:59:59"])
    activity = pd.DataFrame({"customer_id": "d", "timestamp": every_day.append(may), "event_type": "login"})
    orders = pd.DataFrame({"order_id": [1, 2], "customer_id": "d", "order_date": pd.to_datetime(["2023-04-02", "2024-06-03"]), "amount": 1.0})
    row = build_indicators({"orders": orders, "activity": activity}, "2024-07-01").iloc[0]
    assert row.active_days_ratio == pytest.approx(((30 + 2 + 0) / 3) / (366 / 12))


# ---- the registry


def test_registry_entries_are_complete():
    table = list_indicators()
    assert len(table) == len(REGISTRY) >= 40
    for ind in REGISTRY.values():
        assert ind.category in CATEGORIES and ind.description and ind.missing and ind.reason()
        assert ind.cause in CAUSES or ind.category == "profile"
        assert set(ind.tables) <= set(cm.data.schema.SCHEMA) and set(ind.any_of) <= set(cm.data.schema.SCHEMA)
        assert not set(ind.tables) & set(ind.any_of)
    # the documents' 20 indicators span every category
    assert {i.category for i in REGISTRY.values()} == set(CATEGORIES)


def test_indicators_that_read_any_of_several_tables_say_so():
    assert REGISTRY["monthly_spend"].tables == () and REGISTRY["monthly_spend"].any_of == ("orders", "contracts")
    assert REGISTRY["days_since_last_activity"].any_of == ("orders", "activity", "tickets", "interactions", "surveys")
    shown = list_indicators().set_index("name").tables
    assert shown["monthly_spend"] == "orders or contracts" and shown["overdue_amount_to_avg_order"] == "invoices, orders"
    assert "| `monthly_spend` | profile | orders or contracts | - |" in indicators_markdown()


def test_an_indicator_reading_any_of_several_tables_needs_one_of_them():
    frames = {k: v for k, v in golden.frames().items() if k in ("customers", "contracts", "activity")}
    # without orders the contracts anchor the data (and carry the value); logins alone give the days since last activity
    panel = build_indicators(frames, golden.AS_OF).set_index("customer_id")
    assert {"monthly_spend", "days_since_last_activity"} <= set(panel.columns) and "days_since_last_order" not in panel
    assert panel.loc["a", "days_since_last_activity"] == 54.0  # a's last login before as_of, 2024-05-08 (its last order is not loaded)
    assert panel.monthly_spend.isna().all()  # these terms carry no monthly_value
    alone = build_indicators({"customers": frames["customers"], "contracts": frames["contracts"]}, "2024-02-01")  # the terms date the data
    assert "monthly_spend" in alone and "days_since_last_activity" not in alone


def test_reason_templates_fill_with_a_customers_numbers(golden_panel):
    row = golden_panel.loc["a"].to_dict()
    assert REGISTRY["payment_days_ratio"].reason().format(**row) == "invoices paid 5.0 times slower than before (15 days now)"
    assert REGISTRY["complaints_3m"].reason().format(**row) == "3 complaints in the last 3 months"
    for ind in REGISTRY.values():
        ind.reason().format(**row)  # every template fills


# ---- point in time


def _plant_future(frames: dict[str, pd.DataFrame], as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Copy every table's rows to dates at and after as_of, and give open intervals future end dates."""
    out = {}
    time_cols = {"orders": ["order_date"], "invoices": ["issue_date", "due_date", "paid_date"], "activity": ["timestamp"],
                 "tickets": ["opened_at", "first_response_at", "resolved_at"], "interactions": ["timestamp"], "surveys": ["survey_date"],
                 "market_events": ["date"]}
    for name, frame in frames.items():
        frame = frame.copy()
        if name in time_cols:
            future = frame.sample(frac=0.3, random_state=1).copy()
            first = future[time_cols[name][0]]
            shift = (as_of - first.dt.normalize()) + pd.to_timedelta(np.arange(len(future)) % 40, unit="D")
            for col in time_cols[name]:
                future[col] = future[col] + shift
            future.iloc[: len(future) // 4, future.columns.get_loc(time_cols[name][0])] = as_of  # exactly at the cutoff
            for key in ("order_id", "invoice_id", "ticket_id"):
                if key in future:
                    frame[key] = frame[key].astype(str)
                    future[key] = future[key].astype(str) + "-future"
            frame = pd.concat([frame, future], ignore_index=True)
        if name == "contacts":  # open intervals get end dates that lie after as_of
            later = np.maximum(frame.start_date + pd.Timedelta(days=1), as_of + pd.Timedelta(days=10))
            frame["end_date"] = frame.end_date.where(frame.end_date.notna() & (frame.end_date < as_of), later)
        if name == "contracts":
            active = (frame.start_date < as_of) & (frame.end_date >= as_of)
            frame.loc[active & frame.cancelled_at.isna(), "cancelled_at"] = as_of + pd.Timedelta(days=5)
        out[name] = frame
    return out


def test_rows_at_or_after_as_of_change_nothing():
    frames, _ = cm.datasets.synthetic_frames(600, months=18, seed=21)
    as_of = pd.Timestamp("2025-01-01")
    # keep only the past, then plant a future
    past = {}
    for name, frame in frames.items():
        col = cm.data.schema.TIME_COLUMN[name]
        past[name] = frame if name in ("customers", "contacts", "contracts") else frame[frame[col] < as_of]
    before = build_indicators(past, [as_of - pd.offsets.MonthBegin(1), as_of])
    after = build_indicators(_plant_future(past, as_of), [as_of - pd.offsets.MonthBegin(1), as_of])
    pd.testing.assert_frame_equal(before, after)


def test_a_snapshot_never_sees_its_own_future():
    """Indicators at an early as_of are the same whether later months exist or not."""
    frames, _ = cm.datasets.synthetic_frames(400, months=18, seed=8)
    early = pd.Timestamp("2024-10-01")
    cut = {n: (f if n in ("customers", "contacts", "contracts") else f[f[cm.data.schema.TIME_COLUMN[n]] < early]) for n, f in frames.items()}
    full = build_indicators(frames, [early, pd.Timestamp("2025-03-01")])
    alone = build_indicators(cut, early)
    pd.testing.assert_frame_equal(full[full.as_of == early].reset_index(drop=True), alone)


# ---- missing data


def test_short_history_gives_nan_not_a_fake_ratio(golden_panel):
    # b's whole life (May, Jun) lies inside the recent window: no history month to compare with
    b = golden_panel.loc["b"]
    assert np.isnan(b.amount_ratio) and np.isnan(b.login_ratio) and b.amount_per_month_3m == 150.0
    assert b.months_observed == 2


def test_absent_tables_skip_their_indicators_with_one_line(caplog):
    frames = golden.frames()
    with caplog.at_level(logging.INFO, logger="churnml.indicators"):
        panel = build_indicators({"orders": frames["orders"]}, golden.AS_OF)
    only_orders = [n for n, i in REGISTRY.items() if set(i.tables) <= {"orders", "customers"} and i.name not in ("adverse_policy_events_3m", "competitor_promos_3m")]
    assert set(panel.columns) == {"customer_id", "as_of", *only_orders}
    skipped = [r for r in caplog.records if "absent: skipping" in r.message]
    assert len(skipped) == len({t for i in REGISTRY.values() for t in i.tables} - {"orders", "customers"})
    assert panel.set_index("customer_id").loc["a", "days_since_last_activity"] == 21.0


def test_empty_optional_table_is_skipped(caplog):
    frames = golden.frames()
    frames["surveys"] = frames["surveys"].iloc[:0]
    with caplog.at_level(logging.INFO, logger="churnml.indicators"):
        panel = build_indicators(frames, golden.AS_OF)
    assert "csat_3m" not in panel.columns
    assert any("'surveys' is empty" in r.message for r in caplog.records)


def test_only_setting_restricts_the_set_and_rejects_unknown_names(golden_tables):
    panel = build_indicators(golden_tables, golden.AS_OF, {"indicators": {"only": ["amount_ratio", "complaints_3m"]}})
    assert list(panel.columns) == ["customer_id", "as_of", "amount_ratio", "complaints_3m"]
    with pytest.raises(cm.ConfigError, match="unknown indicator"):
        cm.load_config({"indicators": {"only": ["amount_ratoi"]}})


def test_windows_come_from_config(golden_tables):
    wide = build_indicators(golden_tables, golden.AS_OF, {"indicators": {"recent_months": 1}}).set_index("customer_id")
    assert wide.loc["a", "amount_per_month_3m"] == 40.0  # June only


# ---- bad input


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        (["2024-07-15", "2024-07-01"], "duplicated"),
        (["2024-07-01", "2024-07-01"], "duplicated"),
        ("2020-01-01", "outside the data"),
        ("2030-01-01", "outside the data"),
        ("soon", "not a date"),
        ([], "empty"),
    ],
)
def test_bad_as_of_is_a_clear_error(golden_tables, as_of, message):
    with pytest.raises(ValueError, match=message):
        build_indicators(golden_tables, as_of)


def test_unsorted_and_zone_aware_as_of_are_normalised(golden_tables):
    assert month_starts(["2024-07-01", "2024-06-01"]) == [pd.Timestamp("2024-06-01"), pd.Timestamp("2024-07-01")]
    assert month_starts(pd.Timestamp("2024-07-01", tz="UTC")) == [pd.Timestamp("2024-07-01")]
    assert month_starts("2024-07-15") == [pd.Timestamp("2024-07-01")]  # any day: the month start on or before it


def test_zone_aware_tables_give_the_same_indicators():
    frames = golden.frames()
    aware = {k: v.copy() for k, v in frames.items()}
    aware["orders"]["order_date"] = aware["orders"].order_date.dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai")
    pd.testing.assert_frame_equal(build_indicators(frames, golden.AS_OF), build_indicators(aware, golden.AS_OF))


def test_writing_to_parquet_in_customer_chunks_gives_the_same_panel(sample, tmp_path):
    dates = list(pd.date_range("2025-01-01", periods=4, freq="MS"))
    in_memory = cm.build_indicators(sample, dates)
    path = cm.build_indicators(sample, dates, {"indicators": {"chunk_customers": 700}}, path=tmp_path / "panel.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel.parquet"]  # no temporary file left
    chunked = pd.read_parquet(path)
    # several chunks, each ordered by as_of and customer_id; together every row once
    assert not chunked.as_of.is_monotonic_increasing and chunked.duplicated(["customer_id", "as_of"]).sum() == 0
    chunked = chunked.sort_values(["as_of", "customer_id"], ignore_index=True).astype({"as_of": in_memory.as_of.dtype})
    for column in ("industry", "segment", "region"):  # the same missing values, spelled the pandas way
        chunked[column] = chunked[column].astype("str").where(chunked[column].notna(), pd.NA)
    pd.testing.assert_frame_equal(chunked, in_memory, check_exact=False, rtol=1e-12)


def test_customer_chunks_in_memory_give_the_same_panel_in_the_same_order(sample):
    dates = list(pd.date_range("2025-01-01", periods=4, freq="MS"))
    whole = cm.build_indicators(sample, dates)
    chunked = cm.build_indicators(sample, dates, {"indicators": {"chunk_customers": 700}})
    assert sample["customers"].count().to_pyarrow().as_py() > 2 * 700  # at least three chunks
    pd.testing.assert_frame_equal(chunked, whole)
