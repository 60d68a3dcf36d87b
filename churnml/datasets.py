"""A synthetic churn world with planted causes, and the bundled sample.

Generative story
----------------
Customers of six industries and three size segments (small 60 %, medium
30 %, large 10 %) buy over ``months`` calendar months. Three quarters were
already customers before the window opens (tenure up to five years), the
rest sign up during it. Each customer has its own order frequency, order
value, login rate, usage breadth, payment habit and contact intensity
(gamma / log-normal draws scaled by segment), and each industry its own
seasonality, so no two customers look alike.

A share ``churn_rate`` of customers churns inside the window (small
customers more often than large ones), at a *churn date* after which they
place no orders, log in no more and stop answering. Each churner gets one
cause, drawn from ``cause_mix``:

* ``price``: competitor mentions in interactions, price tickets, more
  orders on discount, invoices paid later (and some left unpaid), order value
  falling faster than order frequency. Half of them churn 1-3 months after a
  competitor promotion in their industry.
* ``service``: complaints, slower first responses, low CSAT/NPS, fewer
  replies to outreach and less feedback, fewer executive meetings.
* ``needs_change``: logins, usage breadth, consultations, event attendance
  and orders fade with no complaints; the key contact is more likely to
  change. Half of them churn 1-3 months after an adverse policy event in
  their industry.
* ``none``: they leave abruptly with no signal (the unpredictable part).

Signals start 1-4 months before the churn date (uniform) and ramp up with a
customer-specific strength; every table stays a noisy Poisson/Bernoulli draw
around the signal, so prediction is possible but not trivial. A share
``false_alarm_rate`` of customers who do *not* churn go through a 1-3 month
episode of the same signals and recover.

Missing and late data: some customers never answer surveys, a few have no
industry, segment or region, tickets lack a severity, invoices issued near the
end of the window are still unpaid (null ``paid_date``), and tickets opened
near the end have no response or resolution yet.

Retention programme (optional, ``retention=RetentionProgramme()``): over the
last months of the window the company warns customers whose signals show
(plus a little noise), leaves a random control group untouched, handles the
other warnings after a few days, and wins back some of the churners it
reaches in time: their churn is cancelled and their signals fade. The
``interventions`` table records it all, with the team's own verdict in
``outcome`` (it credits itself with every handled customer that stays, churner
or not: the bias the control group exposes).

Everything is vectorised over a customers x months grid and generated in
chunks of 50,000 customers, each with its own seed derived from ``seed``, so
the in-memory world and the chunked Parquet world are identical and memory is
bounded by the chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnml.tables import Tables, from_directory, from_pandas

__all__ = ["CAUSES", "SAMPLE_DIR", "SAMPLE_SPEC", "RetentionProgramme", "load_sample", "load_sample_truth", "make_synthetic", "synthetic_frames", "write_sample", "write_synthetic"]

logger = logging.getLogger(__name__)

CAUSES = ("price", "service", "needs_change")
INDUSTRIES = ("retail", "manufacturing", "technology", "healthcare", "logistics", "hospitality")
SEGMENTS = ("small", "medium", "large")
REGIONS = ("north", "south", "east", "west")
CHUNK = 50_000
DAY = 86_400  # seconds
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_SPEC = {"n_customers": 2500, "months": 24, "seed": 20240101, "start": "2024-01-01"}


@dataclass(frozen=True)
class RetentionProgramme:
    """A simulated retention programme that fills the ``interventions`` table.

    Parameters
    ----------
    months : int
        The programme runs over the last ``months`` months of the window;
        warnings are dated at month starts, at most one per customer.
    detect : float
        Chance per month that a customer with churn signals is warned.
    noise : float
        Chance per month that any other active customer is warned.
    control_share : float
        Share of warned customers left untouched (the control group).
    handled : float
        Share of the other warnings that the team handles at all.
    delay_days : float
        Mean handling delay (exponential).
    success : float
        Chance that handling a churner with a cause, before its churn date,
        wins it back.
    """

    months: int = 12
    detect: float = 0.5
    noise: float = 0.01
    control_share: float = 0.2
    handled: float = 0.85
    delay_days: float = 5.0
    success: float = 0.4


def make_synthetic(
    n_customers: int = 2000,
    months: int = 24,
    seed: int = 0,
    *,
    start: str = "2024-01-01",
    churn_rate: float = 0.3,
    cause_mix: dict[str, float] | None = None,
    false_alarm_rate: float = 0.1,
    tables: tuple[str, ...] | None = None,
    retention: RetentionProgramme | None = None,
) -> tuple[Tables, pd.DataFrame]:
    """Generate a synthetic churn world in memory.

    Parameters
    ----------
    n_customers : int
        Number of customers.
    months : int
        Calendar months of data, starting at ``start``.
    seed : int
        Same seed, same world.
    start : str
        First day of the window (a month start).
    churn_rate : float
        Share of customers that churn inside the window.
    cause_mix : dict, optional
        Probabilities of ``price``, ``service``, ``needs_change`` and ``none``
        among churners (default 0.3 / 0.3 / 0.3 / 0.1).
    false_alarm_rate : float
        Share of non-churners that show a temporary churn-like episode.
    tables : tuple of str, optional
        Keep only these tables (``("orders",)`` gives a retailer's order log).
    retention : RetentionProgramme, optional
        Simulate a retention programme and add the ``interventions`` table.

    Returns
    -------
    tables : Tables
        Validated, in the same form the loaders produce.
    truth : pandas.DataFrame
        customer_id, churn_date (NaT for non-churners), cause (``price``,
        ``service``, ``needs_change`` or ``none``), signal_onset, false_alarm;
        with a retention programme also ``won_back`` (a planted churner whose
        churn the programme cancelled; its churn_date is NaT).

    Examples
    --------
    >>> tables, truth = make_synthetic(200, months=12, seed=1)
    >>> sorted(truth.cause.unique())[:2]
    ['needs_change', 'none']
    """
    frames, truth = synthetic_frames(
        n_customers, months, seed, start=start, churn_rate=churn_rate, cause_mix=cause_mix,
        false_alarm_rate=false_alarm_rate, retention=retention,
    )
    if tables is not None:
        frames = {k: v for k, v in frames.items() if k in tables}
    return from_pandas(frames), truth


def synthetic_frames(n_customers: int, months: int = 24, seed: int = 0, **kwargs) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Like :func:`make_synthetic` but return raw pandas frames, unvalidated."""
    parts = list(_chunks(n_customers, months, seed, **kwargs))
    market = parts[0][0]["market_events"]
    names = [k for k in parts[0][0] if k != "market_events"]
    frames = {k: pd.concat([p[0][k] for p in parts], ignore_index=True) for k in names}
    frames["market_events"] = market
    truth = pd.concat([p[1] for p in parts], ignore_index=True)
    # one time unit everywhere (what Parquet and DuckDB give back)
    for frame in [*frames.values(), truth]:
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].astype("datetime64[us]")
    return frames, truth


