import pandas as pd
import pytest

import churnml as cm
from churnml.labels import PRESETS, Contractual, Drop, Inactivity, NoPurchase, churn_labels, scoring_status
from churnml.training import make_training_frame

T = pd.Timestamp


def _orders(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    frame.insert(0, "order_id", range(len(frame)))
    return frame


@pytest.fixture
def shop():
    """Five customers of a shop, as_of 2024-07-01, Inactivity(days=60, within_days=30)."""
    orders = _orders(
        [
            # a: keeps buying -> 0
            ("a", T("2024-01-05"), 10.0), ("a", T("2024-06-20"), 10.0), ("a", T("2024-07-10"), 10.0), ("a", T("2024-08-20"), 10.0),
            # b: last order 2024-07-15 (inside the 30 days), then silent for 60+ days -> 1
            ("b", T("2024-01-05"), 10.0), ("b", T("2024-06-01"), 10.0), ("b", T("2024-07-15"), 10.0), ("b", T("2024-10-01"), 10.0),
            # c: went silent on 2024-06-10 and stays silent -> 1 (inside the hesitation window)
            ("c", T("2024-01-05"), 10.0), ("c", T("2024-06-10"), 10.0),
            # d: silent since 2024-03-01: already churned at as_of (more than 60 days)
            ("d", T("2024-01-05"), 10.0), ("d", T("2024-03-01"), 10.0),
            # e: signed up two weeks ago
            ("e", T("2024-06-17"), 10.0), ("e", T("2024-06-20"), 10.0),
            # f: pauses 50 days after 2024-07-20, then returns: not churn
            ("f", T("2024-01-05"), 10.0), ("f", T("2024-06-01"), 10.0), ("f", T("2024-07-20"), 10.0), ("f", T("2024-09-08"), 10.0),
            # g: the only next order is stamped exactly at as_of + 30 days: outside the window, 60 days later it returns
            ("g", T("2024-01-05"), 10.0), ("g", T("2024-06-25"), 10.0), ("g", T("2024-07-31"), 10.0),
        ]
    )
    return {"orders": orders}


def test_inactivity_labels_and_statuses(shop):
    labels = churn_labels(shop, "2024-07-01", Inactivity(days=60, within_days=30)).set_index("customer_id")
    assert labels.status.to_dict() == {
        "a": "eligible", "b": "eligible", "c": "eligible", "d": "lapsed", "e": "too_new", "f": "eligible", "g": "eligible",
    }
    churned = labels.churned.dropna().astype(int).to_dict()
    # g: last activity before 2024-07-31 is 2024-06-25; the 2024-07-31 order is 36 days later (< 60)
    assert churned == {"a": 0, "b": 1, "c": 1, "f": 0, "g": 0}
    # hindsight: b left during the window, c had left already (nothing at or after as_of), like lapsed d
    assert labels.still_active.to_dict() == {"a": True, "b": True, "c": False, "d": False, "e": False, "f": True, "g": True}
    assert scoring_status(shop, "2024-07-01", {"labels": {"churn": {"kind": "inactivity", "days": 60, "within_days": 30}}}).status.tolist() == [
        "scored", "scored", "scored", "lapsed", "too_new", "scored", "scored",
    ]
    assert labels.churned.isna().sum() == 2


def test_labels_read_nothing_after_the_horizon(shop):
    churn = Inactivity(days=60, within_days=30)
    before = churn_labels(shop, "2024-07-01", churn)
    late = _orders([("c", T("2024-07-01") + pd.Timedelta(days=churn.horizon_days + 1), 5.0)])
    late["order_id"] = late.order_id + 1000
    after = churn_labels({"orders": pd.concat([shop["orders"], late])}, "2024-07-01", churn)
    pd.testing.assert_frame_equal(before, after)


def test_incomplete_horizon_is_never_labelled(shop):
    labels = churn_labels(shop, "2024-09-01", Inactivity(days=60, within_days=30))
    assert set(labels.status) <= {"incomplete", "lapsed", "too_new"}
    assert labels.churned.isna().all()


def test_no_purchase_labels_every_customer_with_history_the_lapsed_too(shop):
    churn = NoPurchase(horizon_days=30)
    labels = churn_labels(shop, "2024-07-01", churn).set_index("customer_id")
    # d, silent since March, is eligible: will it buy again within 30 days? (no)
    assert labels.status.to_dict() == {k: "eligible" for k in "abcdfg"} | {"e": "too_new"}
    # a buys on 07-10, b on 07-15, f on 07-20; g's next order is stamped exactly at as_of + 30 days: outside
    assert labels.churned.dropna().astype(int).to_dict() == {"a": 0, "b": 0, "c": 1, "d": 1, "f": 0, "g": 1}
    # d bought nothing in the 30 days before as_of either: lapsed (labelled for training, scored for its return)
    status = scoring_status(shop, "2024-07-01", {"labels": {"churn": churn.model_dump()}}).set_index("customer_id").status
    assert status.to_dict() == {k: "scored" for k in "abcfg"} | {"d": "lapsed", "e": "too_new"}
    # rows stamped after the window change nothing; one planted at as_of is inside the window
    planted = _orders([("d", T("2024-07-31"), 5.0), ("c", T("2024-07-01"), 5.0)])
    planted["order_id"] += 1000
    again = churn_labels({"orders": pd.concat([shop["orders"], planted])}, "2024-07-01", churn).set_index("customer_id")
    assert again.churned.dropna().astype(int).to_dict() == {"a": 0, "b": 0, "c": 0, "d": 1, "f": 0, "g": 1}
    # a month earlier the June orders are the answers: a 06-20, b and f 06-01 (at as_of), c 06-10, g 06-25; d stays away
    june = churn_labels(shop, "2024-06-01", churn).set_index("customer_id")
    assert june.churned.dropna().astype(int).to_dict() == {"a": 0, "b": 0, "c": 0, "d": 1, "f": 0, "g": 0}


def test_presets_and_bad_preset():
    assert {k: Inactivity.preset(k).days for k in PRESETS} == {"fmcg": 90, "default": 180, "durable": 365}
    assert Inactivity().days == 180 and Inactivity().horizon_days == 270
    with pytest.raises(ValueError, match="unknown preset"):
        Inactivity.preset("cars")


def test_drop_label():
    orders = _orders(
        [
            ("a", T("2024-01-01"), 0.0), ("a", T("2024-04-10"), 100.0), ("a", T("2024-07-10"), 20.0),  # 20 < 0.3 x 100 -> 1
            ("b", T("2024-01-01"), 0.0), ("b", T("2024-04-10"), 100.0), ("b", T("2024-07-10"), 40.0),  # 40 >= 30 -> 0
            ("c", T("2024-01-01"), 100.0), ("c", T("2024-07-10"), 40.0),  # nothing in the previous window
            ("z", T("2024-12-30"), 1.0),
        ]
    )
    labels = churn_labels({"orders": orders}, "2024-07-01", Drop(share=0.3, window_days=91)).set_index("customer_id")
    assert labels.loc[["a", "b"], "churned"].tolist() == [1, 0]
    assert labels.loc["c", "status"] == "no_history"


def test_contractual_label():
    orders = _orders([(c, T("2023-01-10"), 1.0) for c in "abcd"] + [("a", T("2025-01-10"), 1.0)])
    contracts = pd.DataFrame(
        [
            ("a", T("2023-01-01"), T("2024-08-01"), pd.NaT),  # ends inside the horizon, renewed
            ("a", T("2024-08-01"), T("2025-08-01"), pd.NaT),
            ("b", T("2023-01-01"), T("2024-08-01"), pd.NaT),  # ends inside, not renewed -> 1
            ("c", T("2023-01-01"), T("2025-01-01"), T("2024-07-20")),  # cancelled inside -> 1
            ("d", T("2023-01-01"), T("2024-05-01"), pd.NaT),  # its contract ended before as_of: lapsed
            ("e", T("2024-09-01"), T("2025-09-01"), pd.NaT),  # its first contract starts after as_of
        ],
        columns=["customer_id", "start_date", "end_date", "cancelled_at"],
    )
    orders = pd.concat([orders, _orders([("e", T("2023-01-10"), 1.0)]).assign(order_id=99)])
    labels = churn_labels({"orders": orders, "contracts": contracts}, "2024-07-01", Contractual(horizon_days=90)).set_index("customer_id")
    assert labels.churned.dropna().astype(int).to_dict() == {"a": 0, "b": 1, "c": 1}
    assert labels.loc["d", "status"] == "lapsed" and labels.loc["e", "status"] == "no_contract"
    # a return is a new contract; the contracts table's last start (e's, 2024-09-01, day 62) ends what it can tell:
    # 2 periods, so a's renewal on 08-01 (period 2) is seen, e's start in period 3 not yet, d never came back
    tables = cm.from_pandas({"orders": orders, "contracts": contracts})
    back = cm.labels.return_periods(tables, [T("2024-07-01")], Contractual(horizon_days=90), cm.load_config()).set_index("customer_id")
    assert back.event_period.dropna().to_dict() == {"a": 2.0} and (back.periods_observed == 2).all()
    with pytest.raises(ValueError, match="needs a 'contracts' table"):
        churn_labels({"orders": orders}, "2024-07-01", Contractual())


def test_churn_definition_from_config():
    cfg = cm.load_config({"labels": {"churn": {"kind": "drop", "share": 0.5}}})
    assert cfg.labels.churn == Drop(share=0.5)
    with pytest.raises(cm.ConfigError, match="labels.churn"):
        cm.load_config({"labels": {"churn": {"kind": "weather"}}})


def test_training_frame_on_the_synthetic_world_matches_planted_churn():
    tables, truth = cm.datasets.make_synthetic(1500, months=24, seed=31)
    dates = [f"2025-{m:02d}-01" for m in range(1, 4)]
    frame = make_training_frame(tables, dates, Inactivity(days=90, within_days=90))
    assert frame.duplicated(["customer_id", "as_of"]).sum() == 0
    assert set(frame.churned.unique()) == {0, 1}
    assert {"amount_ratio", "complaints_3m"} <= set(frame.columns)
    merged = frame.merge(truth, on="customer_id")
    left_in_window = merged.churn_date.notna() & (merged.churn_date < merged.as_of + pd.Timedelta(days=90))
    # every planted churner leaving in the window is labelled, and labels mostly mean planted churn
    assert merged.loc[left_in_window & (merged.churn_date >= merged.as_of), "churned"].mean() > 0.95
    assert left_in_window[merged.churned == 1].mean() > 0.9


def test_training_frame_from_an_order_log_only():
    tables, _ = cm.datasets.make_synthetic(800, months=24, seed=44, tables=("orders",))
    frame = make_training_frame(tables, ["2024-11-01", "2024-12-01"], Inactivity(days=90, within_days=60))
    assert {"amount_ratio", "days_since_last_activity", "tenure_months"} <= set(frame.columns)
    assert "complaints_3m" not in frame.columns
    assert frame.churned.isin([0, 1]).all() and 0 < frame.churned.mean() < 0.5


def test_a_young_base_starts_its_snapshots_early_enough_to_train(caplog):
    """Nine months of a cohort, a 90-day horizon: the history windows alone would leave one labelled month."""
    import logging

    frames = cm.datasets.BgNbd().draw(2000, "2024-01-01", 3, "2024-10-01", seed=5)
    config = {"labels": {"churn": {"kind": "no_purchase", "horizon_days": 90}, "min_tenure_days": 0}, "tracking": {"enabled": False}}
    with caplog.at_level(logging.INFO, logger="churnml.labels"):
        dates = cm.labels.labelled_dates(frames, config=config)
    assert dates == list(pd.date_range("2024-02-01", "2024-07-01", freq="MS"))  # the last: 07-01 + 90 days is inside the data
    assert "young base: snapshots from 2024-02-01, 1 month(s) after the first order (not 2024-05-01)" in caplog.text
    model = cm.ChurnModel({**config, "model": {"training": "labelled"}}).fit(cm.from_pandas(frames))
    assert len(model.holdout_.split.train) == 3 and model.holdout_.split.test == (pd.Timestamp("2024-07-01"),)
    # censored training (the default for no_purchase) adds the month whose first period the data observed
    censored = cm.ChurnModel(config).fit(cm.from_pandas(frames)).holdout_.split
    assert censored.train[0] == pd.Timestamp("2024-02-01") and censored.test == (pd.Timestamp("2024-08-01"),)
    # the sample's two years keep the documents' start: the first month with a history month for its first customers
    assert cm.labels.labelled_dates(cm.datasets.load_sample())[0] == pd.Timestamp("2024-05-01")
