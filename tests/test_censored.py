"""Censored training: every snapshot teaches the periods it observed, and a horizon longer than the data is composed, not shortened."""

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

import churnml as cm
from churnml.config import Config, NoPurchase
from churnml.datasets.btyd import BgNbd, ParetoNbd
from churnml.evaluation import score_metrics
from churnml.labels import churn_periods
from churnml.models.survival import PERIOD, SurvivalModel, choose_curve, curve_log_likelihood
from tests.conftest import orders_on_days

D = pd.Timestamp("2024-07-01")
START, CUT = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-10-01")  # a cohort born in one quarter, 9 months of history
HORIZON = 270  # the real retailer's question: no purchase in the next 9 months


def _tables(order_days: dict[str, list[float]]) -> cm.Tables:
    return orders_on_days(order_days, D)


def test_no_purchase_periods_count_to_the_next_purchase_and_stop_where_the_data_stop():
    tables = _tables(
        {
            "at_as_of": [-40, 0],  # an order stamped at D belongs to the future of D
            "day_45": [-10, 45],
            "lapsed_returns": [-300, 100],
            "never_again": [-20],
            "the_end": [-5, 130.5],  # the last event: the data end 130.5 days after D
        }
    )
    out = churn_periods(tables, [D], NoPurchase(horizon_days=270), Config()).set_index("customer_id")
    assert (out.periods_observed == 4).all()  # 130.5 // 30: the fifth period is not over
    assert out.event_period.to_dict() == pytest.approx(
        {"at_as_of": 1.0, "day_45": 2.0, "lapsed_returns": 4.0, "never_again": np.nan, "the_end": np.nan}, nan_ok=True
    )


PERIODS, HAZARD = 6, 0.2


