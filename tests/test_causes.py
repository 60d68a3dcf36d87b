"""Cause attribution: TreeSHAP grouping, reasons, playbook and owner, value and priority."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap

import churnml as cm
from churnml.models.treeshap import FastTreeShap
from churnml.scoring.causes import PeerAverages, ValueTiers, cause_shares, quadrant, reason_text, top_drivers

CAUSE_MAP = {"competitor_mentions_3m": "price", "complaints_3m": "service", "login_ratio": "needs_change", "tenure_months": "none"}


@pytest.fixture(scope="module")
def stumps():
    """Three depth-1 trees on a tiny frame: each tree's SHAP value goes to its one split feature."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "competitor_mentions_3m": rng.integers(0, 3, 400).astype(float),
            "complaints_3m": rng.integers(0, 4, 400).astype(float),
            "login_ratio": rng.uniform(0, 1.5, 400),
            "tenure_months": rng.uniform(1, 60, 400),
        }
    )
    y = ((X.competitor_mentions_3m >= 1) & (X.complaints_3m >= 2) | (X.login_ratio < 0.3)).astype(int)
    model = lgb.LGBMClassifier(n_estimators=3, num_leaves=2, learning_rate=1.0, min_child_samples=5, verbose=-1).fit(X, y)
    return model, X


def _hand_shap(model, X: pd.DataFrame) -> pd.DataFrame:
    """SHAP of a sum of stumps by hand: leaf value minus the tree's mean leaf value (weighted by training counts)."""
    out = pd.DataFrame(0.0, index=X.index, columns=X.columns)
    for tree in model.booster_.dump_model()["tree_info"]:
        node = tree["tree_structure"]
        left, right = node["left_child"], node["right_child"]
        mean = (left["leaf_value"] * left["leaf_count"] + right["leaf_value"] * right["leaf_count"]) / (left["leaf_count"] + right["leaf_count"])
        feature = X.columns[node["split_feature"]]
        value = np.where(X[feature] <= node["threshold"], left["leaf_value"], right["leaf_value"])
        out[feature] += value - mean
    return out


