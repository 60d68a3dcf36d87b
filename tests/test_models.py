"""Rule scorecard, LightGBM on a time-ordered split, calibration, health score, levels, ChurnModel."""

import json
import logging
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import churnml as cm
from churnml.config import LevelSettings, ModelSettings
from churnml.scoring.health import choose_policy, health_score, level_precision
from churnml.model import ChurnModel
from churnml.models.features import FeatureSchema
from churnml.training import time_split
from churnml.models.scorecard import RuleScorecard

from tests.conftest import SAMPLE_DATES

QUIET = {"tracking": {"enabled": False}}  # tracking is tested in test_tracking.py


@pytest.fixture
def frame(sample_frame):
    return sample_frame


@pytest.fixture
def fitted(sample_model):
    return sample_model


# ------------------------------------------------------------------ scorecard
def test_scorecard_deducts_points_per_rule_and_caps_each_category():
    X = pd.DataFrame(
        {
            "amount_decline_streak": [0.0, 2.0, 3.0, np.nan],
            "months_below_history_amount": [0.0, 3.0, 4.0, np.nan],
            "orders_below_history_3_months": [0.0, 0.0, 0.0, 0.0],
            "months_below_history_orders": [0.0, 3.0, 5.0, np.nan],
            "payment_days_ratio": [1.0, 1.0, 5.0, np.nan],
            "overdue_days_mean": [0.0, 0.0, 45.0, np.nan],
        }
    )
    card = RuleScorecard().fit(X)
    points = card.deductions(X)
    # row 1: decline streak 10 + below history 10 + orders below history 10 = 30 (the consumption cap)
    assert points.loc[1, ["amount_down_2_months", "amount_below_history_3_months", "orders_below_history_3_months"]].tolist() == [10.0] * 3
    # row 2 fires 45 points of consumption rules but the category deducts at most its weight, 30
    assert points.loc[2].sum() == 45.0
    assert card.health_score(X).tolist() == [100.0, 70.0, 70.0, 100.0]  # NaN never fires a rule
    assert card.fired_rules(X)[0] == {}
    assert card.fired_rules(X)[2]["payment_cycle_doubled"] == 10.0


def test_scorecard_cold_start_needs_no_labels_and_is_an_sklearn_estimator(caplog):
    X = pd.DataFrame({"competitor_mentions_3m": [0.0, 1.0], "key_contact_changes_6m": [1.0, 0.0]})
    caplog.set_level(logging.INFO, "churnml.models.scorecard")
    card = RuleScorecard().fit(X)  # no y at all
    assert "skipped" in caplog.text  # rules whose indicators are absent are logged
    assert card.predict_proba(X)[:, 1].tolist() == pytest.approx([0.10, 0.10])
    again = clone(card).set_params(category_weights={"activity": 10, "consumption": 10, "interaction": 10, "risk": 60, "relationship": 10})
    assert again.fit(X).health_score(X).tolist() == [90.0, 90.0]  # 10 points each, within the new caps


def test_scorecard_settings_are_validated():
    with pytest.raises(cm.ConfigError, match="sum to 100"):
        cm.load_config({"scorecard": {"category_weights": {"activity": 50, "consumption": 30, "interaction": 15, "risk": 20, "relationship": 15}}})
    with pytest.raises(cm.ConfigError, match="unknown numeric indicator 'logins'"):
        cm.load_config({"scorecard": {"rules": [{"name": "x", "indicator": "logins", "op": "<", "threshold": 1, "points": 5, "category": "activity"}]}})
    with pytest.raises(cm.ConfigError, match="level1_below <= level2_below"):
        cm.load_config({"levels": {"level1_below": 80, "level2_below": 70}})


