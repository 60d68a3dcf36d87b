"""Order logs drawn from the field's standard models of repeat buying, with their exact optimal forecasts.

The BG/NBD model (:mod:`churnml.models.btyd`) is the reference story for
non-contractual customers. A world drawn from it is a bench churnml did not write,
and the true parameters give the best possible probability of "no purchase
in (D, D + H]" for each customer from its own history, so the distance of any
model to the optimum is measurable.

* :class:`BgNbd`: drop-out possible only just after a purchase;
* :class:`ParetoNbd`: drop-out at any time (Schmittlein, Morrison and
  Colombo 1987), the older of the two stories and a second bench whose
  optimum reads recency differently.

Written here in a few lines of numpy because the maintained packages draw
from these models slowly or not at all on current pandas (lifetimes'
generators call the removed ``DataFrame.append``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.constants import DAY_SECONDS
from churnml.models.btyd import BgNbdParams, ParetoNbdParams


class _World:
    """What both worlds share: :meth:`draw` an order log from the model's purchases, :meth:`optimum` its best forecast."""

    def draw(
        self,
        customers: int,
        start: str | pd.Timestamp,
        birth_months: int,
        end: str | pd.Timestamp,
        seed: int = 0,
        mean_amount: float = 40.0,
    ) -> dict[str, pd.DataFrame]:
        """A cohort's ``customers`` and ``orders`` tables, first purchases spread over ``birth_months``.

        Each customer's first order is its birth (the trial purchase of the
        model); amounts are Gamma around a per-customer mean and carry no
        signal about churn. Orders at or after ``end`` are not recorded.
        """
        rng = np.random.default_rng(seed)
        start, birth, horizon = _births(rng, customers, start, birth_months, end)
        owner, times = self._repeat_purchases(rng, birth, horizon)
        everyone = np.arange(customers)
        return _tables(rng, start, customers, np.concatenate([everyone, owner]), np.concatenate([birth, times]), mean_amount)

    def optimum(self, orders: pd.DataFrame, as_of: str | pd.Timestamp, horizon_days: float) -> pd.Series:
        """The exact probability of no order in ``[as_of, as_of + horizon)`` given each customer's orders before ``as_of``.

        With ``x`` repeat purchases, the last at ``t_x`` days after the first,
        and ``T`` days observed since the first (the model's
        ``p_no_purchase``); times are measured on the recorded dates, as
        every model sees them.

        Returns
        -------
        pandas.Series
            Indexed by customer_id, for the customers with an order before ``as_of``.
        """
        customers, x, t_x, T = order_history(orders, as_of)
        return pd.Series(self.p_no_purchase(x, t_x, T, horizon_days), index=customers, name="p_no_purchase")


@dataclass(frozen=True)
class BgNbd(BgNbdParams, _World):
    """A BG/NBD world (:class:`churnml.models.btyd.BgNbdParams`): :meth:`draw` its order log, :meth:`optimum` its best forecast."""

    def _repeat_purchases(self, rng: np.random.Generator, birth: np.ndarray, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        customers = len(birth)
        lam = rng.gamma(self.r, 1.0 / self.alpha, customers)
        p = rng.beta(self.a, self.b, customers)
        owner, times = [], []
        now, alive = birth.copy(), np.ones(customers, dtype=bool)
        while alive.any():  # one repeat purchase per round for every customer still buying
            idx = np.flatnonzero(alive)
            now[idx] += rng.exponential(1.0 / np.maximum(lam[idx], 1e-12))
            bought = idx[now[idx] < horizon]
            owner.append(bought)
            times.append(now[bought])
            alive[:] = False
            alive[bought[rng.random(len(bought)) >= p[bought]]] = True
        return np.concatenate(owner), np.concatenate(times)


@dataclass(frozen=True)
class ParetoNbd(ParetoNbdParams, _World):
    """A Pareto/NBD world (:class:`churnml.models.btyd.ParetoNbdParams`): :meth:`draw` its order log, :meth:`optimum` its best forecast.

    With the default (CDNOW) parameters, observed for 15 months, most
    customers buy one to three times and about a third are still alive.
    """

    def _repeat_purchases(self, rng: np.random.Generator, birth: np.ndarray, horizon: float) -> tuple[np.ndarray, np.ndarray]:
        customers = len(birth)
        lam = rng.gamma(self.r, 1.0 / self.alpha, customers)
        mu = rng.gamma(self.s, 1.0 / self.beta, customers)
        with np.errstate(divide="ignore"):  # a rate that underflows to 0 is an immortal customer
            death = birth + rng.standard_exponential(customers) / mu
        # given their number, a Poisson process's purchases in a window are uniform in it
        window = np.clip(np.minimum(death, horizon) - birth, 0.0, None)
        owner = np.repeat(np.arange(customers), rng.poisson(lam * window))
        return owner, birth[owner] + rng.random(len(owner)) * window[owner]


def order_history(orders: pd.DataFrame, as_of: str | pd.Timestamp) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's BG/NBD history before ``as_of`` from raw orders: customer ids, ``x``, ``t_x`` and ``T`` (days)."""
    as_of = pd.Timestamp(as_of)
    grouped = orders[orders.order_date < as_of].groupby("customer_id").order_date
    first, last, count = grouped.min(), grouped.max(), grouped.size()
    days = lambda delta: (delta.dt.total_seconds() / DAY_SECONDS).to_numpy()  # noqa: E731
    return count.index, (count - 1).to_numpy(dtype="float64"), days(last - first), days(as_of - first)


def _births(rng: np.random.Generator, customers: int, start, birth_months: int, end) -> tuple[pd.Timestamp, np.ndarray, float]:
    """The start, each customer's first purchase (days after it, uniform over ``birth_months``) and the end in days."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    span = (start + pd.DateOffset(months=birth_months) - start).days
    birth = rng.uniform(0, span, customers)
    return start, birth, (end - start).days


def _tables(rng: np.random.Generator, start: pd.Timestamp, customers: int, owner: np.ndarray, times: np.ndarray, mean_amount: float) -> dict[str, pd.DataFrame]:
    """The ``customers`` and ``orders`` tables from every purchase's customer index and time in days after ``start``."""
    order = np.lexsort((times, owner))
    owner, times = owner[order], times[order]
    ids = np.array([f"c{i:06d}" for i in range(customers)])
    spend = rng.gamma(2.0, mean_amount / 2.0, customers)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(len(owner)),
            "customer_id": ids[owner],
            "order_date": start + pd.to_timedelta(np.floor(times * DAY_SECONDS), unit="s"),
            "amount": np.round(rng.gamma(4.0, spend[owner] / 4.0), 2),
        }
    )
    first = orders.groupby("customer_id", sort=False).order_date.min()
    customers_table = pd.DataFrame({"customer_id": ids, "signup_date": first.reindex(ids).dt.normalize().to_numpy()})
    return {"customers": customers_table, "orders": orders}
