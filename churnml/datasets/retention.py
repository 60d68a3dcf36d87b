"""A simulated retention programme: warn, hold out a control group, handle, win back; the ``interventions`` table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.config import Config
from churnml.constants import CAUSES, DAY_SECONDS
from churnml.messages import text

__all__ = ["RetentionProgramme", "simulate_retention"]

DAY = int(DAY_SECONDS)  # the generators count time in whole seconds


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


def simulate_retention(spec: RetentionProgramme, rng, month_start, end, signup, churner, churn_at, cause, signal, eff_cause):
    """Warn, hold out, handle and win back (see :class:`RetentionProgramme`).

    Returns the interventions frame (with integer ``customer``), who was won
    back, and the month index of each customer's handling (-1 when none).
    """
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
    playbook = Config().causes.playbook  # the documents' playbook gives actions and owners
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
