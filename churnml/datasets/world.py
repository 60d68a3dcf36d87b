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

Comebacks (optional, ``comebacks=Comebacks()``): churners come back at a
planted hazard that depends on their cause and value, and a win-back
programme with a control group lifts it (:mod:`churnml.datasets.comebacks`).

Everything is vectorised over a customers x months grid and generated in
chunks of 50,000 customers, each with its own seed derived from ``seed``, so
the in-memory world and the chunked Parquet world are identical and memory is
bounded by the chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from churnml.constants import CAUSES
from churnml.data.tables import Tables, from_pandas
from churnml.datasets import generators
from churnml.datasets.comebacks import Comebacks
from churnml.datasets.population import draw_population
from churnml.datasets.retention import RetentionProgramme
from churnml.files import atomic_path

__all__ = ["make_synthetic", "synthetic_frames", "write_parquet", "write_synthetic"]

logger = logging.getLogger(__name__)

CHUNK = 50_000  # customers per chunk: memory is bounded by one chunk


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
    comebacks: Comebacks | None = None,
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
    comebacks : Comebacks, optional
        Let churners come back, with a win-back programme and its control
        group (rows of kind ``winback`` in ``interventions``; see
        :mod:`churnml.datasets.comebacks`).

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
        false_alarm_rate=false_alarm_rate, retention=retention, comebacks=comebacks,
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
    _one_time_unit([*frames.values(), truth])
    return frames, truth


def write_synthetic(path: str | Path, n_customers: int, months: int = 24, seed: int = 0, **kwargs) -> Path:
    """Write a synthetic world as Parquet, chunk by chunk, in bounded memory.

    Each table becomes ``path/<table>/part-NNNNN.parquet`` (``market_events``
    one file); the ground truth goes to ``path/truth/``. Load it back with
    :func:`churnml.from_directory`. Returns ``path``.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    for i, (frames, truth) in enumerate(_chunks(n_customers, months, seed, **kwargs)):
        for name, frame in frames.items():
            if name == "market_events":
                if i == 0:
                    write_parquet(frame, root / "market_events.parquet")
                continue
            (root / name).mkdir(exist_ok=True)
            write_parquet(frame, root / name / f"part-{i:05d}.parquet")
        (root / "truth").mkdir(exist_ok=True)
        write_parquet(truth, root / "truth" / f"part-{i:05d}.parquet")
        logger.info("wrote chunk %d (%d customers)", i, len(truth))
    return root


def write_parquet(frame: pd.DataFrame, target: Path) -> None:
    """One table to one Parquet file (zstd), atomically."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False, compression="zstd")


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
    comebacks: Comebacks | None = None,
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
    market = generators.market_events(np.random.default_rng([seed, 999_983]), edges_s[:-1], edges_s[-1])
    for index, offset in enumerate(range(0, n_customers, CHUNK)):
        n = min(CHUNK, n_customers - offset)
        rng = np.random.default_rng([seed, index])
        # the programme draws from its own stream: with or without it, the same customers churn for the same causes
        programme = (retention, np.random.default_rng([seed, index, 1])) if retention is not None else None
        returns = (comebacks, np.random.default_rng([seed, index, 2])) if comebacks is not None else None
        yield chunk(rng, n, offset, edges_s, market, churn_rate, mix, false_alarm_rate, programme, returns)


def chunk(rng, n, offset, edges_s, market, churn_rate, mix, false_alarm_rate, programme=None, comebacks=None):
    """One chunk's raw tables and ground truth: the population, then each table's generator in a fixed order."""
    p = draw_population(rng, n, offset, edges_s, market, churn_rate, mix, false_alarm_rate, programme, comebacks)
    frames: dict[str, pd.DataFrame] = {}
    frames["orders"], spend = generators.orders(rng, p)
    frames["invoices"] = generators.invoices(rng, p, spend)
    frames["activity"] = generators.activity(rng, p)
    frames["tickets"] = generators.tickets(rng, p)
    frames["interactions"] = generators.interactions(rng, p)
    frames["surveys"] = generators.surveys(rng, p)
    frames["contacts"] = generators.contacts(rng, p)
    frames["contracts"], last_end = generators.contracts(p)
    frames["customers"] = generators.customers(rng, p, last_end)
    frames["market_events"] = market
    if p.interventions is not None:
        interventions = p.interventions
        interventions["customer_id"] = p.cat(interventions.pop("customer"))
        frames["interventions"] = interventions
    truth = p.truth()
    _one_time_unit([*frames.values(), truth])
    return frames, truth


def _one_time_unit(frames: list[pd.DataFrame]) -> None:
    """Microseconds everywhere (what Parquet and DuckDB give back)."""
    for frame in frames:
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].astype("datetime64[us]")
