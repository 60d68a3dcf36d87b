"""as_of given as any day: the snapshot at the month start on or before it, and never a fact stamped on or after the day."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.data.calendar import month_starts, scoring_dates
from churnml.labels import churn_labels, scoring_status

ts = pd.Timestamp
D = ts("2024-06-17")  # a Monday in mid-June: the snapshot is 2024-06-01
MONTH = ts("2024-06-01")


def _world() -> dict[str, pd.DataFrame]:
    """Six customers over a year, typed by hand: monthly orders that fade for some, logins, tickets, invoices, contracts."""
    ids = ["a", "b", "c", "d", "e", "f"]
    customers = pd.DataFrame({"customer_id": ids, "signup_date": ts("2023-05-01"), "segment": ["small", "large"] * 3})
    months = pd.date_range("2023-06-01", "2024-05-01", freq="MS")
    orders, logins = [], []
    for i, cid in enumerate(ids):
        for k, month in enumerate(months):
            fading = i % 2 == 1 and k >= 8  # b, d, f buy less and log in less from 2024-02
            if not (fading and k % 2):
                orders.append((cid, month + pd.Timedelta(days=3 + i, hours=10), 100.0 * (1 + i) * (0.5 if fading else 1.0)))
            logins += [(cid, month + pd.Timedelta(days=d, hours=9), "login") for d in range(1, 20, 6 if fading else 3)]
    orders += [("a", ts("2024-06-05"), 120.0), ("b", ts("2024-06-10"), 90.0)]  # between the month start and D: not read either
    orders = pd.DataFrame(orders, columns=["customer_id", "order_date", "amount"])
    orders.insert(0, "order_id", [f"o{i}" for i in range(len(orders))])
    return {
        "customers": customers,
        "orders": orders,
        "activity": pd.DataFrame(logins, columns=["customer_id", "timestamp", "event_type"]),
        "tickets": pd.DataFrame(
            {
                "ticket_id": ["t1", "t2", "t3"],
                "customer_id": ["b", "d", "d"],
                "opened_at": [ts("2024-03-04"), ts("2024-04-10"), ts("2024-05-20")],
                "first_response_at": [ts("2024-03-05"), ts("2024-04-12"), pd.NaT],
                "resolved_at": [ts("2024-03-08"), pd.NaT, pd.NaT],
                "category": ["complaint", "complaint", "price"],
            }
        ),
        "invoices": pd.DataFrame(
            {
                "invoice_id": ["i1", "i2"],
                "customer_id": ["a", "f"],
                "issue_date": [ts("2024-04-01"), ts("2024-04-01")],
                "due_date": [ts("2024-05-01"), ts("2024-05-01")],
                "amount": [300.0, 600.0],
                "paid_date": [ts("2024-04-03"), pd.NaT],
            }
        ),
        "contracts": pd.DataFrame({"customer_id": ids, "start_date": ts("2023-05-01"), "end_date": ts("2024-11-01")}),
    }


def _planted(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The same world with rows stamped on and after D in every dated table, and a customer who signs up after D."""
    later = [D, D + pd.Timedelta(hours=5), ts("2024-06-30 23:59"), ts("2024-07-15"), ts("2024-09-02")]
    out = {k: v.copy() for k, v in frames.items()}
    out["customers"] = pd.concat([out["customers"], pd.DataFrame({"customer_id": ["new"], "signup_date": [D + pd.Timedelta(days=1)]})], ignore_index=True)
    who = ["b", "d", "f", "new", "a"]
    orders = pd.DataFrame({"order_id": [f"p{i}" for i in range(5)], "customer_id": who, "order_date": later, "amount": 5000.0})
    out["orders"] = pd.concat([out["orders"], orders], ignore_index=True)
    out["activity"] = pd.concat([out["activity"], pd.DataFrame({"customer_id": who, "timestamp": later, "event_type": "login"})], ignore_index=True)
    tickets = pd.DataFrame(
        {"ticket_id": [f"pt{i}" for i in range(5)], "customer_id": who, "opened_at": later, "first_response_at": later, "resolved_at": pd.NaT, "category": "complaint"}
    )
    out["tickets"] = pd.concat([out["tickets"], tickets], ignore_index=True)
    invoices = pd.DataFrame(
        {"invoice_id": [f"pi{i}" for i in range(5)], "customer_id": who, "issue_date": later, "due_date": later, "amount": 999.0, "paid_date": pd.NaT}
    )
    out["invoices"] = pd.concat([out["invoices"], invoices], ignore_index=True)
    contracts = pd.DataFrame({"customer_id": who, "start_date": later, "end_date": ts("2025-06-01"), "cancelled_at": [*later[1:], pd.NaT]})
    out["contracts"] = pd.concat([out["contracts"], contracts], ignore_index=True)
    return out


