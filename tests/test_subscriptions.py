"""The subscription bench: its terms are the sBG story, its optimum is calibrated and point-in-time, and churnml answers it for every subscriber."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import churnml as cm
from churnml.data.schema import TIME_COLUMN
from churnml.datasets.subscriptions import Subscriptions
from churnml.evaluation import expected_calibration_error, score_metrics

WORLD = Subscriptions()
START, CUT, H = pd.Timestamp("2024-01-01"), pd.Timestamp("2025-01-01"), 90


@pytest.fixture(scope="module")
def drawn() -> dict[str, pd.DataFrame]:
    return WORLD.draw(12_000, START, 6, CUT + pd.Timedelta(days=H + 1), seed=3)


def _before(frames: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    return {name: frame[frame[TIME_COLUMN[name]] < cut] for name, frame in frames.items()}


def _churned(frames: dict[str, pd.DataFrame], ids: pd.Index) -> np.ndarray:
    return (~ids.isin(Subscriptions.active(frames["contracts"], CUT + pd.Timedelta(days=H)))).astype("int64")


def test_terms_follow_each_other_from_the_signup_and_logins_happen_while_subscribed(drawn):
    contracts = drawn["contracts"].sort_values(["customer_id", "start_date"])
    first = contracts.groupby("customer_id").start_date.min()
    signup = drawn["customers"].set_index("customer_id").signup_date
    assert (first == signup.reindex(first.index)).all()
    following = contracts.groupby("customer_id").end_date.shift()
    assert (contracts.start_date[following.notna()] == following.dropna()).all()
    span = contracts.groupby("customer_id").agg(start=("start_date", "min"), end=("end_date", "max"))
    logins = drawn["activity"].join(span, on="customer_id")
    assert logins.timestamp.between(logins.start, logins.end).all()
    assert (drawn["orders"].groupby("customer_id").size() == contracts.groupby("customer_id").size()).all()  # a payment per term


def test_the_optimum_is_calibrated_on_the_drawn_future_and_logins_carry_signal(drawn):
    known = _before(drawn, CUT)
    best = WORLD.optimum(known, CUT, H)
    tenure = WORLD.optimum(known, CUT, H, usage=False).reindex(best.index)
    y = _churned(drawn, best.index)
    assert expected_calibration_error(y, best.to_numpy()) <= 0.02
    assert roc_auc_score(y, best) > roc_auc_score(y, tenure) + 0.08  # logins tell what renewals alone cannot
    # only what happened before the cut: the whole drawn future planted back changes nothing
    pd.testing.assert_series_equal(WORLD.optimum(drawn, CUT, H), best)


@pytest.mark.slow
def test_churnml_scores_every_subscriber_near_the_optimum():
    frames = WORLD.draw(5000, START, 6, CUT + pd.Timedelta(days=H + 1), seed=8)
    known = _before(frames, CUT)
    config = {"labels": {"churn": {"kind": "contract", "horizon_days": H}, "min_tenure_days": 0}, "tracking": {"enabled": False}}
    model = cm.ChurnModel(config).fit(cm.from_pandas(known))
    assert model.holdout_.judged_days is not None  # auto trains a contract definition on censored snapshots
    scored = model.score(cm.from_pandas(known), as_of=CUT).set_index("customer_id")
    assert scored.index.is_unique and set(scored.index) == set(known["customers"].customer_id)
    best = WORLD.optimum(known, CUT, H)
    assert set(scored.index[scored.status == "scored"]) == set(best.index)  # every subscriber at the cut, no one else
    y = _churned(frames, best.index)
    mine = score_metrics(y, scored.churn_probability.reindex(best.index).to_numpy())
    optimum = score_metrics(y, best.to_numpy())
    assert mine["auc_roc"] >= optimum["auc_roc"] - 0.03, (mine, optimum)
    assert mine["ece"] <= 0.04, mine
