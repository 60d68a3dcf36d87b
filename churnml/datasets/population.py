"""The synthetic population: who the customers are, who churns, when and why, and the signals that announce it.

:func:`draw_population` draws every customer's profile (industry, segment,
signup, own order frequency and value, login rate, usage breadth, payment
habit, contact intensity), the churners with their churn date and planted
cause, the signal strength per customer and month (1-4 months of ramp before
the churn date, and the false-alarm episodes), and the months each customer
is active. The table generators (:mod:`churnml.datasets.generators`) draw
each raw table around these signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.constants import CAUSES
from churnml.datasets.comebacks import NEVER, Comebacks, simulate_comebacks
from churnml.datasets.retention import DAY, RetentionProgramme, simulate_retention

__all__ = ["INDUSTRIES", "REGIONS", "SEGMENTS", "Population", "draw_population"]

INDUSTRIES = ("retail", "manufacturing", "technology", "healthcare", "logistics", "hospitality")
SEGMENTS = ("small", "medium", "large")
REGIONS = ("north", "south", "east", "west")
CAUSE_NAMES = np.array([*CAUSES, "none"])


@dataclass
class Population:
    """One chunk of customers: profiles, churn, signals (customers x months) and active windows, as arrays."""

    n: int
    m: int
    offset: int
    ids: np.ndarray
    edges_s: np.ndarray
    start: int
    end: int
    month_start: np.ndarray
    month_len: np.ndarray
    signup: np.ndarray
    industry: np.ndarray
    segment: np.ndarray
    region: np.ndarray
    seg_scale: np.ndarray
    base_freq: np.ndarray
    base_amount: np.ndarray
    base_logins: np.ndarray
    base_features: np.ndarray
    breadth: np.ndarray
    pay_delay: np.ndarray
    responder: np.ndarray
    has_contract: np.ndarray
    churner: np.ndarray
    churn_at: np.ndarray
    cause: np.ndarray
    onset: np.ndarray
    false_alarm: np.ndarray
    signal: np.ndarray
    price_s: np.ndarray
    service_s: np.ndarray
    needs_s: np.ndarray
    win_start: np.ndarray
    win_len: np.ndarray
    active: np.ndarray
    seas: np.ndarray
    won: np.ndarray
    interventions: pd.DataFrame | None
    return_at: np.ndarray
    comeback_truth: dict | None

    def cat(self, index: np.ndarray) -> pd.Categorical:
        """Customer ids for integer customer indices (a categorical: cheap to build and to sort)."""
        return pd.Categorical.from_codes(index, categories=self.ids)

    def truth(self) -> pd.DataFrame:
        """The planted ground truth: churn date, cause, signal onset, false alarm (and won back)."""
        truth = pd.DataFrame(
            {
                "customer_id": self.ids,
                "churn_date": pd.Series(self.churn_at.clip(max=self.end).astype("datetime64[s]")).where(self.churner),
                "cause": np.where(self.churner, CAUSE_NAMES[self.cause], "none"),
                "signal_onset": pd.Series(self.onset.clip(min=self.start, max=self.end).astype("datetime64[s]")).where(self.churner & (self.cause < 3)),
                "false_alarm": self.false_alarm,
            }
        )
        if self.interventions is not None:
            truth["won_back"] = self.won
        if self.comeback_truth is not None:
            truth["return_date"] = pd.Series(self.return_at.astype("datetime64[s]")).where(self.return_at < NEVER)
            for name, values in self.comeback_truth.items():
                truth[name] = values
        return truth


def draw_population(
    rng: np.random.Generator,
    n: int,
    offset: int,
    edges_s: np.ndarray,
    market: pd.DataFrame,
    churn_rate: float,
    mix: dict[str, float],
    false_alarm_rate: float,
    programme: tuple[RetentionProgramme, np.random.Generator] | None = None,
    comebacks: tuple[Comebacks, np.random.Generator] | None = None,
) -> Population:
    """Draw one chunk of ``n`` customers (see the module docstring).

    ``programme`` simulates a retention programme; ``comebacks`` lets churners return, with a win-back programme.
    """
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
    cause = rng.choice(4, n, p=np.array([mix[c] for c in CAUSE_NAMES]) / sum(mix.values()))
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
    churn_at = np.where(churner, churn_at, NEVER)
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
        interventions, won, handled_month = simulate_retention(*programme, month_start, end, signup, churner, churn_at, cause, signal, eff_cause)
        # won back: the churn is cancelled and the signals fade after the action
        churner = churner & ~won
        churn_at = np.where(won, NEVER, churn_at)
        signal = np.where(won[:, None] & (np.arange(m)[None, :] > handled_month[:, None]), 0.0, signal)
    return_at, comeback_truth = np.full(n, NEVER), None
    if comebacks is not None:
        return_at, winback, comeback_truth = simulate_comebacks(*comebacks, month_start, end, churner, churn_at, cause, segment)
        interventions = winback if interventions is None else pd.concat([interventions, winback], ignore_index=True)
        # a returner comes back clean: no churn signal from its return month on
        signal = np.where(edges_s[1:][None, :] > return_at[:, None], 0.0, signal)
    price_s, service_s, needs_s = (np.where(eff_cause[:, None] == k, signal, 0.0) for k in range(3))

    # ---- active windows per customer-month: before the churn date, or from the return on (never both in one month)
    lo = np.maximum(month_start[None, :], signup[:, None])
    hi = np.minimum(edges_s[1:][None, :], churn_at[:, None])
    back = np.maximum(month_start[None, :], return_at[:, None])
    again = back < edges_s[1:][None, :]
    win_start = np.where(again, back, lo)
    win_len = np.maximum(np.where(again, edges_s[1:][None, :] - back, hi - lo), 0)
    active = win_len / month_len[None, :]
    seas = season[industry]
    return Population(
        n, m, offset, ids, edges_s, start, end, month_start, month_len, signup, industry, segment, region, seg_scale,
        base_freq, base_amount, base_logins, base_features, breadth, pay_delay, responder, has_contract, churner, churn_at,
        cause, onset, false_alarm, signal, price_s, service_s, needs_s, win_start, win_len, active, seas, won, interventions,
        return_at, comeback_truth,
    )