def write_synthetic(path: str | Path, n_customers: int, months: int = 24, seed: int = 0, **kwargs) -> Path:
    """Write a synthetic world as Parquet, chunk by chunk, in bounded memory.

    Each table becomes ``path/<table>/part-NNNNN.parquet`` (``market_events``
    one file); the ground truth goes to ``path/truth/``. Load it back with
    :func:`churnml.tables.from_directory`. Returns ``path``.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for i, (frames, truth) in enumerate(_chunks(n_customers, months, seed, **kwargs)):
        for name, frame in frames.items():
            if name == "market_events":
                if i == 0:
                    _atomic_parquet(frame, root / "market_events.parquet")
                continue
            (root / name).mkdir(exist_ok=True)
            _atomic_parquet(frame, root / name / f"part-{i:05d}.parquet")
        (root / "truth").mkdir(exist_ok=True)
        _atomic_parquet(truth, root / "truth" / f"part-{i:05d}.parquet")
        logger.info("wrote chunk %d (%d customers)", i, len(truth))
    return root


def _atomic_parquet(frame: pd.DataFrame, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    frame.to_parquet(tmp, index=False, compression="zstd")
    tmp.replace(target)


def load_sample() -> Tables:
    """Return the bundled sample (``data/sample/``), validated.

    About 2,500 customers over 24 months, generated by :func:`write_synthetic`
    with ``SAMPLE_SPEC``. Works from any working directory. When the files
    are not next to the installed package (a non-editable install), the same
    world is regenerated from its seed.
    """
    if (SAMPLE_DIR / "orders.parquet").is_file():
        return from_directory(SAMPLE_DIR)
    logger.info("bundled sample not found at %s; regenerating it from its seed", SAMPLE_DIR)
    return make_synthetic(**SAMPLE_SPEC)[0]


def write_sample(path: str | Path = SAMPLE_DIR) -> Path:
    """(Re)write the bundled sample: one Parquet file per table plus ``truth.parquet``."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    frames, truth = synthetic_frames(**SAMPLE_SPEC)
    for name, frame in {**frames, "truth": truth}.items():
        _atomic_parquet(frame, root / f"{name}.parquet")
    return root


