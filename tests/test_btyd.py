"""The BG/NBD baseline: its fit recovers a drawn world's parameters, it reads the indicators right, and it can replace LightGBM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.datasets.btyd import BgNbd, ParetoNbd, order_history
from churnml.models.baselines import ORDER_HISTORY, BgNbdClassifier, ParetoNbdClassifier, choose
from churnml.models.btyd import BgNbdParams, fit_bgnbd, fit_pareto_nbd

AS_OF = pd.Timestamp("2025-02-01")


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    return BgNbd().draw(12_000, "2024-01-01", 6, "2025-04-01", seed=21)


def test_maximum_likelihood_recovers_the_parameters_of_a_drawn_world(world):
    fitted = fit_bgnbd(*order_history(world["orders"], AS_OF)[1:])
    truth = BgNbd()
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.25), name


def test_pareto_nbd_maximum_likelihood_recovers_a_drawn_world_and_its_classifier_composes_any_horizon():
    truth = ParetoNbd()
    orders = truth.draw(12_000, "2024-01-01", 3, "2025-04-01", seed=5)["orders"]
    ids, x, t_x, T = order_history(orders, AS_OF)
    fitted = fit_pareto_nbd(x, t_x, T)
    # lam's gamma (r, alpha) is well identified; s and beta trade off along a ridge, so check what they imply: mean lifetime rate
    assert fitted.r == pytest.approx(truth.r, rel=0.15) and fitted.alpha == pytest.approx(truth.alpha, rel=0.2)
    assert fitted.s / fitted.beta == pytest.approx(truth.s / truth.beta, rel=0.25)
    fitted_p, true_p = fitted.p_no_purchase(x, t_x, T, 180), truth.p_no_purchase(x, t_x, T, 180)
    assert np.abs(fitted_p - true_p).mean() < 0.02
    panel = pd.DataFrame({"orders_to_date": x + 1, "days_since_first_order": T, "days_since_last_order": T - t_x})
    classifier = ParetoNbdClassifier(horizon_days=90).fit(panel)
    np.testing.assert_allclose(classifier.at(180).predict_proba(panel)[:, 1], fitted_p, rtol=1e-3)  # the same fit, up to the optimiser
    curve = classifier.survival(panel, 30, 6)
    assert (np.diff(curve, axis=1) <= 1e-12).all() and curve[:, 2] == pytest.approx(classifier.predict_proba(panel)[:, 1])


def test_a_log_far_from_the_model_ends_at_finite_parameters_instead_of_failing():
    # everyone bought once: the drop-out parameters are not identified
    params = fit_bgnbd(np.zeros(500), np.zeros(500), np.linspace(10, 400, 500))
    assert all(np.isfinite([params.r, params.alpha, params.a, params.b]))
    p = params.p_no_purchase(np.zeros(3), np.zeros(3), np.array([10.0, 100.0, 400.0]), 90)
    assert ((0 <= p) & (p <= 1)).all() and p[0] <= p[1] <= p[2]
    with pytest.raises(ValueError, match="t_x <= T"):
        fit_bgnbd(np.ones(2), np.array([5.0, 50.0]), np.array([10.0, 20.0]))


def test_the_classifier_reads_the_lifetime_rfm_indicators_as_the_closed_form_reads_the_orders(world):
    """The true parameters on churnml's indicator rows give exactly the optimum computed from the raw orders."""
    unborn = pd.DataFrame({"customer_id": ["never_bought"], "signup_date": [pd.Timestamp("2024-03-01")]})
    tables = cm.from_pandas({**world, "customers": pd.concat([world["customers"], unborn], ignore_index=True)})
    panel = cm.build_indicators(tables, AS_OF, cm.load_config({"indicators": {"only": list(ORDER_HISTORY)}}))
    classifier = BgNbdClassifier(horizon_days=90)
    classifier.params_, classifier.classes_ = BgNbdParams(**{k: getattr(BgNbd(), k) for k in ("r", "alpha", "a", "b")}), np.array([0, 1])
    mine = pd.Series(classifier.predict_proba(panel)[:, 1], index=panel.customer_id)
    optimum = BgNbd().optimum(world["orders"], AS_OF, 90)
    pd.testing.assert_series_equal(mine.reindex(optimum.index), optimum, check_names=False, rtol=1e-9)
    # a customer without an order before as_of reads as one buying today
    assert mine["never_bought"] == pytest.approx(BgNbd().p_no_purchase([0], [0], [0], 90)[0])


def test_a_baseline_replaces_the_main_model_when_it_ranks_better_and_not_on_a_tie():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 4000)
    noise = rng.normal(size=(2, 4000))
    good, better = y + 1.2 * noise[0], y + 0.9 * noise[1]
    chosen, auc = choose({"lightgbm": good, "rfm_logistic": good - 1.0, "bgnbd": better}, y, "lightgbm")
    assert auc["bgnbd"] > auc["lightgbm"] and chosen == "bgnbd"
    assert choose({"lightgbm": better, "bgnbd": good}, y, "lightgbm")[0] == "lightgbm"
    assert choose({"lightgbm": good, "bgnbd": 2 * good}, y, "lightgbm")[0] == "lightgbm"  # same ranking: the main one
    assert choose({"lightgbm": good}, y, "lightgbm")[0] == "lightgbm"


def test_on_a_bgnbd_world_labelled_training_ships_the_better_model_and_still_explains_it(world):
    config = {
        "labels": {"churn": {"kind": "no_purchase", "horizon_days": 90}, "min_tenure_days": 0},
        "model": {"training": "labelled"},
        "tracking": {"enabled": False},
    }
    tables = cm.from_pandas(world)
    model = cm.ChurnModel(config).fit(tables)
    assert set(model.selection_.index) == {"lightgbm", "rfm_logistic", "bgnbd", "pareto_nbd", "survival"}
    chosen = model.fitted_.name
    assert chosen == model.selection_.idxmax()
    report = cm.evaluation.report(model)
    assert report.models[-1] == chosen and "lightgbm" in report.models  # LightGBM stays in the comparison
    assert f"**{chosen}**" in report.to_markdown()
    scored = model.score(tables, "2025-03-01", explain="all")
    assert scored.customer_id.is_unique and scored.churn_probability.notna().all()
    # customers still buying are explained; the lapsed (no order in the 90 days before) get their chance of returning
    active = scored.status == "scored"
    shares = scored.cause_shares[active]
    assert shares.notna().all() and model.feature_importance().index[0] in model.schema_.columns
    # a cause needs a risk-increasing contribution; the training rows include the lapsed (no purchase in the 90 days
    # before), so a customer still buying can be less risky than that average in every respect and have none
    risky = shares.map(lambda s: sum(s.values()) > 0)
    assert risky.mean() > 0.5 and scored.primary_cause[active][risky].notna().all()
    assert scored.primary_cause[active][~risky].isna().all()
    np.testing.assert_allclose(scored.return_probability[~active], 1 - scored.churn_probability[~active])
    # the forced alternative: no candidates, LightGBM always
    forced = cm.ChurnModel({**config, "model": {"training": "labelled", "candidates": []}}).fit(tables)
    assert forced.fitted_.name == "lightgbm" and list(forced.selection_.index) == ["lightgbm"]
