"""KPIs of the retention programme, the control group, and contacted customers kept out of training."""

import copy

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import churnml as cm
from churnml.cli import app
from churnml.datasets import RetentionProgramme, make_synthetic
from churnml.kpis import interventions_from_warnings, interventions_from_winback, kpis, realised_precision, winback_kpis
from churnml.scoring.control import assign_control
from churnml.labels import churn_labels
from churnml.training import make_training_frame
from churnml.messages import text

# 45 days of silence is churn; the label reads [D, D + 75 days)
SHORT = {"labels": {"churn": {"kind": "inactivity", "days": 45, "within_days": 30}, "min_tenure_days": 30}}
D = pd.Timestamp("2024-06-01")


@pytest.fixture
def programme() -> dict[str, pd.DataFrame]:
    """Six customers ordering monthly; A and D stop in May (churners), the others go on to December.

    Warnings as of June: A and B handled (level 1), C and D in the control
    group (level 2), E warned but never handled (level 3), F not warned.
    """
    months = {"A": 5, "B": 12, "C": 12, "D": 5, "E": 12, "F": 12}
    rows = [(f"{c}{m}", c, pd.Timestamp(2024, m, 15), 100.0) for c, last in months.items() for m in range(1, last + 1)]
    orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount"])
    ts = pd.Timestamp
    interventions = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            "warning_date": [D] * 5,
            "warning_level": [1, 1, 2, 2, 3],
            "primary_cause": ["price", "service", "price", "needs_change", "service"],
            "handled_at": [ts("2024-06-02"), ts("2024-06-10"), pd.NaT, pd.NaT, pd.NaT],
            "outcome": ["lost", "retained", None, None, None],
            "control": [False, False, True, True, False],
        }
    )
    return {"orders": orders, "interventions": interventions}


def test_kpis_by_hand(programme):
    out = kpis(programme, SHORT, by=["warning_level"]).set_index("warning_level")
    total = out.loc["all"]
    # A churned; B stayed and the team marked it retained; D churned (control)
    assert (total.warnings, total.control, total.handled, total.labelled) == (5, 2, 2, 5)
    assert total.precision == pytest.approx(3 / 5)
    assert total.control_churn_rate == pytest.approx(1 / 2)  # C stayed, D left
    assert total.treated_churn_rate == pytest.approx(1 / 3)  # A of A, B, E
    assert total.action_effect == pytest.approx(1 / 2 - 1 / 3)
    assert total.action_effect_low < total.action_effect < total.action_effect_high
    assert total.timeliness == pytest.approx(1 / 3)  # A within 2 days; B after 9 of 2; E never
    assert total.win_back_rate == pytest.approx(1 / 3)  # B
    assert total.return_rate == pytest.approx(1 / 2)  # B ordered on June 15; A never again
    level1 = out.loc[1]
    assert (level1.warnings, level1.precision, level1.timeliness) == (2, 1.0, 0.5)
    assert np.isnan(level1.control_churn_rate) and np.isnan(level1.action_effect)
    assert out.loc[2].control == 2 and np.isnan(out.loc[2].timeliness)  # nothing to handle in a control group


def test_kpis_group_by_period_and_cause(programme):
    out = kpis(programme, SHORT, by=["period", "primary_cause"])
    assert list(out.columns[:2]) == ["period", "primary_cause"]
    assert out.iloc[-1][["period", "primary_cause"]].tolist() == ["all", "all"]
    assert out[out.period == "2024-06"].warnings.sum() == 5
    assert out.set_index("primary_cause").loc["price", "warnings"] == 2


def test_kpis_bad_input_is_clear(programme):
    with pytest.raises(ValueError, match="'interventions' table"):
        kpis({"orders": programme["orders"]}, SHORT)
    with pytest.raises(ValueError, match="cannot group KPIs by"):
        kpis(programme, SHORT, by=["region"])
    late = programme["interventions"].assign(warning_date=pd.Timestamp("2026-03-01"), handled_at=pd.NaT)
    with pytest.raises(ValueError, match="table 'interventions', column 'warning_date'"):
        kpis({**programme, "interventions": late}, SHORT)
    unknown = programme["interventions"].assign(customer_id=["A", "B", "C", "D", "nobody"])
    customers = pd.DataFrame({"customer_id": list("ABCDEF")})
    with pytest.raises(cm.DataValidationError, match="table 'interventions', column 'customer_id'.*nobody"):
        kpis({**programme, "customers": customers, "interventions": unknown}, SHORT)