def load_sample_truth() -> pd.DataFrame:
    """Ground truth (churn date and planted cause) of the bundled sample."""
    if (SAMPLE_DIR / "truth.parquet").is_file():
        return pd.read_parquet(SAMPLE_DIR / "truth.parquet")
    return make_synthetic(**SAMPLE_SPEC)[1]


# --------------------------------------------------------------------------
# The generator


def _market_events(rng: np.random.Generator, month_start: np.ndarray, end: int) -> pd.DataFrame:
    """Per industry and month: adverse policy (p=0.04) and competitor promotions (p=0.08)."""
    m = month_start.size
    rows = []
    for kind, p in (("policy_adverse", 0.04), ("competitor_promo", 0.08)):
        hit = rng.random((len(INDUSTRIES), m)) < p
        ind, mon = np.nonzero(hit)
        when = month_start[mon] + (rng.random(mon.size) * 28 * DAY).astype(np.int64)
        rows.append(
            pd.DataFrame(
                {
                    "date": when,
                    "industry": np.asarray(INDUSTRIES)[ind],
                    "kind": kind,
                    "severity": np.round(rng.uniform(0.3, 1.0, mon.size), 2),
                }
            )
        )
    # market-wide promotions now and then
    allm = np.nonzero(rng.random(m) < 0.05)[0]
    rows.append(pd.DataFrame({"date": month_start[allm] + 5 * DAY, "industry": "all", "kind": "competitor_promo", "severity": 0.5}))
    events = pd.concat(rows, ignore_index=True)
    events = events[events.date < end].sort_values("date", kind="stable").reset_index(drop=True)
    events["date"] = pd.to_datetime(events.date, unit="s")
    return events


def _chunks(
    n_customers: int,
    months: int,
    seed: int,
    *,
    start: str = "2024-01-01",
    churn_rate: float = 0.3,
    cause_mix: dict[str, float] | None = None,
    false_alarm_rate: float = 0.1,
    retention: RetentionProgramme | None = None,
) -> Iterator[tuple[dict[str, pd.DataFrame], pd.DataFrame]]:
    if n_customers < 1 or months < 3:
        raise ValueError(f"need n_customers >= 1 and months >= 3, got {n_customers} and {months}")
    if not 0 <= churn_rate <= 0.9:
        raise ValueError(f"churn_rate must be in [0, 0.9], got {churn_rate}")
    mix = {"price": 0.3, "service": 0.3, "needs_change": 0.3, "none": 0.1, **(cause_mix or {})}
    unknown = set(mix) - {*CAUSES, "none"}
    if unknown:
        raise ValueError(f"cause_mix has unknown causes {sorted(unknown)}; allowed: {[*CAUSES, 'none']}")
    t0 = pd.Timestamp(start)
    if t0 != t0.normalize() or t0.day != 1:
        raise ValueError(f"start must be the first day of a month, got {start}")
    edges = pd.date_range(t0, periods=months + 1, freq="MS")
    edges_s = (edges.values.astype("datetime64[s]").astype(np.int64))
    market = _market_events(np.random.default_rng([seed, 999_983]), edges_s[:-1], edges_s[-1])
    for index, offset in enumerate(range(0, n_customers, CHUNK)):
        n = min(CHUNK, n_customers - offset)
        rng = np.random.default_rng([seed, index])
        # the programme draws from its own stream: with or without it, the same customers churn for the same causes
        programme = (retention, np.random.default_rng([seed, index, 1])) if retention is not None else None
        yield _chunk(rng, n, offset, edges_s, market, churn_rate, mix, false_alarm_rate, programme)


def _poisson_events(rng, rate, win_start, win_len):
    """Draw Poisson counts per customer-month and place each event uniformly in its window.

    Returns (customer index, month index, time stamp in seconds), sorted by
    customer then time.
    """
    counts = rng.poisson(np.clip(rate, 0, None))
    counts[win_len <= 0] = 0
    flat = np.repeat(np.arange(counts.size), counts.ravel())
    cust, month = np.divmod(flat, rate.shape[1])
    ts = win_start[cust, month] + (rng.random(flat.size) * win_len[cust, month]).astype(np.int64)
    # one int64 key (customer, then seconds since the first event): a single argsort, 4x faster than lexsort
    order = np.argsort((cust.astype(np.int64) << 32) | (ts - (ts.min() if ts.size else 0)))
    return cust[order], month[order], ts[order]