# ------------------------------------------------------------------ split
def test_time_split_orders_slices_and_rejects_too_few_dates():
    dates = pd.date_range("2024-01-01", periods=5, freq="MS")
    split = time_split(list(dates)[::-1], ModelSettings())
    assert max(split.train) < min(split.calibration) <= max(split.calibration) < min(split.test)
    assert split.test == (dates[-1],)
    with pytest.raises(ValueError, match="at least 2 snapshot dates .* got 1"):
        time_split(list(dates[:1]), ModelSettings())
    two = time_split(list(dates[:2]), ModelSettings())  # the youngest base: judged where it was calibrated, and says so
    assert (two.train, two.calibration, two.test) == ((dates[0],), (dates[1],), (dates[1],)) and two.shared
    with pytest.raises(ValueError, match="at least 4 snapshot dates .* got 2"):  # two test snapshots: train, calibration, test, test
        time_split(list(dates[:2]), ModelSettings(test_snapshots=2))
    young = time_split(list(dates[:3]), ModelSettings())  # fewer calibration months rather than none
    assert (young.train, young.calibration, young.test) == ((dates[0],), (dates[1],), (dates[2],))
    young = time_split(list(dates[:4]), ModelSettings())  # never fewer training months than calibration ones
    assert (young.train, young.calibration, young.test) == (tuple(dates[:2]), (dates[2],), (dates[3],)) and not young.shared


def test_nothing_from_the_test_slice_influences_the_fitted_model(frame, fitted):
    """Scramble every feature and label of the test snapshots: the fitted estimators must not change."""
    test = frame.as_of.isin(fitted.holdout_.split.test)
    scrambled = frame.copy()
    rng = np.random.default_rng(0)
    numeric = [c for c in fitted.schema_.numeric]
    scrambled.loc[test, numeric] = rng.normal(size=(test.sum(), len(numeric)))
    scrambled.loc[test, "churned"] = rng.integers(0, 2, test.sum())
    other = ChurnModel(QUIET).fit_frame(scrambled)
    probe = frame[~test]
    np.testing.assert_array_equal(other.predict_proba(probe), fitted.predict_proba(probe))
    assert other.policy_ == fitted.policy_


# ------------------------------------------------------------------ fitted model
def test_lightgbm_beats_the_scorecard_and_both_are_calibrated(fitted):
    rep = cm.evaluation.report(fitted)
    auc = rep.metrics.loc["auc_roc"]
    assert auc["lightgbm"] > auc["scorecard"] > 0.75
    cal = rep.calibration
    assert (cal.loc["ece_after", ["scorecard", "lightgbm"]] < cal.loc["ece_before", ["scorecard", "lightgbm"]]).all()
    assert (cal.loc["ece_after"] <= 0.05).all()  # the hazard model too, calibrated through its hazards
    classifier = fitted.fitted_.explained_by  # LightGBM, whether it or another candidate gives churn_probability
    assert classifier.name == "lightgbm" and classifier.method == "isotonic"  # 4,179 calibration rows, 600+ churners
    assert classifier.estimator.best_iteration_ < fitted.config_.model.lightgbm.n_estimators  # early stopping worked


def test_small_calibration_slices_get_platt_sigmoid(frame):
    small = frame[frame.customer_id.isin(frame.customer_id.unique()[:400])]
    model = ChurnModel(QUIET).fit_frame(small)
    assert model.fitted_.explained_by.method == "sigmoid" and model.baseline_.method == "sigmoid"
    rep = cm.evaluation.report(model)
    # the rule score is no probability until calibrated; LightGBM stays calibrated on 755 rows
    assert rep.calibration.loc["brier_after", "scorecard"] < rep.calibration.loc["brier_before", "scorecard"]
    assert rep.calibration.loc["ece_after", "lightgbm"] <= 0.05
    forced = ChurnModel({**QUIET, "model": {"calibration": "isotonic"}}).fit_frame(small)
    assert forced.fitted_.explained_by.method == "isotonic"


