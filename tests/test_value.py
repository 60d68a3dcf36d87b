"""Customer lifetime value: the arithmetic on hand-made customers, and the warning list that ranks by value at risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.config import ClvSettings, LevelSettings
from churnml.constants import MONTH_DAYS
from churnml.scoring.health import customer_value
from churnml.scoring.value import constant_hazards, expected_monthly_spend, lifetime_value, monthly_survival, value_columns

AS_OF = "2026-01-01"


def test_monthly_survival_spreads_each_period_evenly_and_carries_the_last_hazard_on():
    hazards = np.array([[0.1, 0.2]])  # 30-day periods
    s = monthly_survival(hazards, 30, 3)
    t = np.arange(1, 4) * MONTH_DAYS / 30  # 1.015, 2.03, 3.04 periods
    expected = [0.9 * 0.8 ** (t[0] - 1), 0.9 * 0.8 * 0.8 ** (t[1] - 2), 0.9 * 0.8 * 0.8 * 0.8 ** (t[2] - 3)]
    np.testing.assert_allclose(s[0], expected)
    assert (np.diff(s, axis=1) <= 0).all()


def test_a_constant_hazard_gives_back_the_churn_probability_at_the_horizon():
    p = np.array([0.0, 0.3, 0.9])
    hazards = constant_hazards(p, horizon_days=6 * MONTH_DAYS, period_days=MONTH_DAYS)
    np.testing.assert_allclose(1 - monthly_survival(hazards, MONTH_DAYS, 6)[:, -1], p, atol=1e-12)


def test_the_spend_model_shrinks_a_short_history_toward_the_population():
    rows = pd.DataFrame({"monthly_spend": [100.0, 100.0, np.nan, -50.0], "months_observed": [2.0, 40.0, 0.0, 3.0]})
    spend = expected_monthly_spend(rows, population=40.0, settings=ClvSettings(prior_months=3), window_months=15)
    # 2 months of 100 against 3 of 40; a long history counts as the 15-month window; no spend: the population;
    # refunds beyond purchases: 3 months of -50 against 3 of 40 is negative, so 0
    np.testing.assert_allclose(spend, [(2 * 100 + 3 * 40) / 5, (15 * 100 + 3 * 40) / 18, 40.0, 0.0])
    own = expected_monthly_spend(rows, population=40.0, settings=ClvSettings(prior_months=0), window_months=15)
    np.testing.assert_allclose(own, [100.0, 100.0, 0.0, 0.0])  # no prior, no spend known: 0


def test_lifetime_value_discounts_each_month_it_survives():
    value = lifetime_value(np.array([100.0, 0.0]), np.array([[0.9, 0.81], [1.0, 1.0]]), 0.01)
    np.testing.assert_allclose(value, [100 * (0.9 / 1.01 + 0.81 / 1.01**2), 0.0])
    columns = value_columns(np.array([100.0]), np.array([[0.9, 0.81]]), 0.01)
    np.testing.assert_allclose(columns.value_at_risk, [100 * (0.1 / 1.01 + 0.19 / 1.01**2)])
    assert customer_value(pd.Series([1000.0, np.nan, -5.0]), LevelSettings(margin=0.3)).tolist() == [300.0, 0.0, 0.0]


def test_a_customer_s_clv_is_its_survival_curve_times_its_shrunk_spend(sample, sample_model):
    import churnml as cm

    panel = cm.build_indicators(sample, AS_OF)
    status = cm.labels.scoring_status(sample, AS_OF)
    rows = panel[panel.customer_id.isin(status.customer_id[status.status == "scored"])].head(50).reset_index(drop=True)
    out = sample_model.predict_frame(rows)
    config = sample_model.config_
    population = sample_model.peers_.overall["monthly_spend"]
    n = np.clip(rows.months_observed.fillna(15), 1, 15)
    spend = ((n * rows.monthly_spend.fillna(0) + config.clv.prior_months * population) / (n + config.clv.prior_months)).clip(lower=0)
    curve = np.array(out.survival_curve.tolist())  # S after each 30-day period
    period = sample_model.survival_.period_days
    hazards = 1 - curve / np.column_stack([np.ones(len(curve)), curve[:, :-1]])
    by_hand = []
    for i in range(len(rows)):
        total = 0.0
        for month in range(1, config.clv.horizon_months + 1):
            t = month * MONTH_DAYS / period
            k = int(t)
            alive = (curve[i, k - 1] if k else 1.0) * (1 - hazards[i, min(k, hazards.shape[1] - 1)]) ** (t - k)
            total += alive * spend[i] / (1 + config.clv.discount_rate) ** month
        by_hand.append(total)
    np.testing.assert_allclose(out.clv, by_hand, rtol=1e-9)
    kept = spend * sum(1.01**-m for m in range(1, 13))  # the value if kept: every month of spend, discounted
    np.testing.assert_allclose(out.clv + out.value_at_risk, kept, rtol=1e-9)
    assert (out.value_at_risk >= 0).all()
    tiers = sample_model.value_tiers_
    assert set(out.value_tier[kept >= tiers.high]) <= {"high"} and set(out.value_tier[kept < tiers.medium]) <= {"low"}


def test_the_warning_list_ranks_by_value_at_risk_within_a_level(sample, sample_model):
    scored = sample_model.score(sample, AS_OF)
    warned = scored[scored.warning_level > 0]
    for _, level in warned.groupby("warning_level"):
        assert level.value_at_risk.round(6).is_monotonic_decreasing
    assert scored.clv[scored.status == "scored"].notna().all() and scored.clv[scored.status != "scored"].isna().all()


def test_the_profit_strategy_values_a_customer_at_its_value_if_kept_times_the_margin(sample, sample_frame):
    import churnml as cm

    model = cm.ChurnModel({"levels": {"strategy": "profit"}, "tracking": {"enabled": False}, "survival": {"enabled": False}}).fit_frame(sample_frame)
    scored = model.score(sample, AS_OF)
    rows = scored[scored.status == "scored"]
    expected = model.policy_.assign(rows.health_score.to_numpy(), (rows.clv + rows.value_at_risk).to_numpy() * model.config_.levels.margin)
    np.testing.assert_array_equal(rows.warning_level, expected)
    # without a hazard model: the churn probability's constant hazard (a customer who spent nothing is worth 0)
    assert model.survival_ is None and rows.clv.ge(0).all() and rows.clv.gt(0).mean() > 0.9
    assert rows.warning_level.gt(0).any() and rows.warning_level.eq(0).any()


@pytest.mark.parametrize("bad", [{"discount_rate": 1.0}, {"horizon_months": 0}, {"prior_months": -1}])
def test_bad_clv_settings_are_refused(bad):
    from churnml.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="clv"):
        load_config({"clv": bad})