def _chunk(rng, n, offset, edges_s, market, churn_rate, mix, false_alarm_rate, programme=None):
    m = edges_s.size - 1
    start, end = int(edges_s[0]), int(edges_s[-1])
    month_start = edges_s[:-1]
    month_len = np.diff(edges_s)
    month_mid = month_start + month_len // 2
    ids = np.array([f"C{offset + i + 1:07d}" for i in range(n)])

    # ---- profiles
    industry = rng.choice(len(INDUSTRIES), n, p=[0.22, 0.2, 0.18, 0.14, 0.14, 0.12])
    segment = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    region = rng.choice(len(REGIONS), n)
    existing = rng.random(n) < 0.75
    signup = np.where(
        existing,
        start - (rng.uniform(60, 1800, n) * DAY).astype(np.int64),
        start + (rng.uniform(0, max(1, (m - 4)) * 30.4, n) * DAY).astype(np.int64),
    )
    seg_scale = np.array([1.0, 2.0, 4.0])[segment]
    base_freq = rng.gamma(2.5, 0.5, n) * np.array([1.0, 1.8, 3.2])[segment]
    base_amount = np.exp(rng.normal(np.log(np.array([150.0, 800.0, 4000.0])[segment]), 0.5))
    base_logins = rng.gamma(2.0, 2.5, n) * np.sqrt(seg_scale)
    base_features = rng.gamma(2.0, 1.2, n) * np.sqrt(seg_scale)
    breadth = np.clip(np.round(rng.normal(2 + 1.5 * segment, 1.0)), 1, 8).astype(int)
    pay_delay = rng.gamma(2.0, 3.0, n) + 1.0
    responder = rng.random(n) < 0.65
    has_contract = rng.random(n) < np.array([0.1, 0.5, 0.8])[segment]
    amp = np.random.default_rng(7).uniform(0.05, 0.3, len(INDUSTRIES))
    phase = np.random.default_rng(11).uniform(0, 12, len(INDUSTRIES))
    month_of_year = pd.to_datetime(month_start, unit="s").month.to_numpy()
    season = 1 + amp[:, None] * np.sin(2 * np.pi * (month_of_year[None, :] + phase[:, None]) / 12)

    # ---- churn: who, when, why
    seg_mult = np.array([1.25, 0.75, 0.45])[segment]
    p_churn = np.clip(churn_rate * seg_mult / np.average([1.25, 0.75, 0.45], weights=[0.6, 0.3, 0.1]), 0, 0.95)
    earliest = np.maximum(signup + 60 * DAY, start + 60 * DAY)
    churner = (rng.random(n) < p_churn) & (earliest < end - 5 * DAY)
    churn_at = earliest + (rng.random(n) * np.maximum(end - earliest, 0)).astype(np.int64)
    cause_names = np.array(["price", "service", "needs_change", "none"])
    cause = rng.choice(4, n, p=np.array([mix[c] for c in cause_names]) / sum(mix.values()))
    # half the price / needs churners leave 1-3 months after a market event in their industry
    for cause_idx, kind in ((0, "competitor_promo"), (2, "policy_adverse")):
        ev = market[market.kind == kind]
        for ind_idx, ind in enumerate(INDUSTRIES):
            dates = ev.loc[ev.industry.isin([ind, "all"]), "date"].values.astype("datetime64[s]").astype(np.int64)
            who = np.nonzero(churner & (cause == cause_idx) & (industry == ind_idx) & (rng.random(n) < 0.5))[0]
            if dates.size == 0 or who.size == 0:
                continue
            moved = dates[rng.integers(0, dates.size, who.size)] + (rng.uniform(30, 90, who.size) * DAY).astype(np.int64)
            ok = (moved > earliest[who]) & (moved < end)
            churn_at[who[ok]] = moved[ok]
    churn_at = np.where(churner, churn_at, np.iinfo(np.int64).max)
    lead = rng.integers(1, 5, n) * 30.4 * DAY
    onset = churn_at - lead.astype(np.int64)
    strength = rng.uniform(0.6, 1.0, n)
    ramp = np.clip((month_mid[None, :] - onset[:, None]) / lead[:, None], 0, 1) ** 0.8
    signal = np.where(churner[:, None] & (cause[:, None] < 3), strength[:, None] * ramp, 0.0)
    # false alarms: non-churners with a temporary episode of one cause
    false_alarm = ~churner & (rng.random(n) < false_alarm_rate)
    fa_cause = rng.integers(0, 3, n)
    fa_start = rng.integers(0, m, n)
    fa_len = rng.integers(1, 4, n)
    months_idx = np.arange(m)[None, :]
    episode = (months_idx >= fa_start[:, None]) & (months_idx < (fa_start + fa_len)[:, None])
    signal = np.where(false_alarm[:, None] & episode, rng.uniform(0.3, 0.7, n)[:, None], signal)
    eff_cause = np.where(false_alarm, fa_cause, cause)
    interventions, won = None, np.zeros(n, dtype=bool)
    if programme is not None:
        interventions, won, handled_month = _retention(*programme, month_start, end, signup, churner, churn_at, cause, signal, eff_cause)
        # won back: the churn is cancelled and the signals fade after the action
        churner = churner & ~won
        churn_at = np.where(won, np.iinfo(np.int64).max, churn_at)
        signal = np.where(won[:, None] & (np.arange(m)[None, :] > handled_month[:, None]), 0.0, signal)
    price_s, service_s, needs_s = (np.where(eff_cause[:, None] == k, signal, 0.0) for k in range(3))

    # ---- active windows per customer-month
    lo = np.maximum(month_start[None, :], signup[:, None])
    hi = np.minimum(edges_s[1:][None, :], churn_at[:, None])
    win_len = np.maximum(hi - lo, 0)
    win_start = lo
    active = win_len / month_len[None, :]
    seas = season[industry]

    frames: dict[str, pd.DataFrame] = {}
    cat = lambda idx: pd.Categorical.from_codes(idx, categories=ids)  # noqa: E731

    # ---- orders
    rate = base_freq[:, None] * seas * (1 - 0.6 * needs_s - 0.25 * price_s - 0.15 * service_s) * active
    c, mo, ts = _poisson_events(rng, rate, win_start, win_len)
    unit_price = np.exp(rng.normal(np.log(40), 0.6, n))
    value = base_amount[c] * (1 - 0.15 * needs_s[c, mo] - 0.4 * price_s[c, mo]) * np.exp(rng.normal(0, 0.35, c.size))
    on_discount = rng.random(c.size) < 0.08 + 0.6 * price_s[c, mo]
    discount = np.where(on_discount, value * rng.uniform(0.05, 0.3, c.size), 0.0)
    product = rng.integers(0, breadth[c] * 2 + 1)
    frames["orders"] = pd.DataFrame(
        {
            "order_id": np.arange(c.size, dtype=np.int64) + offset * 1000,
            "customer_id": cat(c),
            "order_date": ts.astype("datetime64[s]"),
            "amount": np.round(value, 2),
            "product": pd.Categorical.from_codes(product, categories=[f"P{i:02d}" for i in range(17)]),
            "category": pd.Categorical.from_codes(product % 4, categories=["core", "addon", "service", "consumable"]),
            "discount": np.round(discount, 2),
            "quantity": np.maximum(1, np.round(value / unit_price[c])),
        }
    )

    # ---- invoices: one per customer-month with orders, issued early next month
    spend = np.bincount(c * m + mo, weights=value - discount, minlength=n * m).reshape(n, m)
    ic, im = np.nonzero(spend > 0)
    issue = edges_s[im + 1] + (rng.uniform(0, 3, ic.size) * DAY).astype(np.int64)
    keep = issue < end
    ic, im, issue = ic[keep], im[keep], issue[keep]
    delay_days = pay_delay[ic] * (1 + 3 * price_s[ic, im]) * rng.gamma(4, 0.25, ic.size)
    paid = issue + (delay_days * DAY).astype(np.int64)
    arrears = (cause[ic] == 0) & (issue >= churn_at[ic] - 30 * DAY) & (rng.random(ic.size) < 0.6)
    paid_at = pd.Series(paid.astype("datetime64[s]")).where(~arrears & (paid < end))
    frames["invoices"] = pd.DataFrame(
        {
            "invoice_id": np.arange(ic.size, dtype=np.int64) + offset * 100,
            "customer_id": cat(ic),
            "issue_date": issue.astype("datetime64[s]"),
            "due_date": (issue + 30 * DAY).astype("datetime64[s]"),
            "amount": np.round(spend[ic, im], 2),
            "paid_date": paid_at,
        }
    )

    # ---- activity: logins, feature use (breadth), consultations
    parts = []
    for kind, base, fade in (("login", base_logins, 0.75), ("feature_use", base_features, 0.7)):
        rate = base[:, None] * (1 - fade * needs_s - 0.2 * service_s - 0.1 * price_s) * active
        ac, am, at = _poisson_events(rng, rate, win_start, win_len)
        width = np.maximum(1, np.round(breadth[ac] * (1 - 0.7 * needs_s[ac, am]))).astype(int)
        feature = np.where(kind == "feature_use", rng.integers(0, width), -1)
        parts.append((ac, at, np.full(ac.size, 0 if kind == "login" else 1), feature))
    ac, at, et, ft = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((at, ac))
    frames["activity"] = pd.DataFrame(
        {
            "customer_id": cat(ac[order]),
            "timestamp": at[order].astype("datetime64[s]"),
            "event_type": pd.Categorical.from_codes(et[order], categories=["login", "feature_use"]),
            "feature": pd.Categorical.from_codes(ft[order], categories=[f"F{i}" for i in range(8)]),
        }
    )

    # ---- tickets
    parts = []
    for k, (_, rate) in enumerate(
        (
            ("complaint", (0.04 + 0.03 * segment[:, None]) + 1.1 * service_s + 0.15 * price_s),
            ("price", 0.02 + 0.6 * price_s),
            ("consultation", 0.15 * np.sqrt(seg_scale)[:, None] * (1 - 0.6 * needs_s)),
            ("technical", 0.08 * np.sqrt(seg_scale)[:, None] * (1 - 0.4 * needs_s) + 0.2 * service_s),
        )
    ):
        tc, tm, tt = _poisson_events(rng, rate * active, win_start, win_len)
        parts.append((tc, tm, tt, np.full(tc.size, k)))
    tc, tm, tt, tk = (np.concatenate(x) for x in zip(*parts, strict=True))
    standard_h = np.where(np.isin(tk, [0, 3]), 24.0, 2.0)
    response_h = standard_h * 0.6 * (1 + 3.5 * service_s[tc, tm]) * np.exp(rng.normal(0, 0.6, tc.size))
    first = tt + (response_h * 3600).astype(np.int64)
    resolved = first + (rng.gamma(2, 12, tc.size) * (1 + 2 * service_s[tc, tm]) * 3600).astype(np.int64)
    severity = np.where(rng.random(tc.size) < 0.15, -1, np.minimum(2, rng.poisson(0.3 + 1.5 * (tk == 0), tc.size)))
    frames["tickets"] = pd.DataFrame(
        {
            "ticket_id": np.arange(tc.size, dtype=np.int64) + offset * 10,
            "customer_id": cat(tc),
            "opened_at": tt.astype("datetime64[s]"),
            "first_response_at": pd.Series(first.astype("datetime64[s]")).where(first < end),
            "resolved_at": pd.Series(resolved.astype("datetime64[s]")).where(resolved < end),
            "category": pd.Categorical.from_codes(tk, categories=["complaint", "price", "consultation", "technical"]),
            "severity": pd.Categorical.from_codes(severity, categories=["low", "medium", "high"]),
        }
    ).sort_values(["customer_id", "opened_at"], kind="stable", ignore_index=True)

    # ---- interactions
    parts = []
    reply_p = np.clip(0.9 - 0.5 * service_s - 0.3 * needs_s - 0.1 * price_s, 0.03, 1)
    specs = (
        # kind, channel, rate, executive
        ("outreach", "email", np.array([0.6, 1.5, 3.0])[segment][:, None] * np.ones_like(signal), False),
        ("meeting", "visit", np.array([0.05, 0.35, 0.9])[segment][:, None] * (1 - 0.85 * np.maximum(service_s, needs_s)), True),
        ("event_invite", "email", np.full_like(signal, 0.34), False),
        ("event_attended", "event", 0.2 * np.sqrt(seg_scale)[:, None] * (1 - 0.9 * needs_s), False),
        ("feedback", "email", 0.2 * responder[:, None] * (1 - 0.9 * service_s), False),
    )
    for k, (_, _, rate, _) in enumerate(specs):
        ic_, im_, it_ = _poisson_events(rng, rate * active, win_start, win_len)
        parts.append((ic_, im_, it_, np.full(ic_.size, k)))
    xc, xm, xt, xk = (np.concatenate(x) for x in zip(*parts, strict=True))
    outbound = np.isin(xk, [0, 1, 2])
    replied = np.where(xk == 0, rng.random(xc.size) < reply_p[xc, xm], True)
    competitor = replied & (rng.random(xc.size) < 0.02 + 0.45 * price_s[xc, xm])
    order = np.lexsort((xt, xc))
    kinds = [s[0] for s in specs]
    channels = np.array([s[1] for s in specs])
    frames["interactions"] = pd.DataFrame(
        {
            "customer_id": cat(xc[order]),
            "timestamp": xt[order].astype("datetime64[s]"),
            "channel": pd.Categorical(channels[xk[order]], categories=["email", "visit", "event"]),
            "direction": pd.Categorical.from_codes(np.where(outbound, 0, 1)[order], categories=["outbound", "inbound"]),
            "replied": pd.array(np.where(outbound, replied, False)[order], dtype="boolean"),
            "is_executive": np.array([s[3] for s in specs])[xk[order]],
            "mentions_competitor": competitor[order],
            "kind": pd.Categorical.from_codes(xk[order], categories=kinds),
        }
    )
    # only outreach awaits a reply
    frames["interactions"].loc[xk[order] != 0, "replied"] = pd.NA

    # ---- surveys (responders only)
    parts = []
    for k, (rate, mean, sd, top) in enumerate(((0.3, 4.3 - 2.3 * service_s - 0.5 * price_s, 0.6, 5), (0.1, 8.3 - 5.5 * service_s - 1.5 * price_s, 1.4, 10))):
        sc, sm, st = _poisson_events(rng, rate * responder[:, None] * active, win_start, win_len)
        score = np.clip(np.round(mean[sc, sm] + rng.normal(0, sd, sc.size)), 1 if k == 0 else 0, top)
        parts.append((sc, st, np.full(sc.size, k), score))
    sc, st, sk, ss = (np.concatenate(x) for x in zip(*parts, strict=True))
    order = np.lexsort((st, sc))
    frames["surveys"] = pd.DataFrame(
        {
            "customer_id": cat(sc[order]),
            "survey_date": st[order].astype("datetime64[s]"),
            "kind": pd.Categorical.from_codes(sk[order], categories=["csat", "nps"]),
            "score": ss[order],
        }
    )

    # ---- contacts: a key contact from signup; needs-change (and some service) signals make it leave
    hazard = 0.008 + 0.25 * needs_s + 0.05 * service_s
    change = (rng.random((n, m)) < hazard) & (active > 0)
    changed = change.any(axis=1)
    change_month = change.argmax(axis=1)
    change_at = month_start[change_month] + (rng.random(n) * 25 * DAY).astype(np.int64)
    change_at = np.maximum(change_at, signup + DAY)
    key_end = np.where(changed, change_at, -1)
    contacts = pd.DataFrame(
        {
            "customer_id": cat(np.concatenate([np.arange(n), np.nonzero(changed)[0], np.arange(n)])),
            "contact_id": np.concatenate([[f"K{i}-1" for i in range(offset, offset + n)], [f"K{i}-2" for i in np.nonzero(changed)[0] + offset], [f"U{i}" for i in range(offset, offset + n)]]),
            "role": ["key"] * n + ["key"] * int(changed.sum()) + ["user"] * n,
            "start_date": np.concatenate([signup, change_at[changed], signup]).astype("datetime64[s]"),
            "end_date": pd.Series(np.concatenate([key_end, np.full(int(changed.sum()) + n, -1)]).astype("datetime64[s]")),
        }
    )
    contacts.loc[contacts.end_date == pd.Timestamp(-1, unit="s"), "end_date"] = pd.NaT
    frames["contacts"] = contacts.sort_values(["customer_id", "start_date"], kind="stable", ignore_index=True)

    # ---- contracts: yearly terms from signup for contract customers; churners cancel
    stop = np.minimum(churn_at, end)
    n_terms = np.where(has_contract, np.ceil((stop - signup) / (365 * DAY)).astype(int), 0)
    cc = np.repeat(np.arange(n), n_terms)
    term = np.arange(cc.size) - np.repeat(np.cumsum(n_terms) - n_terms, n_terms)
    t_start = signup[cc] + term * 365 * DAY
    t_end = t_start + 365 * DAY
    cancelled = (churn_at[cc] >= t_start) & (churn_at[cc] < t_end)
    frames["contracts"] = pd.DataFrame(
        {
            "customer_id": cat(cc),
            "start_date": t_start.astype("datetime64[s]"),
            "end_date": t_end.astype("datetime64[s]"),
            "cancelled_at": pd.Series(churn_at[cc].clip(max=end).astype("datetime64[s]")).where(cancelled),
        }
    )
    last_end = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_end, cc, t_end)

    # ---- customers (a few with missing profile fields)
    frames["customers"] = pd.DataFrame(
        {
            "customer_id": ids,
            "industry": pd.Categorical.from_codes(np.where(rng.random(n) < 0.03, -1, industry), categories=INDUSTRIES),
            "segment": pd.Categorical.from_codes(np.where(rng.random(n) < 0.02, -1, segment), categories=SEGMENTS),
            "signup_date": signup.astype("datetime64[s]"),
            "region": pd.Categorical.from_codes(np.where(rng.random(n) < 0.05, -1, region), categories=REGIONS),
            "contract_end_date": pd.Series(last_end.astype("datetime64[s]")).where(last_end > 0),
        }
    )
    frames["market_events"] = market
    if interventions is not None:
        interventions["customer_id"] = cat(interventions.pop("customer"))
        frames["interventions"] = interventions

    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "churn_date": pd.Series(churn_at.clip(max=end).astype("datetime64[s]")).where(churner),
            "cause": np.where(churner, cause_names[cause], "none"),
            "signal_onset": pd.Series(onset.clip(min=start, max=end).astype("datetime64[s]")).where(churner & (cause < 3)),
            "false_alarm": false_alarm,
        }
    )
    if programme is not None:
        truth["won_back"] = won
    # one time unit everywhere (what Parquet and DuckDB give back)
    for frame in [*frames.values(), truth]:
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].astype("datetime64[us]")
    return frames, truth


