"""Churn risk over time: churn periods, the hazard model, horizons and survival curves."""

import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.config import Config, Drop, Inactivity
from churnml.labels import churn_periods
from tests.conftest import orders_on_days

D = pd.Timestamp("2024-07-01")


def _tables(order_days: dict[str, list[float]]) -> cm.Tables:
    """Customers with orders on the given days after D (negative: before D)."""
    return orders_on_days(order_days, D)


def test_churn_periods_by_hand():
    tables = _tables(
        {
            "stops_day_40": [-100, -50, 20, 40],  # last order 40 days after D: churned by the end of period 2, not 1
            "silent_before": [-90, -60],  # already silent at D (within the hesitation window): period 1
            "stays": list(range(-300, 420, 20)),  # orders every 20 days until the data ends
            "returns_late": [-10, 25, 260],  # 235 days of silence after day 25: churned in period 1 by the definition
        }
    )
    config = Config()
    churn = Inactivity(days=180, within_days=90)
    out = churn_periods(tables, [D], churn, config).set_index("customer_id")
    # the data ends 400 days after D: 400 - 180 = 220 days, 7 whole periods of 30 days can be told
    assert (out.periods_observed == 7).all()
    assert out.event_period.to_dict() == {"stops_day_40": 2.0, "silent_before": 1.0, "stays": pytest.approx(np.nan, nan_ok=True), "returns_late": 1.0}


def test_churn_periods_read_only_the_future_and_are_censored_at_the_end_of_the_data():
    base = {"a": [-60, -30, 10, 100], "long": list(range(-300, 300, 15))}
    first = churn_periods(_tables(base), [D], Inactivity(), Config()).set_index("customer_id")
    # data ends 285 days after D: (285 - 180) // 30 = 3 periods observed; "a" stops at day 100, period 4: not known yet
    assert first.loc["a", "periods_observed"] == 3 and np.isnan(first.loc["a", "event_period"])
    later = _tables({"a": base["a"], "long": base["long"] + [600]})  # the data goes on: more periods can be told
    second = churn_periods(later, [D], Inactivity(), Config()).set_index("customer_id")
    assert second.loc["a", "event_period"] == 4.0  # the longer data now tells period 4
    with pytest.raises(ValueError, match="event time"):
        churn_periods(_tables(base), [D], Drop(), Config())


def test_survival_settings_are_checked_at_load():
    with pytest.raises(Exception, match="multiples of period_days"):
        cm.config.load_config({"survival": {"horizons_days": [45]}})
    with pytest.raises(Exception, match="at most periods x period_days"):
        cm.config.load_config({"survival": {"periods": 2, "horizons_days": [90]}})


@pytest.mark.slow
def test_horizon_columns_are_monotone_calibrated_and_as_good_as_the_main_model(sample_model, sample):
    warnings = sample_model.score(sample, as_of="2025-06-01")
    scored = warnings[warnings.status == "scored"]
    columns = ["p_churn_30d", "p_churn_60d", "p_churn_90d"]
    assert scored[columns].notna().all().all()
    p = scored[columns].to_numpy()
    assert (np.diff(p, axis=1) >= 0).all() and (p >= 0).all() and (p <= 1).all()
    curves = np.vstack(scored.survival_curve)
    assert curves.shape[1] == 12 and (np.diff(curves, axis=1) <= 1e-12).all()
    assert np.allclose(1 - curves[:, 2], scored.p_churn_90d)  # the same model gives the curve and the horizons
    assert scored.expected_active_months.between(0, 12).all()
    assert warnings[warnings.status != "scored"].p_churn_90d.isna().all()
    # health score, levels and causes keep their meaning: the main model's
    assert np.allclose(scored.health_score, cm.scoring.health.health_score(scored.churn_probability))

    horizons = cm.evaluation.report(sample_model).horizons
    assert list(horizons.index) == ["30d", "60d", "90d"]
    assert (horizons.ece < 0.05).all()
    assert horizons.loc["90d", "auc_roc"] >= horizons.loc["90d", "main_auc_roc"] - 0.01
    assert "Churn risk over time" in cm.evaluation.report(sample_model).to_markdown()


def test_when_the_hazard_model_ranks_the_calibration_slice_best_it_gives_the_churn_probability(sample_model, sample):
    """One set of hazards answers every horizon: the main probability is the 90-day column, exactly."""
    selection = sample_model.selection_
    assert {"lightgbm", "survival"} <= set(selection.index)
    assert sample_model.fitted_.name == selection.idxmax() == "survival", selection.round(4).to_dict()
    scored = sample_model.score(sample, as_of="2025-06-01")
    scored = scored[scored.status == "scored"]
    assert np.array_equal(scored.churn_probability.to_numpy(), scored.p_churn_90d.to_numpy())
    # the classifier still explains: causes come from its TreeSHAP
    assert sample_model.fitted_.explained_by.name == "lightgbm"
    assert scored.loc[scored.warning_level > 0, "primary_cause"].isin(["price", "service", "needs_change"]).all()
    rep = cm.evaluation.report(sample_model)
    assert rep.models == ["scorecard", "lightgbm", "survival"] and rep.levels_ordered["survival"]


@pytest.mark.slow
def test_without_an_event_time_or_when_disabled_there_are_no_horizon_columns(sample):
    dates = list(pd.date_range("2024-12-01", "2025-04-01", freq="MS"))
    off = cm.ChurnModel({"survival": {"enabled": False}, "tracking": {"enabled": False}}).fit(sample, as_of=dates)
    drop = cm.ChurnModel({"labels": {"churn": {"kind": "drop"}}, "tracking": {"enabled": False}}).fit(sample, as_of=dates)
    for model in (off, drop):
        assert model.survival_ is None
        rows = cm.build_indicators(sample, "2025-05-01")
        assert not any(c.startswith("p_churn_") or c == "survival_curve" for c in model.predict_frame(rows).columns)
