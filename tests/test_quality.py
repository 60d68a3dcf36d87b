"""Quality floors of issue 4 on a synthetic world the models never saw (seed 1, not the sample's).

The full measurement (20,000 customers, a seed fixed before it was first
run) is ``python -m benchmarks.quality``; this is its CI-sized guard.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import churnml as cm

pytestmark = pytest.mark.slow

N, SEED = 8000, 1
CAUSES = ("price", "service", "needs_change")
QUIET = {"tracking": {"enabled": False}}  # what is asserted is quality, not tracking (test_tracking.py)


@pytest.fixture(scope="module")
def world():
    return cm.datasets.make_synthetic(N, months=24, seed=SEED)


@pytest.fixture(scope="module")
def model(world):
    return cm.ChurnModel(QUIET).fit(world[0])


@pytest.fixture(scope="module")
def report(model):
    return cm.evaluation.report(model)


def test_lightgbm_auc_floor_and_margin_over_the_scorecard(report):
    auc = report.metrics.loc["auc_roc"]
    assert auc["lightgbm"] >= 0.85
    assert auc["lightgbm"] - auc["scorecard"] >= 0.05


def test_calibration_floor_and_ordered_levels(report):
    assert (report.calibration.loc["ece_after"] <= 0.03).all()
    assert set(report.levels_ordered) == set(report.models) >= {"scorecard", "lightgbm"}
    assert all(report.levels_ordered.values()), report.levels


def test_orders_only_world_trains_and_beats_recency():
    world, _ = cm.datasets.make_synthetic(N, months=24, seed=SEED, tables=("customers", "orders"))
    model = cm.ChurnModel(QUIET).fit(world)
    test = model.holdout_.predictions
    frame = cm.make_training_frame(world, list(model.holdout_.split.test))
    assert frame.customer_id.tolist() == test.customer_id.tolist()
    recency = roc_auc_score(frame.churned, frame.days_since_last_activity)
    assert roc_auc_score(test.churned, test.lightgbm_probability) > recency


def test_cause_of_the_first_warning_before_the_churn_date(world, model):
    """Primary cause vs planted cause at each churner's first warning before it churns.

    Issue 5 asks for 85%; churnml reaches about 74% on the fresh world of
    benchmarks/QUALITY.md, where a supervised classifier of the planted cause
    reaches about 80% from the same rows. This guards the level reached.
    """
    tables, truth = world
    truth = truth.set_index("customer_id")
    panel = cm.build_indicators(tables, list(pd.date_range(model.holdout_.split.test[0], periods=9, freq="MS")))
    panel = panel[(panel.customer_id.map(truth.churn_date) >= panel.as_of) & panel.customer_id.map(truth.cause).isin(CAUSES)]
    scored = model.predict_frame(panel, explain="all")
    first = scored[scored.warning_level > 0].sort_values("as_of").groupby("customer_id").head(1)
    accuracy = (first.primary_cause == first.customer_id.map(truth.cause)).mean()
    print(f"first-warning cause accuracy: {accuracy:.3f} over {len(first)} churners")
    assert len(first) > 150
    assert accuracy >= 0.72


def test_churn_risk_per_horizon_is_calibrated_and_as_good_as_the_main_model(report):
    horizons = report.horizons
    assert list(horizons.index) == ["30d", "60d", "90d"]
    assert (horizons.ece <= 0.03).all()
    assert horizons.loc["90d", "auc_roc"] >= horizons.loc["90d", "main_auc_roc"] - 0.01


def test_on_a_bgnbd_order_log_every_customer_gets_a_calibrated_probability_near_the_optimum():
    """The CI-sized guard of ``python -m benchmarks.benches`` (BG/NBD world, no order in the next 90 days).

    The default pipeline ships BG/NBD there: LightGBM alone was 0.007-0.019 below the optimum's AUC
    (seeds 1-3 at 6,000 customers), which the benchmark shows in QUALITY.md.
    """
    from churnml.datasets.btyd import BgNbd

    truth = BgNbd()
    frames = truth.draw(6000, "2024-01-01", 6, "2025-04-01", seed=2)
    tables = cm.from_pandas(frames)
    config = {"labels": {"churn": {"kind": "no_purchase", "horizon_days": 90}, "min_tenure_days": 0}, "tracking": {"enabled": False}}
    model = cm.ChurnModel(config).fit(tables)
    test = model.holdout_.predictions
    (as_of,) = model.holdout_.split.test
    assert len(test) == 6000  # the lapsed are labelled and scored too
    optimum = roc_auc_score(test.churned, truth.optimum(frames["orders"], as_of, 90).reindex(test.customer_id))
    report = cm.evaluation.report(model)
    main = report.models[-1]
    assert report.metrics.loc["auc_roc", main] >= optimum - 0.01
    assert report.metrics.loc["auc_roc", main] >= report.baselines.auc_roc.max() - 0.005
    assert report.metrics.loc["ece", main] <= 0.02
    scored = model.score(tables, "2025-01-01")
    # under no_purchase the lapsed (no order in the 90 days before) keep the main model's number
    assert scored.status.isin(["scored", "lapsed"]).all() and (scored.status == "lapsed").any()
    assert scored.churn_probability.notna().all() and scored.customer_id.is_unique
    lapsed = scored[scored.status == "lapsed"]
    assert np.allclose(lapsed.return_probability, 1 - lapsed.churn_probability)


def test_the_still_active_line_answers_the_planted_question(world, model, report):
    """The report's hindsight line (customers active again at or after as_of) tells what the planted churn dates tell."""
    truth = world[1].set_index("customer_id").churn_date
    rows = model.holdout_.predictions
    test_date = rows.as_of.max()
    churn_date = rows.customer_id.map(truth)
    here = ~(churn_date < test_date).to_numpy()  # by the planted truth, not churned yet
    leaving = (churn_date < test_date + pd.Timedelta(days=90)).to_numpy()[here]
    main = report.models[-1]
    planted_auc = roc_auc_score(leaving, rows[f"{main}_probability"].to_numpy()[here])
    assert abs(report.still_active[main] - planted_auc) < 0.05
    gone = (churn_date[rows.churned == 1] < test_date).mean()
    assert abs(report.still_active.attrs["gone"] - gone) < 0.1
    # the headline AUC is far above both: those already gone are easy to rank
    assert report.metrics.loc["auc_roc", main] > planted_auc + 0.1
