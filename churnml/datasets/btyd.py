"""Order logs drawn from the field's standard model of repeat buying, with its exact optimal forecast.

The BG/NBD model (Fader, Hardie and Lee 2005, "Counting your customers the
easy way") is the reference story for non-contractual customers: while
alive, a customer buys at a Poisson rate ``lam ~ Gamma(r, alpha)`` (per day);
after each repeat purchase it drops out for good with probability
``p ~ Beta(a, b)``. A world drawn from it is a bench churnml did not write,
and the true parameters give the best possible probability of "no purchase
in (D, D + H]" for each customer from its own history, so the distance of any
model to the optimum is measurable.

Written here in a few lines of numpy because the maintained packages draw
from these models slowly or not at all on current pandas (lifetimes'
generators call the removed ``DataFrame.append``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.constants import DAY_SECONDS


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD parameters; ``alpha`` in days, so ``r / alpha`` is the mean purchase rate per day.

    The defaults are of the order fitted on the CDNOW log (Fader et al. 2005:
    r 0.24, alpha 4.4 weeks, a 0.79, b 2.43): most customers buy rarely and
    many buy once.
    """

    r: float = 0.25
    alpha: float = 30.0
    a: float = 0.8
    b: float = 2.4

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
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        span = (start + pd.DateOffset(months=birth_months) - start).days
        birth = rng.uniform(0, span, customers)
        horizon = (end - start).days
        lam = rng.gamma(self.r, 1.0 / self.alpha, customers)
        p = rng.beta(self.a, self.b, customers)
        owner, times = [np.arange(customers)], [birth]
        now, alive = birth.copy(), np.ones(customers, dtype=bool)
        while alive.any():  # one repeat purchase per round for every customer still buying
            idx = np.flatnonzero(alive)
            now[idx] += rng.exponential(1.0 / np.maximum(lam[idx], 1e-12))
            bought = idx[now[idx] < horizon]
            owner.append(bought)
            times.append(now[bought])
            alive[:] = False
            alive[bought[rng.random(len(bought)) >= p[bought]]] = True
        owner, times = np.concatenate(owner), np.concatenate(times)
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

    def p_no_purchase(self, orders: pd.DataFrame, as_of: str | pd.Timestamp, horizon_days: float) -> pd.Series:
        """The exact probability of no order in ``[as_of, as_of + horizon)`` given each customer's orders before ``as_of``.

        With ``x`` repeat purchases, the last at ``t_x`` days after the first,
        and ``T`` days observed since the first, a customer is alive with
        ``P = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))``;
        given alive its rate is ``Gamma(r + x, alpha + T)`` and it buys
        nothing in ``H`` days with ``((alpha + T) / (alpha + T + H))^(r + x)``.
        Times are measured on the recorded dates, as every model sees them.

        Returns
        -------
        pandas.Series
            Indexed by customer_id, for the customers with an order before ``as_of``.
        """
        as_of = pd.Timestamp(as_of)
        seen = orders[orders.order_date < as_of]
        grouped = seen.groupby("customer_id").order_date
        first, last, count = grouped.min(), grouped.max(), grouped.size()
        x = (count - 1).to_numpy(dtype="float64")
        t_x = ((last - first).dt.total_seconds() / DAY_SECONDS).to_numpy()
        T = ((as_of - first).dt.total_seconds() / DAY_SECONDS).to_numpy()
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            odds_dead = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        alive = 1.0 / (1.0 + odds_dead)
        quiet_if_alive = ((alpha + T) / (alpha + T + horizon_days)) ** (r + x)
        return pd.Series(1.0 - alive * (1.0 - quiet_if_alive), index=count.index, name="p_no_purchase")