# ---- what a day means


def test_a_day_stands_for_the_snapshot_at_the_month_start_on_or_before_it(caplog):
    with caplog.at_level(logging.WARNING, logger="churnml.data.calendar"):
        assert month_starts(["2024-06-01", "2024-03-01"]) == [ts("2024-03-01"), ts("2024-06-01")]
        assert not caplog.records  # month starts are taken as they are, silently
        assert month_starts("2024-06-17") == [MONTH]
        assert month_starts(ts("2024-06-30 23:59:59")) == [MONTH]
        assert month_starts("2024-07-01T06:00:00+08:00") == [MONTH]  # 2024-06-30 22:00 UTC
    assert len(caplog.records) == 3
    assert caplog.records[0].getMessage() == (
        "as_of 2024-06-17 is not a month start: it stands for the snapshot at 2024-06-01, which reads only the facts "
        "stamped before 2024-06-01 (indicators count whole months); give 2024-07-01 to read June 2024 as well"
    )


def test_several_days_are_named_in_one_warning_and_two_days_of_one_month_are_duplicates(caplog):
    with caplog.at_level(logging.WARNING, logger="churnml.data.calendar"):
        assert month_starts(["2024-06-17", "2024-05-01", "2024-04-09"]) == [ts("2024-04-01"), ts("2024-05-01"), MONTH]
    (record,) = caplog.records
    assert "as_of 2024-04-09, 2024-06-17 are not month starts: they stand for the snapshots at 2024-04-01, 2024-06-01" in record.getMessage()
    with pytest.raises(ValueError, match=r"duplicated dates: \['2024-06-01'\] \(2024-06-17 and 2024-06-01: a day stands for"):
        month_starts(["2024-06-17", "2024-06-01"])


def test_a_day_whose_snapshot_lies_outside_the_data_says_so():
    tables = cm.from_pandas(_world())
    assert month_starts("2024-07-20", tables) == [ts("2024-07-01")]  # the month after the last order
    with pytest.raises(ValueError, match=r"outside the data.*2023-06-01 \(given as 2023-06-20\)"):
        month_starts("2023-06-20", tables)  # the first order is on 2023-06-04: no facts before 2023-06-01
    with pytest.raises(ValueError, match="not a date"):
        month_starts("mid-June", tables)


# ---- point in time: nothing stamped on or after the day changes anything


@pytest.fixture(scope="module")
def world() -> tuple[cm.Tables, cm.Tables, cm.ChurnModel]:
    frames = _world()
    tables, planted = cm.from_pandas(frames), cm.from_pandas(_planted(frames))
    model = cm.ChurnModel.cold_start(tables, as_of=D, config={"tracking": {"enabled": False}})
    return tables, planted, model


def test_indicators_labels_and_status_at_a_day_ignore_every_row_stamped_on_or_after_it(world):
    tables, planted, _ = world
    assert planted.time_range("orders")[1] > D  # the rows are there
    pd.testing.assert_frame_equal(cm.build_indicators(planted, D), cm.build_indicators(tables, D))
    pd.testing.assert_frame_equal(cm.build_indicators(tables, D), cm.build_indicators(tables, MONTH))
    status = scoring_status(planted, D).set_index("customer_id").status
    assert status.drop("new").equals(scoring_status(tables, D).set_index("customer_id").status)
    assert status["new"] == "not_started"
    # labels read the future of the snapshot by design; the snapshot is the month start, whatever the day given
    pd.testing.assert_frame_equal(churn_labels(tables, D), churn_labels(tables, MONTH))


def test_scores_at_a_day_do_not_change_when_rows_are_planted_on_and_after_it(world, caplog):
    tables, planted, model = world
    with caplog.at_level(logging.WARNING, logger="churnml.data.calendar"):
        before = model.score(tables, as_of=D).set_index("customer_id")
    assert len([r for r in caplog.records if r.name == "churnml.data.calendar"]) == 1  # said once per call
    after = model.score(planted, as_of=D).set_index("customer_id")
    assert (before.as_of == MONTH).all() and before.status.eq("scored").all() and before.churn_probability.notna().all()
    assert after.loc["new", "status"] == "not_started"
    pd.testing.assert_frame_equal(after.drop(index="new"), before)
    pd.testing.assert_frame_equal(model.score(tables, as_of=MONTH).set_index("customer_id"), before)
    assert np.ptp(before.churn_probability) > 0  # the customers are told apart: the comparison is not of constants


def test_the_scoring_dates_of_a_day_are_those_of_its_month_start(world):
    tables, planted, _ = world
    assert scoring_dates(planted, D, 3) == scoring_dates(tables, MONTH, 3) == (MONTH, [ts("2024-03-01"), MONTH])