def _constant_hazard(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Events at a constant hazard of :data:`HAZARD` per period, each snapshot observed for 1 to :data:`PERIODS` periods."""
    rng = np.random.default_rng(seed)
    event = rng.geometric(HAZARD, n).astype("float64")
    observed = rng.integers(1, PERIODS + 1, n)
    event[event > observed] = np.nan
    return event, observed


def _curve(hazard: float, n: int) -> np.ndarray:
    return np.tile((1 - hazard) ** np.arange(1, PERIODS + 1), (n, 1))


def test_the_curve_log_likelihood_prefers_the_true_curve():
    n = 20_000
    event, observed = _constant_hazard(n, seed=3)
    assert curve_log_likelihood(_curve(HAZARD, n), event, observed) > curve_log_likelihood(_curve(0.3, n), event, observed)
    # by hand: an event in period 1 scores log(1 - S(1)), one censored after 2 periods log S(2)
    ll = curve_log_likelihood(np.array([[0.8, 0.64], [0.8, 0.64]]), np.array([1.0, np.nan]), np.array([2, 2]))
    assert ll == pytest.approx((np.log(0.2) + np.log(0.64)) / 2)


def test_the_hazard_model_replaces_a_model_of_repeat_buying_only_when_clearly_better():
    n = 6000
    event, observed = _constant_hazard(n, seed=4)
    customers = np.arange(n) // 2  # two snapshots per customer
    curve = lambda h: _curve(h, n)  # noqa: E731
    # the hazard this sample makes likeliest fits it better than the truth, by noise alone
    mle = np.isfinite(event).sum() / np.where(np.isnan(event), observed, event).sum()  # events per period at risk
    chosen, fit = choose_curve({"survival": curve(mle), "bgnbd": curve(HAZARD)}, event, observed, customers)
    assert fit["survival"] > fit["bgnbd"] and chosen == "bgnbd"
    # a model of repeat buying that is wrong loses to it
    chosen, fit = choose_curve({"survival": curve(HAZARD), "bgnbd": curve(0.25)}, event, observed, customers)
    assert chosen == "survival"
    assert choose_curve({"survival": curve(HAZARD)}, event, observed, customers)[0] == "survival"


def test_a_horizon_between_periods_spreads_the_hazard_evenly_in_time():
    # a constant calibrated hazard of 0.1 per 30 days: S(t) = 0.9 ** (t / 30) for any t
    calibrator = IsotonicRegression(out_of_bounds="clip").fit([0.0, 1.0], [0.1, 0.1])

    class Booster:  # what the hazards read of a fitted LightGBM: its features, categories and predictions
        pandas_categorical = None

        def feature_name(self):
            return ["f", PERIOD]

        def num_feature(self):
            return 2

        def predict(self, rows, num_threads=1):
            return np.zeros(len(rows))

    class Constant:
        booster_ = Booster()

    X = pd.DataFrame({"f": [1.0, 2.0]})
    purchase = SurvivalModel(Constant(), calibrator, 30, 12, [30], event="purchase")
    churn = SurvivalModel(Constant(), calibrator, 30, 12, [30], event="churn")
    for days in (30, 45, 100, 360):
        assert purchase.p_churn(X, days) == pytest.approx(0.9 ** (days / 30))  # no purchase within the days
        assert churn.p_churn(X, days) == pytest.approx(1 - 0.9 ** (days / 30))
    with pytest.raises(ValueError, match="outside the survival curve"):
        purchase.p_churn(X, 365)


@pytest.fixture(scope="module", params=[BgNbd(), ParetoNbd()], ids=["bgnbd", "pareto_nbd"])
def world(request):
    """The field's two standard models of repeat buying: drop-out just after a purchase, or at any time."""
    return request.param


@pytest.fixture(scope="module")
def cohort(world) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """A cohort born in one quarter: everything drawn, and what was known at the cut."""
    frames = world.draw(8000, START, 3, CUT + pd.Timedelta(days=HORIZON + 1), seed=11)
    orders = frames["orders"]
    known = {"customers": frames["customers"][frames["customers"].signup_date < CUT], "orders": orders[orders.order_date < CUT]}
    # one customer signed up before the cut without an order yet: it must still appear, with its status
    unborn = pd.DataFrame({"customer_id": ["signed_up_only"], "signup_date": [CUT - pd.Timedelta(days=20)]})
    known["customers"] = pd.concat([known["customers"], unborn], ignore_index=True)
    return frames, known


@pytest.fixture(scope="module")
def young_model(cohort) -> cm.ChurnModel:
    config = {"labels": {"churn": {"kind": "no_purchase", "horizon_days": HORIZON}, "min_tenure_days": 0}, "tracking": {"enabled": False}}
    return cm.ChurnModel(config).fit(cm.from_pandas(cohort[1]))


def test_nine_months_of_history_answer_a_nine_month_horizon_near_the_optimum(world, cohort, young_model):
    frames, known = cohort
    assert young_model.config_.labels.churn.horizon_days == HORIZON  # not shortened
    with pytest.raises(ValueError, match="time-ordered split needs"):  # what labelled training says on the same data
        cm.ChurnModel({**young_model.config, "model": {"training": "labelled"}}).fit(cm.from_pandas(known))
    scored = young_model.score(cm.from_pandas(known), as_of=CUT)
    assert scored.customer_id.is_unique and set(scored.customer_id) == set(known["customers"].customer_id)
    buyers = scored[scored.customer_id != "signed_up_only"].set_index("customer_id")
    assert buyers.status.isin(["scored", "lapsed"]).all() and (buyers.status == "lapsed").any()
    assert buyers.churn_probability.between(0, 1).all()  # the lapsed too: no purchase in H is the question asked of them
    lapsed = buyers[buyers.status == "lapsed"]
    np.testing.assert_allclose(lapsed.return_probability, 1.0 - lapsed.churn_probability)
    assert scored.set_index("customer_id").loc["signed_up_only", "status"] == "no_history"
    orders = frames["orders"]
    later = orders[(orders.order_date >= CUT) & (orders.order_date < CUT + pd.Timedelta(days=HORIZON))]
    y = (~buyers.index.isin(later.customer_id)).astype("int64")
    mine = score_metrics(y, buyers.churn_probability.to_numpy())
    optimum = score_metrics(y, world.optimum(orders, CUT, HORIZON).reindex(buyers.index).to_numpy())
    assert mine["auc_roc"] >= optimum["auc_roc"] - 0.01, (mine, optimum, young_model.selection_.to_dict())
    assert mine["ece"] <= 0.02, mine


def test_the_report_says_at_which_horizon_the_test_slice_was_judged(young_model):
    holdout = young_model.holdout_
    assert holdout.judged_days is not None and 0 < holdout.judged_days < HORIZON
    report = cm.evaluation.report(young_model)
    assert f"**{holdout.judged_days} days**" in report.to_markdown()
    assert set(young_model.selection_.index) == {"survival", "bgnbd", "pareto_nbd"}
    assert young_model.selection_.name == "calibration_log_likelihood"
    assert young_model.fitted_.name in {"bgnbd", "pareto_nbd"}  # the hazard model is not clearly better on either world
    assert {"recency", "bgnbd"} <= set(report.baselines.index)


def test_censored_scores_read_nothing_at_or_after_as_of(cohort, young_model):
    frames, known = cohort
    everything = {**known, "orders": frames["orders"]}  # the future orders planted back in
    now = young_model.score(cm.from_pandas(known), as_of=CUT).set_index("customer_id")
    planted = young_model.score(cm.from_pandas(everything), as_of=CUT).set_index("customer_id").loc[now.index]
    pd.testing.assert_series_equal(now.churn_probability, planted.churn_probability)
    pd.testing.assert_series_equal(now.primary_cause, planted.primary_cause)
