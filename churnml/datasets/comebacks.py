"""Lost customers who come back: planted return hazards by cause and value, and a win-back programme with a control group.

Generative story
----------------
A churner stays away at least ``grace_days``; from then on it returns at a
constant daily hazard: its cause's monthly rate (``monthly``), times its
segment's ``value_lift`` (large customers come back more readily), times a
gamma frailty of mean 1 (``frailty_shape``: what no table shows). A
returner buys, logs in and answers again at its old rates, with no churn
signal, until the window closes (it does not churn twice).

The win-back programme puts every churner on a list at the first month
start ``list_after_days`` after its churn date (lapsed by the default
definition, 180 days of silence), leaves a random ``control_share``
untouched, and handles a share ``handled`` of the rest after an exponential
delay. Handling multiplies the return hazard by the cause's ``lift`` for
``lift_days`` days (a price offer works better than an apology, and an
apology better than a product that no longer fits). The ``interventions``
rows of kind ``winback`` record it; the truth keeps every customer's hazard,
so the planted effect of the programme is exact
(:func:`planted_return_probability`).

One exponential draw per customer decides its return with and without the
action (common random numbers), so the action only ever brings a return
forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnml.config import Config
from churnml.constants import CAUSES, MONTH_DAYS
from churnml.datasets.retention import DAY
from churnml.messages import text

__all__ = ["Comebacks", "planted_return_probability", "simulate_comebacks"]

NEVER = np.iinfo(np.int64).max  # a time that never comes: no churn, no return
CAUSE_ORDER = (*CAUSES, "none")  # the population's cause codes 0-3
TIERS = ("low", "medium", "high")  # by segment: small, medium, large


@dataclass(frozen=True)
class Comebacks:
    """Planted returns of lost customers and a win-back programme (see the module docstring).

    Parameters
    ----------
    monthly : dict
        Monthly return hazard by cause (``price``, ``service``,
        ``needs_change``, ``none``).
    value_lift : tuple of float
        Hazard multiplier of small, medium and large customers.
    frailty_shape : float
        Shape of the gamma frailty (mean 1): smaller is more unobserved
        heterogeneity.
    grace_days : int
        Days after the churn date before a return is possible (at least 31,
        so a customer never leaves and comes back in one calendar month).
    list_after_days : int
        A churner joins the win-back list at the first month start this many
        days after its churn date.
    control_share : float
        Share of listed customers left untouched on purpose.
    handled : float
        Share of the others the team reaches at all.
    delay_days : float
        Mean handling delay after the list's date (exponential).
    lift : dict
        Hazard multiplier of a handled customer by cause, for ``lift_days``
        days from the action.
    lift_days : int
        How long the action works.
    """

    monthly: dict[str, float] = field(default_factory=lambda: {"price": 0.06, "service": 0.025, "needs_change": 0.012, "none": 0.04})
    value_lift: tuple[float, float, float] = (0.7, 1.0, 1.6)
    frailty_shape: float = 2.0
    grace_days: int = 31
    list_after_days: int = 180
    control_share: float = 0.2
    handled: float = 0.9
    delay_days: float = 10.0
    lift: dict[str, float] = field(default_factory=lambda: {"price": 4.0, "service": 3.0, "needs_change": 1.5, "none": 2.0})
    lift_days: int = 60

    def __post_init__(self) -> None:
        for name in ("monthly", "lift"):
            missing = set(CAUSE_ORDER) - set(getattr(self, name))
            if missing:
                raise ValueError(f"Comebacks.{name} needs a value for every cause; missing {sorted(missing)}")
        if self.grace_days < 31:
            raise ValueError(f"Comebacks.grace_days must be at least 31 (a return in the churn month has no window), got {self.grace_days}")


def _return_after(exposure: np.ndarray, rate: np.ndarray, lift: np.ndarray, start: np.ndarray, length: float) -> np.ndarray:
    """Days until the cumulative hazard reaches ``exposure``: ``rate`` per day, times ``lift`` on [start, start + length).

    The inverse of a piecewise-linear cumulative hazard, one customer per element.
    """
    before = rate * start
    during = rate * lift * length
    return np.where(
        exposure <= before,
        exposure / rate,
        np.where(exposure <= before + during, start + (exposure - before) / (rate * lift), start + length + (exposure - before - during) / rate),
    )


def simulate_comebacks(spec: Comebacks, rng, month_start, end, churner, churn_at, cause, segment):
    """Draw each churner's return and the win-back programme.

    Returns the return time (seconds; ``NEVER`` for none), the interventions
    frame of kind ``winback`` (integer ``customer``), and the truth columns
    (``return_rate`` per day, ``winback_date``, ``winback_at``,
    ``winback_control``).
    """
    n = churner.size
    names = np.asarray(CAUSE_ORDER)[cause]
    rate = (
        np.array([spec.monthly[c] for c in CAUSE_ORDER])[cause] / MONTH_DAYS
        * np.asarray(spec.value_lift)[segment]
        * rng.gamma(spec.frailty_shape, 1 / spec.frailty_shape, n)
    )
    exposure = rng.exponential(1.0, n)
    gone = churner & (churn_at < end)
    # the list: the first month start list_after_days after the churn date, inside the window
    after = np.where(gone, churn_at + spec.list_after_days * DAY, NEVER)
    k = np.searchsorted(month_start, after, side="left")
    listed = gone & (k < month_start.size)
    list_date = np.where(listed, month_start[np.minimum(k, month_start.size - 1)], NEVER)
    control = listed & (rng.random(n) < spec.control_share)
    handled_at = list_date + (rng.exponential(spec.delay_days, n) * DAY).astype(np.int64)
    handled = listed & ~control & (rng.random(n) < spec.handled) & (handled_at < end)
    # days from the end of the grace period: the action's window, and the return itself
    clock = np.where(gone, churn_at + spec.grace_days * DAY, 0)
    action_start = np.where(handled, np.maximum(handled_at - clock, 0) / DAY, 0.0)
    lift = np.where(handled, np.array([spec.lift[c] for c in CAUSE_ORDER])[cause], 1.0)
    days = _return_after(exposure, rate, lift, action_start, float(spec.lift_days))
    return_at = clock + (np.minimum(days, 1e6) * DAY).astype(np.int64)
    return_at = np.where(gone & (return_at < end), return_at, NEVER)
    # a customer who came back before the list's date is not on it
    listed &= return_at >= list_date
    control &= listed
    handled &= listed
    who = np.nonzero(listed)[0]
    playbook = Config().causes.playbook
    owner = [playbook[c].owner if c in playbook else None for c in names[who]]
    frame = pd.DataFrame(
        {
            "customer": who,
            "warning_date": list_date[who].astype("datetime64[s]"),
            "primary_cause": pd.Series(names[who]).where(names[who] != "none"),
            "action": [text(f"winback.{c}" if c in CAUSES else "winback.unknown") for c in names[who]],
            "owner": owner,
            "handled_at": pd.Series(handled_at[who].astype("datetime64[s]")).where(handled[who]),
            "outcome": pd.Series(np.where(return_at[who] < NEVER, "retained", "lost")).where(handled[who]),
            "control": control[who],
            "kind": "winback",
            "value_tier": np.asarray(TIERS)[segment[who]],
        }
    )
    truth = {
        "return_rate": np.where(gone, rate, np.nan),
        "winback_date": pd.Series(list_date.astype("datetime64[s]")).where(listed),
        "winback_at": pd.Series(handled_at.astype("datetime64[s]")).where(handled),
        "winback_control": control,
    }
    return return_at, frame, truth


def planted_return_probability(truth: pd.DataFrame, spec: Comebacks, since: pd.Series, days: int, treated: bool | np.ndarray) -> pd.Series:
    """The exact chance that each churner returns within ``days`` of ``since``, given it had not returned by then.

    With the frailty known the hazard is piecewise constant, so the answer
    is 1 - exp(-cumulative hazard over the window).

    Parameters
    ----------
    truth : pandas.DataFrame
        Rows of :func:`~churnml.datasets.make_synthetic`'s truth, drawn with ``spec``.
    spec : Comebacks
        The spec the world was drawn with.
    since : pandas.Series
        Start of each row's window (aligned with ``truth``).
    days : int
        Window length.
    treated : bool or array of bool
        Whether the win-back action (at ``truth.winback_at``; the list's
        date when missing) lifts the hazard: False gives the chance without
        any action, ``truth.winback_at.notna()`` what the world drew.

    Returns
    -------
    pandas.Series
        One probability per row (missing for customers who never churned).
    """
    rate = truth.return_rate.to_numpy(dtype="float64")
    start = pd.to_datetime(since).to_numpy(dtype="datetime64[s]").astype(np.int64)
    clock = truth.churn_date.to_numpy(dtype="datetime64[s]").astype(np.int64) + spec.grace_days * DAY
    lo, hi = np.maximum(start, clock), start + days * DAY
    exposed = np.clip(hi - lo, 0, None) / DAY
    action = truth.winback_at.fillna(truth.winback_date).to_numpy(dtype="datetime64[s]").astype(np.int64)
    a_lo, a_hi = np.maximum(lo, action), np.minimum(hi, action + spec.lift_days * DAY)
    lifted = np.clip(a_hi - a_lo, 0, None) / DAY
    lift = truth.cause.map(spec.lift).to_numpy(dtype="float64")
    extra = np.where(np.asarray(treated) & truth.winback_date.notna().to_numpy(), (lift - 1) * lifted, 0.0)
    return pd.Series(1 - np.exp(-rate * (exposed + extra)), index=truth.index, name="planted_return_probability")
