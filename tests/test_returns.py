"""Lapsed customers and their return: statuses, the return model's rows and target, its life table, its quality, the report's hindsight line."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import churnml as cm
from churnml.config import SurvivalSettings
from churnml.data.schema import TIME_COLUMN
from churnml.datasets.btyd import BgNbd
from churnml.labels import Inactivity, NoPurchase
from churnml.models.survival import SurvivalModel, choose_calibration, fit_calibrator
from tests.test_labels import _orders

T = pd.Timestamp
QUIET = {"tracking": {"enabled": False}}


@pytest.fixture
def shop():
    """d lapses in March and comes back on 2024-08-20; z lapses and never returns; a keeps buying."""
    return {
        "orders": _orders(
            [
                ("a", T("2024-01-05"), 1.0), ("a", T("2024-06-20"), 1.0), ("a", T("2024-07-10"), 1.0), ("a", T("2024-10-20"), 1.0),
                ("d", T("2024-01-05"), 1.0), ("d", T("2024-03-01"), 1.0), ("d", T("2024-08-20"), 1.0),
                ("z", T("2024-01-05"), 1.0), ("z", T("2024-02-01"), 1.0),
            ]
        )
    }


def test_lapsed_snapshots_carry_their_return_in_periods_and_nothing_else_moves(shop):
    config = {"labels": {"churn": {"kind": "inactivity", "days": 60, "within_days": 30}, "min_tenure_days": 0}}
    eligible = cm.make_training_frame(shop, ["2024-07-01"], config=config)
    frame = cm.make_training_frame(shop, ["2024-07-01"], config=config, lapsed=["2024-07-01"])
    back = frame[frame.lapsed].set_index("customer_id")
    # at 2024-07-01 d (silent since March) and z are lapsed; d returns on 08-20: 50 days later, period 2 of 30 days
    assert sorted(back.index) == ["d", "z"] and (back.as_of == T("2024-07-01")).all() and back.churned.isna().all()
    assert back.event_period.fillna(-1).to_dict() == {"d": 2.0, "z": -1}
    # the data end at 2024-10-20: 111 days after as_of, 3 whole periods observed
    assert (back.periods_observed == 3).all()
    # the eligible rows are those of the frame without lapsed snapshots
    kept = frame[~frame.lapsed].drop(columns="lapsed").astype({"churned": "int64"}).reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, eligible)
    # a return planted beyond the observed periods is not seen; one planted inside moves only d's period
    planted = pd.concat([shop["orders"], _orders([("d", T("2024-07-05"), 1.0)]).assign(order_id=100)])
    again = cm.make_training_frame({"orders": planted}, ["2024-07-01"], config=config, lapsed=["2024-07-01"])
    assert again[again.lapsed].set_index("customer_id").event_period.fillna(-1).to_dict() == {"d": 1.0, "z": -1}


def test_the_life_table_counts_events_among_those_at_risk():
    frame = pd.DataFrame({"event_period": [1.0, np.nan, 2.0, np.nan], "periods_observed": [3, 2, 3, 1]})
    model = SurvivalModel.pooled(frame, SurvivalSettings(), "return")
    # period 1: 1 of 4 at risk; period 2: 1 of 2 (rows 2 and 3); later periods: nobody observed, the last rate repeats
    np.testing.assert_allclose(model.rates[:3], [0.25, 0.5, 0.5])
    np.testing.assert_allclose(model.p_event(pd.DataFrame(index=range(2)), 60), [1 - 0.75 * 0.5] * 2)
    assert model.calibration == "life table"


def test_calibration_is_chosen_out_of_time_and_none_means_none():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.01, 0.3, 40_000)
    y = (rng.uniform(size=truth.size) < truth).astype(int)
    dates = np.repeat(np.array(["2024-01-01", "2024-02-01"], dtype="datetime64[ns]"), truth.size // 2)
    assert fit_calibrator("none", truth, y) is None
    assert choose_calibration(truth, y, dates) in ("none", "sigmoid", "isotonic")
    # hazards twice too high on both dates: a calibration fitted on the first date repairs the second, so "none" loses
    assert choose_calibration(np.clip(2 * truth, 0, 1), y, dates) != "none"
    assert choose_calibration(truth, y, dates[:1].repeat(truth.size)) == "isotonic"  # one date: nothing to judge on


@pytest.mark.slow
def test_lapsed_customers_of_an_order_log_get_their_chance_of_coming_back():
    """A BG/NBD world cut after two years: the lapsed are scored for their return, near the exact optimum."""
    world = BgNbd()
    cut = T("2026-01-01")
    frames = world.draw(6_000, "2024-01-01", 6, cut + pd.Timedelta(days=91), seed=3)
    known = {name: frame[frame[TIME_COLUMN[name]] < cut] for name, frame in frames.items()}
    config = {**QUIET, "labels": {"churn": {"kind": "inactivity", "days": 180, "within_days": 90}, "min_tenure_days": 0}}
    tables = cm.from_pandas(known)
    model = cm.ChurnModel(config).fit(tables)
    scored = model.score(tables, as_of=cut).set_index("customer_id")
    assert scored.index.is_unique and set(scored.index) == set(known["customers"].customer_id)
    lapsed = scored[scored.status == "lapsed"]
    assert len(lapsed) > 2000 and lapsed.return_probability.between(0, 1).all() and (lapsed.warning_level == 0).all()
    assert lapsed.churn_probability.isna().all() and scored.return_probability[scored.status == "scored"].isna().all()
    # the lapsed follow every scored customer in the list
    order = scored.status.map({"scored": 0, "lapsed": 1}).fillna(2).to_numpy()
    assert (np.diff(order) >= 0).all()
    later = frames["orders"][(frames["orders"].order_date >= cut) & (frames["orders"].order_date < cut + pd.Timedelta(days=90))]
    returned = lapsed.index.isin(later.customer_id).astype(int)
    optimum = 1 - world.optimum(frames["orders"], cut, 90).reindex(lapsed.index)
    silent = -(cut - known["orders"].groupby("customer_id").order_date.max().reindex(lapsed.index)).dt.days
    auc = roc_auc_score(returned, lapsed.return_probability)
    assert auc >= roc_auc_score(returned, optimum) - 0.03 and auc > roc_auc_score(returned, silent)
    assert abs(lapsed.return_probability.mean() - returned.mean()) < 0.02
    # the report judges the return model on its own test date, beside recency
    returns = cm.evaluation.report(model).returns
    assert list(returns.index) == ["return_model", "recency"] and returns.attrs["days"] == 90


def test_under_no_purchase_the_lapsed_keep_their_probability_and_get_no_level(sample):
    config = {**QUIET, "labels": {"churn": NoPurchase(horizon_days=90).model_dump()}}
    dates = pd.date_range("2024-10-01", "2025-06-01", freq="MS")
    model = cm.ChurnModel(config).fit_frame(cm.make_training_frame(sample, dates, config=config))
    scored = model.score(sample, as_of="2025-06-01")
    lapsed = scored[scored.status == "lapsed"]
    assert len(lapsed) > 0 and (lapsed.warning_level == 0).all()
    np.testing.assert_allclose(lapsed.return_probability, 1 - lapsed.churn_probability)
    # lapsed: no order in the 90 days before as_of
    orders = sample["orders"].to_pandas()
    last = orders[orders.order_date < T("2025-06-01")].groupby("customer_id").order_date.max()
    assert (last[lapsed.customer_id] < T("2025-06-01") - pd.Timedelta(days=90)).all()
    active = scored[scored.status == "scored"]
    assert (last[active.customer_id] >= T("2025-06-01") - pd.Timedelta(days=90)).all()


def test_the_report_says_how_many_churners_had_left_already_and_ranks_those_still_here(sample, sample_model):
    report = cm.evaluation.report(sample_model)
    rows = sample_model.holdout_.predictions
    active = rows.still_active.to_numpy()
    churners = rows.churned.to_numpy() == 1
    assert report.still_active.attrs["gone"] == pytest.approx(1 - active[churners].mean())
    main = report.models[-1]
    assert report.still_active[main] == pytest.approx(roc_auc_score(rows.churned[active], rows[f"{main}_probability"][active]))
    # those who had left make the slice easy: its AUC is far above the one among customers still active
    assert report.metrics.loc["auc_roc", main] > report.still_active[main] + 0.1
    assert "had left already" in report.to_markdown() and "已悄然离开" in report.to_markdown("zh")
    # Inactivity's hindsight: a churner that shows activity again after as_of left during the window
    labels = cm.labels.churn_labels(sample, "2025-01-01", Inactivity())
    assert labels.still_active[labels.status == "eligible"].mean() > 0.5