def test_contacted_snapshots_are_not_training_labels(programme):
    labels = churn_labels(programme, [D], config=SHORT).set_index("customer_id")
    # the team acted inside A's and B's label window; the control group and the unhandled stay
    assert labels.status.to_dict() == {"A": "contacted", "B": "contacted", "C": "eligible", "D": "eligible", "E": "eligible", "F": "eligible"}
    assert labels.churned[["A", "B"]].isna().all()
    frame = make_training_frame(programme, [D], config=SHORT)
    assert sorted(frame.customer_id) == ["C", "D", "E", "F"]
    keep = {**SHORT, "labels": {**SHORT["labels"], "exclude_contacted": False}}
    assert (churn_labels(programme, [D], config=keep).status == "eligible").all()
    # a snapshot whose window ends before the action is a clean label
    earlier = churn_labels(programme, ["2024-03-01"], config=SHORT)
    assert (earlier.status == "eligible").all()


def test_realised_precision_per_level(programme):
    warnings = pd.DataFrame(
        {
            "customer_id": list("ABCDEF"),
            "as_of": D,
            "warning_level": [1, 1, 2, 2, 3, 0],
            "churn_probability": [0.9, 0.7, 0.6, 0.4, 0.2, 0.1],
        }
    )
    out = realised_precision(programme, warnings, SHORT).set_index("warning_level")
    assert list(out.index) == [1, 2, 3]
    assert out.loc[1, "expected_precision"] == pytest.approx(0.8)
    assert out.loc[1, "realised_precision"] == 1.0  # A churned, B kept by an action
    assert out.loc[2, "realised_precision"] == 0.5 and out.loc[3, "realised_precision"] == 0.0


def test_control_group_draw_is_random_stable_and_only_among_warned():
    rng = np.random.default_rng(0)
    warnings = pd.DataFrame(
        {"customer_id": [f"C{i}" for i in range(20_000)], "as_of": pd.Timestamp("2025-01-01"), "warning_level": rng.integers(0, 4, 20_000)}
    )
    control = assign_control(warnings, 0.2, seed=3)
    warned = warnings.warning_level > 0
    assert not control[~warned].any()
    assert control[warned].mean() == pytest.approx(0.2, abs=0.015)
    shuffled = warnings.sample(frac=1, random_state=1)
    pd.testing.assert_series_equal(assign_control(shuffled, 0.2, seed=3).sort_index(), control)
    assert not assign_control(warnings, 0.2, seed=4).equals(control)
    assert not assign_control(warnings, 0.0).any()


def test_score_marks_the_control_group_and_its_action(sample, sample_model):
    model = copy.copy(sample_model)
    model.config_ = sample_model.config_.model_copy(update={"kpis": sample_model.config_.kpis.model_copy(update={"control_share": 0.5})})
    scored = model.score(sample, "2025-06-01")
    warned = scored[scored.warning_level > 0]
    assert 0.3 < warned.control.mean() < 0.7 and not scored.control[scored.warning_level == 0].any()
    assert (warned.action[warned.control] == text("playbook.control")).all()
    assert (warned.action[~warned.control] != text("playbook.control")).all()
    log = interventions_from_warnings(scored)
    assert len(log) == len(warned) and log.control.sum() == warned.control.sum() and log.handled_at.isna().all()
    assert not sample_model.score(sample, "2025-06-01").control.any()  # control_share 0 by default


def test_synthetic_programme_shows_what_actions_change():
    tables, truth = make_synthetic(4000, months=24, seed=77, retention=RetentionProgramme())
    assert tables.report.issues == []
    iv = tables.to_pandas("interventions")
    assert iv.control.mean() == pytest.approx(0.2, abs=0.05)
    won = truth[truth.won_back]
    assert len(won) > 0 and won.churn_date.isna().all()
    handled = iv[iv.handled_at.notna()]
    assert set(won.customer_id) <= set(handled.customer_id)
    assert iv[iv.control].handled_at.isna().all()
    total = kpis(tables, by=[]).iloc[-1]
    # actions work in this world, and the control group proves it
    assert total.action_effect_low > 0
    # the documents' precision credits the team with every customer it 'retained'
    assert total.precision > total.control_churn_rate


def test_cli_kpis(programme, tmp_path):
    for name, frame in programme.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
    config = tmp_path / "short.yaml"
    config.write_text("labels:\n  churn: {kind: inactivity, days: 45, within_days: 30}\n  min_tenure_days: 30\n")
    runner = CliRunner()
    result = runner.invoke(app, ["kpis", str(tmp_path), "--config", str(config), "--by", "primary_cause", "--out", str(tmp_path / "kpis")])
    assert result.exit_code == 0, result.output
    assert "Retention KPIs" in result.output and "needs_change" in result.output
    assert pd.read_parquet(tmp_path / "kpis.parquet").iloc[-1].warnings == 5
    (tmp_path / "interventions.parquet").unlink()
    result = runner.invoke(app, ["kpis", str(tmp_path), "--config", str(config)])
    assert result.exit_code != 0 and "interventions" in str(result.exception)


LIST_DATE = pd.Timestamp("2024-07-01")
WINBACK = {"labels": {"churn": {"kind": "inactivity", "days": 45, "within_days": 90}}}


