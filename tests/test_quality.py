"""Quality floors of issue 4 on a synthetic world the models never saw (seed 1, not the sample's).

The full measurement (20,000 customers, a seed fixed before it was first
run) is ``python -m benchmarks.quality``; this is its CI-sized guard.
"""

import pytest
from sklearn.metrics import roc_auc_score

import churnml as cm

pytestmark = pytest.mark.slow

N, SEED = 8000, 1


@pytest.fixture(scope="module")
def report():
    world, _ = cm.datasets.make_synthetic(N, months=24, seed=SEED)
    return cm.evaluation.report(cm.ChurnModel().fit(world))


def test_lightgbm_auc_floor_and_margin_over_the_scorecard(report):
    auc = report.metrics.loc["auc_roc"]
    assert auc["lightgbm"] >= 0.85
    assert auc["lightgbm"] - auc["scorecard"] >= 0.05


def test_calibration_floor_and_ordered_levels(report):
    assert (report.calibration.loc["ece_after"] <= 0.03).all()
    assert report.levels_ordered == {"scorecard": True, "lightgbm": True}


def test_orders_only_world_trains_and_beats_recency():
    world, _ = cm.datasets.make_synthetic(N, months=24, seed=SEED, tables=("customers", "orders"))
    model = cm.ChurnModel().fit(world)
    test = model.test_predictions_
    frame = cm.make_training_frame(world, list(model.split_.test))
    assert frame.customer_id.tolist() == test.customer_id.tolist()
    recency = roc_auc_score(frame.churned, frame.days_since_last_activity)
    assert roc_auc_score(test.churned, test.lightgbm_probability) > recency
