import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from churnml.constants import CAUSES
from churnml.data.schema import SCHEMA
from churnml.data.tables import from_directory
from churnml.datasets import (
    SAMPLE_SPEC,
    RetentionProgramme,
    load_sample,
    load_sample_truth,
    make_synthetic,
    synthetic_frames,
    write_synthetic,
)


@pytest.fixture(scope="module")
def world():
    return synthetic_frames(4000, months=24, seed=3)


def test_same_seed_same_world_other_seed_other_world():
    a, ta = synthetic_frames(300, months=12, seed=7)
    b, tb = synthetic_frames(300, months=12, seed=7)
    c, _ = synthetic_frames(300, months=12, seed=8)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    pd.testing.assert_frame_equal(ta, tb)
    assert not a["orders"].equals(c["orders"])


def test_all_ten_tables_pass_validation_without_issues():
    tables, truth = make_synthetic(500, months=12, seed=2)
    assert set(tables) == set(SCHEMA) - {"interventions"}
    assert tables.report.issues == []
    assert truth.customer_id.is_unique and len(truth) == 500


def test_a_retention_programme_keeps_the_customers_and_cancels_only_won_back_churn():
    plain, plain_truth = synthetic_frames(600, months=12, seed=9)
    with_programme, truth = synthetic_frames(600, months=12, seed=9, retention=RetentionProgramme(months=4))
    start = pd.Timestamp("2024-09-01")
    assert with_programme["interventions"].warning_date.min() >= start
    keys = ["customer_id", "signup_date"]
    pd.testing.assert_frame_equal(plain["customers"][keys], with_programme["customers"][keys])
    won = truth.won_back
    assert won.any()
    pd.testing.assert_frame_equal(truth[~won].drop(columns="won_back"), plain_truth[~won])
    assert plain_truth.churn_date[won].notna().all() and truth.churn_date[won].isna().all()
    # won-back churners keep ordering after their planted churn date
    orders = with_programme["orders"].merge(plain_truth[won], on="customer_id")
    assert (orders.order_date > orders.churn_date).any()


def test_orders_only_world():
    tables, _ = make_synthetic(300, months=12, seed=2, tables=("orders",))
    assert set(tables) == {"orders", "customers"} and tables.report.derived == ["customers"]


def test_chunked_parquet_world_equals_in_memory_world(tmp_path):
    write_synthetic(tmp_path, 400, months=12, seed=5, retention=RetentionProgramme(months=6))
    on_disk = from_directory(tmp_path)
    in_memory, truth = make_synthetic(400, months=12, seed=5, retention=RetentionProgramme(months=6))
    assert set(on_disk) == set(in_memory) == set(SCHEMA)
    for name in SCHEMA:
        cols = list(SCHEMA[name].column_names)
        left = on_disk.to_pandas(name).sort_values(cols[:3]).reset_index(drop=True)
        right = in_memory.to_pandas(name).sort_values(cols[:3]).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "truth"), truth, check_dtype=False, check_categorical=False)


def test_churn_rate_and_cause_mix_within_configured_range(world):
    _, truth = world
    churned = truth.churn_date.notna()
    assert 0.25 <= churned.mean() <= 0.35  # configured 0.3
    mix = truth.loc[churned, "cause"].value_counts(normalize=True)
    for cause, share in {"price": 0.3, "service": 0.3, "needs_change": 0.3, "none": 0.1}.items():
        assert abs(mix[cause] - share) < 0.05, (cause, mix[cause])
    assert (truth.loc[~churned, "cause"] == "none").all()
    assert truth.loc[~churned, "false_alarm"].mean() == pytest.approx(0.1, abs=0.03)


def test_nothing_happens_after_churn(world):
    frames, truth = world
    when = truth.set_index("customer_id").churn_date
    for name, col in [("orders", "order_date"), ("activity", "timestamp"), ("tickets", "opened_at"), ("surveys", "survey_date")]:
        frame = frames[name]
        after = frame[col].to_numpy() >= when.reindex(frame.customer_id.astype(str)).to_numpy()
        assert not after.any(), name


def _window_rate(frames, truth, table, col, mask=None, months_before=3, skip_months=0):
    """Events per customer in the months_before months ending skip_months before churn.

    Non-churners get a reference date drawn from the churners' dates.
    """
    frame = frames[table] if mask is None else frames[table][mask(frames[table])]
    ref = truth.set_index("customer_id").churn_date
    # non-churners get a reference date spread like the churners'
    rng = np.random.default_rng(0)
    spread = truth.churn_date.dropna().to_numpy()
    ref = ref.where(ref.notna(), pd.Series(rng.choice(spread, len(ref)), index=ref.index))
    at = ref.reindex(frame.customer_id.astype(str)).to_numpy() - np.timedelta64(30 * skip_months, "D")
    inside = (frame[col].to_numpy() < at) & (frame[col].to_numpy() >= at - np.timedelta64(30 * months_before, "D"))
    counts = pd.Series(inside, index=frame.customer_id.astype(str).to_numpy()).groupby(level=0).sum()
    return counts.reindex(truth.customer_id, fill_value=0).to_numpy()