@pytest.fixture
def winback_programme() -> dict[str, pd.DataFrame]:
    """Five customers who bought 100 on the 15th of January to March 2024, then went quiet, put on a win-back list on July 1.

    P (price) is called on July 5 and buys 50 on the 20th of July to October;
    Q (service) is called on July 3 and buys 200 on September 15; R (price)
    is never called and never buys; S (price, control) buys 100 on July 10;
    T (service, control) never buys. Z keeps buying every month to January
    2025 (the data's end) and is a warning, not a win-back row.
    """
    ts = pd.Timestamp
    rows = [(c, ts(2024, m, 15), 100.0) for c in "PQRST" for m in (1, 2, 3)]
    rows += [("P", ts(2024, m, 20), 50.0) for m in (7, 8, 9, 10)] + [("Q", ts("2024-09-15"), 200.0), ("S", ts("2024-07-10"), 100.0)]
    rows += [("Z", ts(2024, m, 15), 10.0) for m in range(1, 13)] + [("Z", ts("2025-01-15"), 10.0)]
    orders = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount"])
    interventions = pd.DataFrame(
        {
            "customer_id": list("PQRSTZ"),
            "warning_date": [LIST_DATE] * 6,
            "warning_level": [None] * 5 + [1],
            "primary_cause": ["price", "service", "price", "price", "service", "price"],
            "value_tier": ["high", "low", "high", "high", "low", None],
            "handled_at": [ts("2024-07-05"), ts("2024-07-03"), pd.NaT, pd.NaT, pd.NaT, ts("2024-07-02")],
            "outcome": [None] * 6,
            "control": [False, False, False, True, True, False],
            "kind": ["winback"] * 5 + ["warning"],
        }
    )
    return {"orders": orders, "interventions": interventions}


def test_winback_kpis_by_hand(winback_programme):
    total = winback_kpis(winback_programme, WINBACK, by=[]).iloc[-1]
    assert (total.lapsed, total.control, total.handled) == (5, 2, 2)  # Z's warning is not a win-back row
    assert total.win_back_rate == pytest.approx(2 / 3)  # P and Q bought within 90 days of the list; R did not
    assert total.control_win_back_rate == pytest.approx(1 / 2)  # S did, T did not
    assert total.win_back_effect == pytest.approx(2 / 3 - 1 / 2)
    assert total.win_back_effect_low < total.win_back_effect < total.win_back_effect_high
    assert total.return_rate == pytest.approx(1 / 2)  # P within 30 days of its call; Q 74 days after
    assert total.control_return_rate == pytest.approx(1 / 2)  # S within 30 days of the list
    # 3 months before the loss (up to March 15): 300 each; 3 months from the return: P 3 x 50, Q 200
    assert total.spend_3m_before_loss == pytest.approx(300.0) and total.spend_3m_after_return == pytest.approx(175.0)
    assert total.spend_change == pytest.approx(175 / 300 - 1)
    by_cause = winback_kpis(winback_programme, WINBACK).set_index(["primary_cause", "value_tier"])
    price = by_cause.loc[("price", "high")]
    assert (price.lapsed, price.win_back_rate, price.control_win_back_rate) == (3, 0.5, 1.0)
    assert kpis(winback_programme, SHORT, by=[]).iloc[-1].warnings == 1  # and the warning KPIs see only Z


def test_winback_kpis_bad_input_is_clear(winback_programme):
    only_warnings = {**winback_programme, "interventions": winback_programme["interventions"].iloc[5:]}
    with pytest.raises(ValueError, match="no winback rows"):
        winback_kpis(only_warnings, WINBACK)
    with pytest.raises(ValueError, match="cannot group win-back KPIs by"):
        winback_kpis(winback_programme, WINBACK, by=["warning_level"])
    result = CliRunner().invoke(app, ["kpis", "--help"])
    assert "--winback" in result.output


def test_a_win_back_list_becomes_interventions_with_a_control_group(sample, sample_model):
    model = copy.deepcopy(sample_model)
    model.config_ = model.config_.model_copy(update={"kpis": model.config_.kpis.model_copy(update={"control_share": 0.3})})
    listed = cm.winback(sample, model, "2026-01-01")
    assert 0.2 < listed.control.mean() < 0.4
    assert (listed.strategy[listed.control] == text("playbook.control", "en")).all()
    rows = interventions_from_winback(listed)
    assert len(rows) == len(listed) and (rows.kind == "winback").all() and rows.control.tolist() == listed.control.tolist()
    frames = {name: sample.to_pandas(name) for name in sample}
    measured = winback_kpis({**frames, "interventions": rows}, model.config_, by=["value_tier"])
    assert measured.iloc[-1].lapsed == len(listed) and measured.iloc[-1].control == listed.control.sum()