def test_grouping_arithmetic_on_a_hand_built_tiny_model(stumps):
    model, X = stumps
    by_hand = _hand_shap(model, X)
    lgbm = model.booster_.predict(X, pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(lgbm, by_hand.to_numpy(), atol=1e-12)
    shares = cause_shares(by_hand, CAUSE_MAP)
    # by hand for the first row: only positive contributions count, each to its cause, over their total
    row = by_hand.iloc[0]
    positive = row.clip(lower=0)
    expected = {c: sum(positive[f] for f, k in CAUSE_MAP.items() if k == c) for c in ("price", "service", "needs_change")}
    total = sum(expected.values())
    assert shares.iloc[0].to_dict() == pytest.approx({c: v / total for c, v in expected.items()} if total else dict.fromkeys(expected, 0.0))
    sums = shares.sum(axis=1)
    assert (((sums - 1).abs() < 1e-12) | (sums == 0)).all() and (shares >= 0).all().all()


def test_no_risk_increasing_contribution_gives_zero_shares():
    shares = cause_shares(pd.DataFrame({"complaints_3m": [-0.2], "tenure_months": [0.5]}), CAUSE_MAP)
    assert shares.iloc[0].tolist() == [0.0, 0.0, 0.0]  # tenure raises the risk but is no cause


def test_top_drivers_are_cause_mapped_and_risk_increasing():
    contributions = pd.DataFrame({"complaints_3m": [0.5], "login_ratio": [0.9], "competitor_mentions_3m": [-0.1], "tenure_months": [2.0]})
    assert top_drivers(contributions, CAUSE_MAP, 3) == [["login_ratio", "complaints_3m"]]


def test_fast_treeshap_equals_shap_on_many_rows_with_missing_values_zeros_and_categories():
    rng = np.random.default_rng(3)
    n = 6000
    X = pd.DataFrame(
        {
            "a": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "b": np.where(rng.random(n) < 0.3, 0.0, rng.integers(0, 20, n).astype(float)),
            "c": rng.uniform(0, 1, n),
            "industry": pd.Categorical(rng.choice(["retail", "logistics", "energy", None], n)),
        }
    )
    y = (np.nan_to_num(X.a, nan=1.5) + 0.2 * X.b - (X.industry == "energy") * 1.5 + rng.normal(size=n) > 1).astype(int)
    model = lgb.LGBMClassifier(n_estimators=60, num_leaves=15, min_child_samples=10, verbose=-1).fit(X, y)
    fast = FastTreeShap(model.booster_).contributions(X)
    reference = shap.TreeExplainer(model).shap_values(X)
    assert fast.shape == (n, 5)
    np.testing.assert_allclose(fast[:, :-1], reference, atol=1e-9)
    np.testing.assert_allclose(fast.sum(axis=1), model.booster_.predict(X, raw_score=True), atol=1e-9)


def test_reason_text_on_hand_made_customers():
    row = pd.Series({"customer_id": "a", "payment_days_3m": 15.0, "payment_days_ratio": 5.0, "industry": "retail"})
    text = reason_text(row, "payment_days_ratio", 1.1, ("retail customers", 1.04))
    assert text == "invoices paid 5.0 times slower than before (15 days now) (3 months earlier: 1.1; retail customers: 1.0 on average)"
    ratio = pd.Series({"amount_ratio": 0.45, "amount_per_month_3m": 600.0})
    assert reason_text(ratio, "amount_ratio", np.nan, ("all customers", 0.98)) == (
        "order amount at 45% of its own history (600 a month now) (all customers: 98% on average)"
    )


def test_peers_are_the_same_industry_when_the_group_is_big_enough():
    frame = pd.DataFrame({"industry": ["retail"] * 3 + ["energy"], "segment": ["small"] * 4, "complaints_3m": [1.0, 2.0, 3.0, 10.0]})
    peers = PeerAverages.fit(frame, min_peers=2)
    assert peers.lookup(frame.iloc[0], "complaints_3m") == ("retail customers", 2.0)
    assert peers.lookup(frame.iloc[3], "complaints_3m") == ("small customers", 4.0)  # energy has 1 customer: its segment


def test_value_tiers_and_quadrants():
    tiers = ValueTiers.fit(pd.Series(np.arange(1, 101, dtype=float)), (0.2, 0.5))
    spend = pd.Series([100.0, 60.0, 10.0, np.nan])
    assert tiers.tier(spend).tolist() == ["high", "medium", "low", "low"]
    health = pd.Series([90.0, 40.0, 95.0, 10.0])
    assert quadrant(tiers.tier(spend), health, 70.0).tolist() == ["core", "potential", "basic", "phase_out"]


def _customers(**columns) -> pd.DataFrame:
    base = {"customer_id": ["arrears", "service", "calm"], "as_of": pd.Timestamp("2025-01-01"), "industry": "retail", "monthly_spend": [5000.0, 10.0, 10.0]}
    return pd.DataFrame({**base, **columns})


def test_scorecard_causes_playbook_and_owner_from_fired_rules():
    rows = _customers(
        overdue_days_mean=[45.0, 0.0, 0.0],  # 5 points, price, finance owns arrears
        overdue_amount_to_avg_order=[2.0, 0.0, 0.0],  # 5 points, price
        complaints_3m=[0.0, 4.0, 0.0],  # 5 points, service
        months_above_history_complaints=[0.0, 3.0, 0.0],  # 10 points, service
        competitor_mentions_3m=[1.0, 1.0, 0.0],  # 10 points, price
    )
    model = cm.ChurnModel.cold_start(rows, config={"levels": {"level3_below": 90.0}})
    out = model.predict_frame(rows).set_index("customer_id")
    assert out.loc["arrears", "health_score"] == 80.0 and out.loc["arrears", "warning_level"] == 3
    assert out.loc["arrears", "cause_shares"] == {"price": 1.0, "service": 0.0, "needs_change": 0.0}
    assert out.loc["arrears", "top_indicators"][0] == "competitor_mentions_3m"
    assert out.loc["service", "cause_shares"] == pytest.approx({"price": 0.4, "service": 0.6, "needs_change": 0.0})
    assert out.loc["service", "primary_cause"] == "service" and out.loc["service", "owner"] == "customer_service"
    assert out.loc["calm", "warning_level"] == 0 and out.loc["calm", "primary_cause"] is None  # not warned: not explained
    assert out.loc["arrears", "value_tier"] == "high" and "High-value customer" in out.loc["arrears", "action"]
    everyone = model.predict_frame(rows, explain="all").set_index("customer_id")
    assert everyone.loc["calm", "cause_shares"] == {"price": 0.0, "service": 0.0, "needs_change": 0.0}
    assert everyone.loc["calm", "action"] is None  # explained, but no warning: no action


def test_arrears_driven_warnings_go_to_finance():
    rows = _customers(overdue_days_mean=[45.0, 0.0, 0.0], overdue_amount_to_avg_order=[2.0, 0.0, 0.0])
    out = cm.ChurnModel.cold_start(rows, config={"levels": {"level3_below": 95.0}}).predict_frame(rows).set_index("customer_id")
    assert out.loc["arrears", "owner"] == "finance" and out.loc["arrears", "primary_cause"] == "price"


def test_a_bad_cause_map_fails_at_load():
    full = cm.Config().causes.indicator_causes
    with pytest.raises(cm.ConfigError, match=r"unknown indicator\(s\) \['logins'\]"):
        cm.load_config({"causes": {"indicator_causes": {**full, "logins": "price"}}})
    partial = {k: v for k, v in full.items() if k != "csat_3m"}
    with pytest.raises(cm.ConfigError, match=r"leaves indicator\(s\) \['csat_3m'\] unmapped"):
        cm.load_config({"causes": {"indicator_causes": partial}})
    with pytest.raises(cm.ConfigError, match="owner"):
        cm.load_config({"causes": {"owner_by_indicator": {"overdue_invoices": "legal"}}})
    # a bad cause hid the unknown indicator beside it: both are named at once, without a dump of the whole map
    with pytest.raises(cm.ConfigError) as err:
        cm.load_config({"causes": {"indicator_causes": {**full, "logins": "price", "amount_ratio": "weather"}}})
    message = str(err.value)
    assert "unknown indicator(s) ['logins'] and maps {'amount_ratio': 'weather'} to no cause" in message and len(message) < 500


def test_lightgbm_warning_list_carries_causes_reasons_and_priority(sample_model, sample):
    warnings = sample_model.score(sample, as_of="2025-06-01")
    warned = warnings[warnings.warning_level > 0]
    scored = warnings[warnings.status == "scored"]
    # every scored customer gets the fitted policy's level, every level is in use, the unscored get none
    np.testing.assert_array_equal(scored.warning_level, sample_model.policy_.assign(scored.health_score.to_numpy()))
    assert set(warned.warning_level) == {1, 2, 3} and (warnings.loc[warnings.status != "scored", "warning_level"] == 0).all()
    assert warned.primary_cause.isin(["price", "service", "needs_change"]).all()
    shares = pd.DataFrame(list(warned.cause_shares))
    assert np.allclose(shares.sum(axis=1), 1.0) and (shares >= 0).all().all()
    assert (warned.top_indicators.map(len) == warned.reasons.map(len)).all()
    assert warned.owner.isin(["sales", "customer_service", "product", "finance"]).all()
    assert warnings[warnings.warning_level == 0].primary_cause.isna().all()  # only warnings are explained by default
    # sorted by level, then value, then risk
    levels = warnings.warning_level.replace(0, 4)
    assert levels[warnings.status == "scored"].is_monotonic_increasing
    first = warned[warned.warning_level == warned.warning_level.min()]
    assert first.value_at_risk.round(6).is_monotonic_decreasing and first.value_tier.iloc[0] == "high"
    assert warnings.value_tier.dropna().isin(["high", "medium", "low"]).all()
    assert set(warnings.quadrant.dropna()) <= {"core", "potential", "basic", "phase_out"}