def test_score_returns_every_customer_once_with_the_public_columns(sample, fitted):
    scored = fitted.score(sample, as_of="2025-06-01")
    customers = sample["customers"].to_pandas()
    assert sorted(scored.customer_id) == sorted(customers.customer_id) and scored.customer_id.is_unique
    assert list(scored.columns[:6]) == ["customer_id", "as_of", "status", "churn_probability", "health_score", "warning_level"]
    assert scored.warning_level.dtype == "int64" and set(scored.warning_level) <= {0, 1, 2, 3}
    # statuses as the churn definition sees them at as_of; only scored rows carry a probability
    labels = cm.labels.churn_labels(sample, "2025-06-01").set_index("customer_id").status
    not_scored = scored[scored.status != "scored"].set_index("customer_id")
    assert set(not_scored.status) == {"too_new", "lapsed", "not_started"}
    assert (not_scored.status[not_scored.status != "not_started"] == labels.reindex(not_scored.index).dropna()).all()
    late = customers.set_index("customer_id").signup_date.reindex(not_scored.index[not_scored.status == "not_started"])
    assert (late >= "2025-06-01").all()
    assert not_scored.churn_probability.isna().all() and (not_scored.warning_level == 0).all()
    # the lapsed get their chance of coming back instead, and come after every scored customer
    lapsed = not_scored.status == "lapsed"
    assert not_scored.return_probability[lapsed].between(0, 1).all() and not_scored.return_probability[~lapsed].isna().all()
    assert ok_before_lapsed(scored.status)
    assert scored.return_probability[scored.status == "scored"].isna().all()
    ok = scored[scored.status == "scored"]
    assert ok.churn_probability.notna().all()
    np.testing.assert_allclose(ok.health_score, 100 * (1 - ok.churn_probability))
    # levels follow the documents' bands on the health score
    level = np.select([ok.health_score < 50, ok.health_score < 70, ok.health_score < 80], [1, 2, 3], 0)
    np.testing.assert_array_equal(ok.warning_level, level)


def ok_before_lapsed(status: pd.Series) -> bool:
    """Scored rows first, then the lapsed, then those without a number."""
    order = status.map({"scored": 0, "lapsed": 1}).fillna(2).to_numpy()
    return bool((np.diff(order) >= 0).all())


def test_save_and_load_round_trip(tmp_path, sample, fitted):
    path = fitted.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["config.yaml", "metadata.json", "model.pickle"]
    loaded = ChurnModel.load(path)
    pd.testing.assert_frame_equal(loaded.score(sample, "2025-06-01"), fitted.score(sample, "2025-06-01"))
    fitted.save(path)  # replacing an existing model works and leaves no temporary directories
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    with pytest.raises(FileNotFoundError, match="no churnml model"):
        ChurnModel.load(tmp_path / "nothing")