def _retention(spec: RetentionProgramme, rng, month_start, end, signup, churner, churn_at, cause, signal, eff_cause):
    """Warn, hold out, handle and win back (see :class:`RetentionProgramme`).

    Returns the interventions frame (with integer ``customer``), who was won
    back, and the month index of each customer's handling (-1 when none).
    """
    from churnml.config import Config  # the documents' playbook gives actions and owners
    from churnml.messages import text

    n, m = signal.shape
    first = max(0, m - spec.months)
    warned_month = np.full(n, -1)
    for k in range(first, m):
        alive = (signup < month_start[k]) & (churn_at > month_start[k]) & (warned_month < 0)
        draw = rng.random(n)
        warn = alive & (((signal[:, k] > 0) & (draw < spec.detect)) | (draw > 1 - spec.noise))
        warned_month[warn] = k
    who = np.nonzero(warned_month >= 0)[0]
    k = warned_month[who]
    warning_date = month_start[k]
    strength = signal[who, k]
    level = np.where(strength > 0.6, 1, np.where(strength > 0.3, 2, 3))
    # the model names the planted cause most of the time
    named = np.where((strength > 0) & (rng.random(who.size) < 0.8), eff_cause[who], rng.integers(0, 3, who.size))
    control = rng.random(who.size) < spec.control_share
    handled_at = warning_date + (rng.exponential(spec.delay_days, who.size) * DAY).astype(np.int64)
    handled = ~control & (rng.random(who.size) < spec.handled) & (handled_at < end)
    in_time = handled & churner[who] & (cause[who] < 3) & (handled_at < churn_at[who])
    won_here = in_time & (rng.random(who.size) < spec.success)
    lost = handled & churner[who] & ~won_here
    outcome = np.where(lost, "lost", "retained")
    outcome = np.where(handled & (handled_at > end - 30 * DAY), "pending", outcome)
    playbook = Config().causes.playbook
    causes = np.asarray(CAUSES)[named]
    frame = pd.DataFrame(
        {
            "customer": who,
            "warning_date": warning_date.astype("datetime64[s]"),
            "warning_level": level,
            "primary_cause": causes,
            "action": [text(f"playbook.{c}") for c in causes],
            "owner": [playbook[c].owner for c in causes],
            "handled_at": pd.Series(handled_at.astype("datetime64[s]")).where(handled),
            "outcome": pd.Series(outcome).where(handled),
            "control": control,
        }
    )
    won = np.zeros(n, dtype=bool)
    won[who[won_here]] = True
    handled_month = np.full(n, -1)
    handled_month[who[handled]] = np.searchsorted(month_start, handled_at[handled], side="right") - 1
    return frame, won, handled_month
