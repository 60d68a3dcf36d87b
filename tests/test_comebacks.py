"""The synthetic world's planted returns and win-back programme (churnml.datasets.comebacks)."""

import numpy as np
import pandas as pd
import pytest

import churnml as cm
from churnml.datasets import Comebacks, planted_return_probability
from churnml.labels import activity_events

SPEC = Comebacks()


@pytest.fixture(scope="module")
def world():
    return cm.datasets.make_synthetic(6000, months=30, seed=21, start="2023-01-01", comebacks=SPEC)


@pytest.fixture(scope="module")
def events(world):
    return activity_events(world[0]).to_pandas()


def test_a_returner_is_silent_from_its_churn_to_its_return_and_active_after(world, events):
    _, truth = world
    gone = truth[truth.churn_date.notna()].set_index("customer_id")
    returners = gone[gone.return_date.notna()]
    assert 100 < len(returners) < len(gone)
    e = events[events.customer_id.isin(gone.index)].assign(churn=lambda d: d.customer_id.map(gone.churn_date), back=lambda d: d.customer_id.map(gone.return_date))
    away = (e.ts >= e.churn) & (e.back.isna() | (e.ts < e.back))
    assert not away.any()
    # the return is at least the grace period after the churn, and the returner shows up again
    assert ((returners.return_date - returners.churn_date) >= pd.Timedelta(days=SPEC.grace_days)).all()
    seen = e[e.back.notna() & (e.ts >= e.back)].customer_id.unique()
    assert len(seen) >= 0.9 * len(returners)


def test_price_churners_come_back_more_than_needs_change_ones(world):
    _, truth = world
    gone = truth[truth.churn_date.notna()]
    rate = gone.return_date.notna().groupby(gone.cause).mean()
    assert rate["price"] > rate["service"] > rate["needs_change"]


def test_the_winback_programme_is_recorded_with_its_control_group(world):
    tables, truth = world
    iv = tables["interventions"].to_pandas()
    listed = truth[truth.winback_date.notna()].set_index("customer_id")
    assert (iv.kind == "winback").all() and set(iv.customer_id) == set(listed.index) and iv.customer_id.is_unique
    iv = iv.set_index("customer_id").loc[listed.index]
    assert (iv.warning_date == listed.winback_date).all() and (iv.control == listed.winback_control).all()
    assert 0.12 < iv.control.mean() < 0.28
    # the untouched are never handled; a listed customer had not come back before the list's date
    assert iv.handled_at[iv.control].isna().all() and iv.handled_at[~iv.control].notna().mean() > 0.8
    assert (listed.return_date.isna() | (listed.return_date >= listed.winback_date)).all()
    assert ((listed.winback_date - listed.churn_date) >= pd.Timedelta(days=SPEC.list_after_days)).all()


def test_the_planted_return_probability_is_what_the_world_does(world):
    """The exact formula against the simulation: the listed customers' returns within 90 days of the list."""
    tables, truth = world
    end = tables.time_range()[1]
    t = truth[truth.winback_date.notna()].set_index("customer_id")
    t = t[t.winback_date + pd.Timedelta(days=90) <= end]
    handled = t.winback_at.notna().to_numpy()
    p = planted_return_probability(t, SPEC, t.winback_date, 90, handled)
    back = (t.return_date < t.winback_date + pd.Timedelta(days=90)).to_numpy()
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(back.mean() - p.mean()) < 3 * se + 0.005
    # the action only brings returns forward: P(return | action) >= P(return | none), strictly for the handled
    untreated = planted_return_probability(t, SPEC, t.winback_date, 90, False)
    assert (p >= untreated - 1e-12).all() and (p[handled] > untreated[handled]).all()
    # the treated (handled or not) came back more than the control group
    treated = ~t.winback_control.to_numpy(dtype=bool)
    assert back[treated].mean() > back[~treated].mean()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"monthly": {"price": 0.1}}, "every cause"), ({"lift": {"service": 2.0}}, "every cause"), ({"grace_days": 10}, "at least 31")],
)
def test_a_spec_that_cannot_be_drawn_is_refused_in_words(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Comebacks(**kwargs)