class _Planted:
    """A pickle that runs a command when loaded (what any pickle may do)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_loading_a_model_directory_runs_no_code_the_file_names(tmp_path, fitted):
    # model.joblib was a plain pickle: a planted one created a file on load
    path = fitted.save(tmp_path / "model")
    marker = tmp_path / "pwned"
    (path / "model.pickle").write_bytes(pickle.dumps(_Planted(marker)))
    with pytest.raises(ValueError, match="references posix.system, which no churnml model holds"):
        ChurnModel.load(path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="references builtins.eval"):
        (path / "model.pickle").write_bytes(pickle.dumps(_Eval()))
        ChurnModel.load(path)


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_an_old_pickle_loads_only_when_trusted_and_a_format_mismatch_is_named(tmp_path, sample, fitted):
    import joblib

    old = tmp_path / "old"
    old.mkdir()
    joblib.dump(fitted, old / "model.joblib")  # what earlier churnml versions wrote
    with pytest.raises(ValueError, match="saved by an earlier churnml, a pickle that runs any code.*trusted=True"):
        ChurnModel.load(old)
    loaded = ChurnModel.load(old, trusted=True)
    pd.testing.assert_frame_equal(loaded.score(sample, "2025-06-01"), fitted.score(sample, "2025-06-01"))
    path = fitted.save(tmp_path / "model")
    meta = json.loads((path / "metadata.json").read_text())
    (path / "metadata.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ValueError, match="holds model format 99; churnml .* reads format 2"):
        ChurnModel.load(path)


def test_same_data_config_and_seed_give_identical_predictions(frame, fitted):
    again = ChurnModel(QUIET).fit_frame(frame)
    np.testing.assert_array_equal(again.holdout_.predictions.lightgbm_probability, fitted.holdout_.predictions.lightgbm_probability)


def test_estimator_is_selectable_by_config_and_fit_runs_from_raw_tables(tmp_path, sample):
    path = tmp_path / "card.yaml"
    path.write_text("model:\n  estimator: scorecard\nlevels:\n  strategy: capacity\n  capacity: [30, 60, 90]\ntracking:\n  enabled: false\n")
    model = ChurnModel.from_config(path).fit(sample, as_of=SAMPLE_DATES[-5:])
    assert model.fitted_.name == "scorecard" and model.baseline_ is None
    # on the calibration slice each level holds up to its capacity per snapshot, and a tied score never splits:
    # the rows tied at a cut-off would overflow it
    calibration = model.evaluate_snapshots(sample, list(model.holdout_.split.calibration))
    health = health_score(calibration.scorecard_probability.to_numpy())
    levels = calibration.scorecard_level.to_numpy()
    np.testing.assert_array_equal(levels, model.policy_.assign(health))
    snapshots = len(model.holdout_.split.calibration)
    for level, capacity, cutoff in zip([1, 2, 3], np.cumsum([30, 60, 90]) * snapshots, model.policy_.cutoffs, strict=True):
        assert 0 < ((levels > 0) & (levels <= level)).sum() <= capacity < (health <= cutoff).sum()


def test_cold_start_scorecard_uses_the_rule_score_as_health(sample):
    model = ChurnModel.cold_start(sample, "2025-06-01")
    scored = model.score(sample, "2025-06-01").query("status == 'scored'")
    indicators = cm.build_indicators(sample, "2025-06-01").set_index("customer_id").loc[scored.customer_id].reset_index()
    np.testing.assert_allclose(scored.health_score, RuleScorecard().fit(indicators).health_score(indicators))
    level = np.select([scored.health_score < 50, scored.health_score < 70, scored.health_score < 80], [1, 2, 3], 0)
    np.testing.assert_array_equal(scored.warning_level, level)  # the documents' fixed bands
    with pytest.raises(NotFittedError, match="ChurnModel is not fitted yet.*cold_start"):
        ChurnModel().score(sample, "2025-06-01")
    with pytest.raises(ValueError, match="fitted on labelled snapshots"):
        cm.evaluation.report(model)  # a cold start has no test slice to report on


# ------------------------------------------------------------------ health and levels
def test_health_score_is_a_decreasing_map_of_probability():
    p = np.linspace(0, 1, 11)
    assert np.all(np.diff(health_score(p)) < 0) and health_score(p)[0] == 100 and health_score(p)[-1] == 0


def _precision_of_deeper_cuts(h: np.ndarray, y: np.ndarray, lower: float, cutoff: float) -> np.ndarray:
    """Precision of the level ``lower <= health < c`` for every cut c deeper than ``cutoff``, one per distinct score."""
    inside = h >= lower
    order = np.argsort(h[inside], kind="stable")
    hs, ys = h[inside][order], y[inside][order]
    ends = np.flatnonzero(np.r_[hs[1:] != hs[:-1], True])  # last row of each tie group: a tie cannot be split
    return (np.cumsum(ys)[ends] / (ends + 1))[hs[ends] >= cutoff]


def test_precision_strategy_meets_its_targets_on_the_slice_it_was_chosen_on():
    rng = np.random.default_rng(1)
    p = rng.beta(0.5, 4, 20000)
    y = rng.random(20000) < p
    targets = [0.6, 0.4, 0.25]
    settings = LevelSettings(strategy="precision", target_precision=targets)
    health = health_score(p)
    policy = choose_policy(settings, health, y)
    levels = policy.assign(health)
    table = level_precision(levels, y)
    assert (table.precision >= targets).all() and (table.customers > 100).all()
    assert policy.cutoffs[0] < policy.cutoffs[1] < policy.cutoffs[2]
    # each level reaches as deep as it can: taking in any further group of tied scores breaks its target
    lowers = [-np.inf, *policy.cutoffs[:2]]
    for lower, cutoff, target in zip(lowers, policy.cutoffs, targets, strict=True):
        deeper = _precision_of_deeper_cuts(health, y.astype(float), lower, cutoff)
        assert len(deeper) > 0 and (deeper < target).all()


def test_profit_strategy_picks_the_most_profitable_action_per_customer():
    settings = LevelSettings(strategy="profit")  # actions: (500, .4), (100, .25), (10, .1)
    policy = choose_policy(settings, np.array([]), np.array([]))
    health = health_score(np.array([0.9, 0.9, 0.5, 0.05]))
    value = np.array([10_000.0, 1_000.0, 1_000.0, 1_000.0])
    # 0.9*0.4*10000-500=3100 (level 1); 0.9*1000: 360-500, 225-100=125, 90-10=80 -> level 2;
    # 0.5*1000: 0, 25, 40 -> level 3; 0.05*1000: all negative -> none
    assert policy.assign(health, value).tolist() == [1, 2, 3, 0]


def test_report_checks_level_ordering_and_writes_plots(tmp_path, fitted, caplog):
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    rep = cm.evaluation.report(fitted)
    predictions, y = fitted.holdout_.predictions, fitted.holdout_.predictions.churned.to_numpy()
    for name in ("lightgbm", "scorecard"):
        p = predictions[f"{name}_probability"].to_numpy()
        metrics = rep.metrics[name]
        assert metrics.auc_roc == pytest.approx(roc_auc_score(y, p)) and metrics.pr_auc == pytest.approx(average_precision_score(y, p))
        assert metrics.brier == pytest.approx(brier_score_loss(y, p)) and metrics.rows == len(y)
        top = np.argsort(-p, kind="stable")[: round(0.1 * len(y))]
        assert metrics.lift_top10 == pytest.approx(y[top].mean() / y.mean())
        table = level_precision(predictions[f"{name}_level"], y)
        pd.testing.assert_frame_equal(rep.levels.loc[name], table)
        if (np.diff(table.precision.dropna()) <= 0).all():
            assert rep.levels_ordered[name]
    # a planted inversion (level 3 more precise than level 1: 18 of 20 against 2 of 20) is flagged and logged
    levels = np.repeat([1, 2, 3, 0], 20)
    churned = np.r_[np.repeat([1, 0], [2, 18]), np.repeat([1, 0], [10, 10]), np.repeat([1, 0], [18, 2]), np.zeros(20)]
    inverted = pd.DataFrame({"churned": churned.astype(int), "m_raw": 0.5, "m_probability": np.linspace(0.9, 0.1, 80), "m_level": levels})
    with caplog.at_level(logging.WARNING):
        assert cm.evaluation.from_predictions(inverted).levels_ordered == {"m": False}
    assert "not ordered by precision" in caplog.text
    # a level 3 of 40 at 0.375 above a level 2 of 89 at 0.371 is noise; 40 of 100 above 10 of 100 is an inversion
    noise = pd.DataFrame({"customers": [622, 89, 40], "churners": [595, 33, 15]}, index=[1, 2, 3])
    assert cm.evaluation.levels_in_order(noise)
    assert not cm.evaluation.levels_in_order(pd.DataFrame({"customers": [50, 100, 100], "churners": [45, 10, 40]}, index=[1, 2, 3]))
    rep.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "report.md", "roc.png", "precision_recall.png", "reliability.png", "health_by_outcome.png", "levels.png",
    }
    assert "Warning levels" in (tmp_path / "report.md").read_text()


def test_report_scores_the_simple_baselines_on_the_same_rows_and_says_when_one_wins(fitted, frame, caplog):
    from sklearn.metrics import roc_auc_score

    rep = cm.evaluation.report(fitted)
    test = frame[frame.as_of.isin(fitted.holdout_.split.test)].sort_values(["customer_id", "as_of"])
    y = rep.predictions.churned.to_numpy()
    assert test.customer_id.tolist() == rep.predictions.customer_id.tolist()
    recency = test.days_since_last_activity.fillna(np.inf).clip(upper=1e300).to_numpy()
    assert rep.baselines.loc["recency", "auc_roc"] == pytest.approx(roc_auc_score(y, recency))
    assert np.isnan(rep.baselines.loc["recency", "ece"])  # a ranking, not a probability
    assert 0.5 < rep.baselines.loc["rfm_logistic", "auc_roc"] < 1 and 0 <= rep.baselines.loc["rfm_logistic", "ece"] < 0.2
    assert rep.beaten_by() is None and "ranks these rows better" not in rep.to_markdown()  # on the sample LightGBM wins
    # a model no better than chance against a recency that knows the answer: said in one line, and logged
    planted = pd.DataFrame({"churned": [0, 1] * 50, "m_raw": 0.5, "m_probability": 0.5, "m_level": 0, "baseline_recency": [1.0, 9.0] * 50})
    with caplog.at_level(logging.WARNING):
        loser = cm.evaluation.from_predictions(planted)
    assert loser.beaten_by() == ("recency", 1.0, 0.5)
    assert "**recency ranks these rows better than m** (AUC 1.000 vs 0.500)" in loser.to_markdown()
    assert "recency ranks the test slice better than m" in caplog.text


def test_report_on_fresh_snapshots_matches_the_kept_test_slice(sample, fitted):
    fresh = fitted.evaluate_snapshots(sample, list(fitted.holdout_.split.test))
    pd.testing.assert_frame_equal(fresh, fitted.holdout_.predictions)


def test_metrics_match_hand_computed_values():
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    p = np.array([0.1] * 8 + [0.9, 0.2])
    m = cm.evaluation.score_metrics(y, p)
    assert m["precision_top10"] == 1.0 and m["lift_top10"] == 5.0 and m["recall_top10"] == 0.5
    assert m["precision_top20"] == 1.0 and m["recall_top20"] == 1.0
    assert m["auc_roc"] == 1.0
    # ECE: bins of one customer each -> mean |y - p| = (8 * 0.1 + 0.1 + 0.8) / 10
    assert cm.evaluation.expected_calibration_error(y, p, bins=10) == pytest.approx(0.17)


# ------------------------------------------------------------------ bad input
def test_too_few_churners_is_a_clear_error(frame):
    few = frame.copy()
    few["churned"] = 0
    few.loc[few.index[:5], "churned"] = 1
    with pytest.raises(ValueError, match=r"the calibration slice has 0 churner\(s\) among \d+ snapshot rows"):
        ChurnModel(QUIET).fit_frame(few)


def test_a_single_as_of_date_is_a_clear_error(sample):
    with pytest.raises(ValueError, match="needs at least 2 snapshot dates"):
        ChurnModel(QUIET).fit(sample, as_of=["2025-01-01"])


def test_all_missing_indicators_are_dropped_with_a_warning(frame, caplog):
    blank = frame[frame.customer_id.isin(frame.customer_id.unique()[:400])].copy()  # a fit of seconds: the schema is what is asserted
    blank["csat_3m"] = np.nan
    caplog.set_level(logging.WARNING, "churnml.models")
    model = ChurnModel(QUIET).fit_frame(blank)
    assert "csat_3m" not in model.schema_.columns and "csat_3m" in caplog.text


def test_unseen_categories_and_absent_columns_score_as_missing(frame, fitted, caplog):
    rows = frame[frame.as_of == fitted.holdout_.split.test[0]].head(50).copy()
    rows["industry"] = "space mining"
    rows = rows.drop(columns=["login_ratio"])
    caplog.set_level(logging.WARNING, "churnml.models")
    with pytest.raises(cm.MissingInputsError, match="lack: login_ratio"):  # an absent column is refused unless allowed
        fitted.predict_frame(rows)
    scored = fitted.predict_frame(rows, allow_missing=True)
    assert len(scored) == 50 and scored.churn_probability.between(0, 1).all() and (scored.missing_inputs == "login_ratio").all()
    assert "space mining" in caplog.text and "login_ratio" in caplog.text
    schema = FeatureSchema.fit(frame)
    assert schema.transform(rows).industry.isna().all()