def test_planted_causes_show_in_the_months_before_churn(world):
    frames, truth = world
    cause = truth.cause.where(truth.churn_date.notna(), "stays").to_numpy()
    stays = (cause == "stays") & ~truth.false_alarm.to_numpy()

    complaints = _window_rate(frames, truth, "tickets", "opened_at", lambda t: t.category == "complaint")
    assert complaints[cause == "service"].mean() > 3 * complaints[stays].mean()

    mentions = _window_rate(frames, truth, "interactions", "timestamp", lambda t: t.mentions_competitor)
    assert mentions[cause == "price"].mean() > 3 * mentions[stays].mean()

    # needs change: logins fade against the customer's own earlier level, without complaints
    logins = lambda t: t.event_type == "login"  # noqa: E731
    recent = _window_rate(frames, truth, "activity", "timestamp", logins, months_before=2)
    before = _window_rate(frames, truth, "activity", "timestamp", logins, months_before=2, skip_months=6)
    seen = before > 0  # customers with history six months earlier
    needs = (cause == "needs_change") & seen
    assert recent[needs].sum() / before[needs].sum() < 0.75
    assert recent[stays & seen].sum() / before[stays & seen].sum() > 0.85
    assert complaints[cause == "needs_change"].mean() < 2 * complaints[stays].mean()

    # the unexplained churners show none of it
    assert complaints[cause == "none"].mean() < 2 * complaints[stays].mean()


def test_price_churners_pay_later(world):
    frames, truth = world
    inv = frames["invoices"].assign(customer_id=lambda d: d.customer_id.astype(str))
    inv = inv.merge(truth[["customer_id", "churn_date", "cause"]], on="customer_id")
    late = inv[(inv.issue_date < inv.churn_date) & (inv.issue_date >= inv.churn_date - pd.Timedelta(days=60))]
    days = (late.paid_date - late.issue_date).dt.days
    early = inv[inv.churn_date.isna()]
    base = (early.paid_date - early.issue_date).dt.days.mean()
    assert days[late.cause == "price"].mean() > 1.8 * base


def test_invalid_arguments_are_clear():
    with pytest.raises(ValueError, match="first day of a month"):
        synthetic_frames(10, seed=1, start="2024-01-15")
    with pytest.raises(ValueError, match="unknown causes"):
        synthetic_frames(10, seed=1, cause_mix={"weather": 0.1})


def test_bundled_sample_is_small_loads_from_any_directory_and_is_current(tmp_path):
    from churnml.datasets import SAMPLE_DIR

    size = sum(p.stat().st_size for p in SAMPLE_DIR.glob("*.parquet"))
    assert size < 10 * 2**20
    code = "import churnml; t = churnml.datasets.load_sample(); print(t.report.rows_out['orders'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env={**os.environ}, check=True)
    sample = load_sample()
    assert int(out.stdout.strip()) == sample.report.rows_out["orders"]
    # the committed files are exactly what the generator makes today
    frames, truth = synthetic_frames(**SAMPLE_SPEC)
    pd.testing.assert_frame_equal(load_sample_truth(), truth, check_dtype=False, check_categorical=False)
    assert sample.report.rows_out["orders"] == len(frames["orders"])
    assert set(truth.cause) == {*CAUSES, "none"}


# ------------------------------------------------------------------ BG/NBD bench
def _bought_within(orders: pd.DataFrame, as_of: pd.Timestamp, days: int) -> set:
    window = (orders.order_date >= as_of) & (orders.order_date < as_of + pd.Timedelta(days=days))
    return set(orders.customer_id[window])


def test_bgnbd_world_is_a_cohort_with_its_first_orders_in_the_birth_window():
    from churnml.datasets.btyd import BgNbd

    frames = BgNbd().draw(3000, "2024-01-01", 6, "2025-04-01", seed=3)
    customers, orders = frames["customers"], frames["orders"]
    assert customers.customer_id.is_unique and len(customers) == 3000
    first = orders.groupby("customer_id").order_date.min()
    assert first.index.size == 3000 and first.min() >= pd.Timestamp("2024-01-01") and first.max() < pd.Timestamp("2024-07-01")
    assert orders.order_date.max() < pd.Timestamp("2025-04-01") and orders.order_id.is_unique
    assert (customers.set_index("customer_id").signup_date == first.dt.normalize()).all()
    # most buy once or twice, as in CDNOW
    assert 0.4 < (orders.groupby("customer_id").size() == 1).mean() < 0.8


def test_bgnbd_optimum_is_calibrated_beats_recency_and_reads_only_the_past():
    from sklearn.metrics import roc_auc_score

    from churnml.datasets.btyd import BgNbd
    from churnml.evaluation import expected_calibration_error

    truth = BgNbd()
    orders = truth.draw(20_000, "2024-01-01", 6, "2025-04-01", seed=11)["orders"]
    as_of = pd.Timestamp("2024-12-01")
    p = truth.optimum(orders, as_of, 90)
    y = (~p.index.isin(list(_bought_within(orders, as_of, 90)))).astype(int)
    # a wrong closed form (say, ignoring who is already dead) is off by several points
    assert expected_calibration_error(y, p.to_numpy()) < 0.015
    last = orders[orders.order_date < as_of].groupby("customer_id").order_date.max().reindex(p.index)
    assert roc_auc_score(y, p) > roc_auc_score(y, (as_of - last).dt.days) + 0.005
    future = pd.DataFrame({"order_id": [-1, -2], "customer_id": [p.index[0], p.index[1]], "order_date": [as_of, as_of + pd.Timedelta(days=3)], "amount": 1.0})
    pd.testing.assert_series_equal(truth.optimum(pd.concat([orders, future]), as_of, 90), p)
