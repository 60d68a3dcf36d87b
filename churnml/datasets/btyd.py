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
from scipy.integrate import quad_vec
from scipy.special import expit, hyp2f1

from churnml.constants import DAY_SECONDS
from churnml.models.btyd import BgNbdParams


@dataclass(frozen=True)
class BgNbd(BgNbdParams):
    """A BG/NBD world: :meth:`draw` its order log, :meth:`optimum` its best forecast."""

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
        return _tables(rng, start, customers, np.concatenate(owner), np.concatenate(times), mean_amount)

    def optimum(self, orders: pd.DataFrame, as_of: str | pd.Timestamp, horizon_days: float) -> pd.Series:
        """The exact probability of no order in ``[as_of, as_of + horizon)`` given each customer's orders before ``as_of``.

        With ``x`` repeat purchases, the last at ``t_x`` days after the first,
        and ``T`` days observed since the first
        (:meth:`churnml.models.btyd.BgNbdParams.p_no_purchase`); times are
        measured on the recorded dates, as every model sees them.

        Returns
        -------
        pandas.Series
            Indexed by customer_id, for the customers with an order before ``as_of``.
        """
        customers, x, t_x, T = order_history(orders, as_of)
        return pd.Series(self.p_no_purchase(x, t_x, T, horizon_days), index=customers, name="p_no_purchase")


@dataclass(frozen=True)
class ParetoNbd:
    """A Pareto/NBD world: :meth:`draw` its order log, :meth:`optimum` its best forecast; times in days.

    While alive a customer buys at a Poisson rate ``lam ~ Gamma(r, alpha)``;
    its lifetime from the first purchase is exponential with rate
    ``mu ~ Gamma(s, beta)`` (shapes ``r``, ``s``; rates ``alpha``, ``beta``).
    The defaults are the CDNOW estimates of Fader, Hardie and Lee (2005, "RFM
    and CLV": r 0.55, alpha 10.58 weeks, s 0.61, beta 11.67 weeks) with the
    rates' time unit turned into days (alpha and beta times 7): observed for
    15 months, most customers buy one to three times and about a third are
    still alive.
    """

    r: float = 0.55
    alpha: float = 74.06
    s: float = 0.61
    beta: float = 81.69

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

        The same contract as :meth:`BgNbd.draw`: the first order is the
        birth, amounts carry no signal, orders at or after ``end`` are not
        recorded.
        """
        rng = np.random.default_rng(seed)
        start, birth, horizon = _births(rng, customers, start, birth_months, end)
        lam = rng.gamma(self.r, 1.0 / self.alpha, customers)
        mu = rng.gamma(self.s, 1.0 / self.beta, customers)
        with np.errstate(divide="ignore"):  # a rate that underflows to 0 is an immortal customer
            death = birth + rng.standard_exponential(customers) / mu
        # given their number, a Poisson process's purchases in a window are uniform in it
        window = np.clip(np.minimum(death, horizon) - birth, 0.0, None)
        count = rng.poisson(lam * window)
        owner = np.repeat(np.arange(customers), count)
        times = birth[owner] + rng.random(len(owner)) * window[owner]
        everyone = np.arange(customers)
        return _tables(rng, start, customers, np.concatenate([everyone, owner]), np.concatenate([birth, times]), mean_amount)

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Probability that a customer with history ``(x, t_x, T)`` is still alive at ``T``.

        Fader, Hardie and Lee (2005, "A note on deriving the Pareto/NBD model
        and related expressions", P(alive) with its ``A_0``; Schmittlein,
        Morrison and Colombo 1987): the odds of being dead are ``s (alpha+T)^(r+x) (beta+T)^s`` times
        ``int_{t_x}^T (alpha+y)^-(r+x) (beta+y)^-(s+1) dy``, the note's
        ``s / (r+s+x) A_0``; computed in log space so that large ``x`` or
        ``T`` do not overflow (:func:`_log_integral`).
        """
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (x, t_x, T)))
        dead = _log_integral(r + x, s + 1, alpha, beta, t_x, T)
        log_odds_dead = np.log(s) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + dead
        return expit(-log_odds_dead)

    def p_no_purchase(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon_days: float) -> np.ndarray:
        """Probability of no purchase in ``(T, T + horizon_days]`` given the history ``(x, t_x, T)``.

        Given alive at ``T`` the lifetime left is again exponential, and the
        rates are independent ``Gamma(r + x, alpha + T)`` and ``Gamma(s, beta + T)``.
        A purchase in ``H`` days needs the next purchase to come before both
        death and ``H``: its density at ``y`` is ``lam exp(-(lam + mu) y)``, so

            P(buy | alive) = (r+x) (alpha+T)^(r+x) (beta+T)^s int_T^(T+H) (alpha+y)^-(r+x+1) (beta+y)^-s dy

        and ``P(no purchase) = 1 - P(alive) P(buy | alive)``. The product
        ``((alpha+T)/(alpha+T+H))^(r+x) ((beta+T)/(beta+T+H))^s`` alone would
        be the probability of surviving ``H`` days without buying; it misses
        the customers who die quiet within ``H``.

        Examples
        --------
        >>> world = ParetoNbd()
        >>> world.p_no_purchase([0, 2], [0, 90], [100, 100], 90).round(3).tolist()  # once 100 days ago; thrice, last 10 days ago
        [0.899, 0.429]
        """
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (x, t_x, T)))
        window = _log_integral(r + x + 1, s, alpha, beta, T, T + horizon_days)
        buys_if_alive = np.exp(np.log(r + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + window)
        return 1.0 - self.p_alive(x, t_x, T) * np.minimum(buys_if_alive, 1.0)

    def optimum(self, orders: pd.DataFrame, as_of: str | pd.Timestamp, horizon_days: float) -> pd.Series:
        """The exact probability of no order in ``[as_of, as_of + horizon)`` given each customer's orders before ``as_of``.

        As :meth:`BgNbd.optimum`, with :meth:`p_no_purchase` of this model.

        Returns
        -------
        pandas.Series
            Indexed by customer_id, for the customers with an order before ``as_of``.
        """
        customers, x, t_x, T = order_history(orders, as_of)
        return pd.Series(self.p_no_purchase(x, t_x, T, horizon_days), index=customers, name="p_no_purchase")


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


def _log_integral(p: np.ndarray, q: float, b1: float, b2: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log int_a^b (b1 + y)^-p (b2 + y)^-q dy`` for ``p + q > 1``, ``-inf`` where ``a == b``: behind every Pareto/NBD expression.

    In closed form (:func:`_log_tail`) where its hypergeometric argument is
    at most :data:`_SAFE_Z`; beyond, only when one of alpha and beta is
    about ten times the other, scipy's ``hyp2f1`` can return NaN (large
    ``p``, integer ``q``) and the integral is computed by quadrature
    (:func:`_log_integral_by_quadrature`).
    """
    p, q, a, b = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (p, q, a, b)))
    if b1 < b2:  # the integrand is symmetric in (p, b1) and (q, b2)
        p, q, b1, b2 = q, p, b2, b1
    out = np.full(p.shape, -np.inf)
    steep = (b1 - b2) / (b1 + a) > _SAFE_Z
    exact, numeric = (b > a) & ~steep, (b > a) & steep
    if exact.any():
        tails = (_log_tail(p[exact], q[exact], b1, b2, end[exact]) for end in (a, b))
        out[exact] = _log_difference(*tails)
    if numeric.any():
        out[numeric] = _log_integral_by_quadrature(p[numeric], q[numeric], b1, b2, a[numeric], b[numeric])
    return out


# scipy's hyp2f1(1, p; p + q; z) agrees with mpmath to 1e-14 up to here (p up to 5000, q up to 60, integer q included)
_SAFE_Z = 0.9


def _log_tail(p: np.ndarray, q: np.ndarray, b1: float, b2: float, t: np.ndarray) -> np.ndarray:
    """``log int_t^inf (b1 + y)^-p (b2 + y)^-q dy`` for ``b1 >= b2``.

    Substituting ``v = (b1 + t) / (b1 + y)`` gives
    ``(b1+t)^(1-p-q) / (p+q-1) 2F1(q, p+q-1; p+q; z)``, ``z = (b1-b2)/(b1+t)``
    in ``[0, 1)`` (the note's choice of series by ``alpha >= beta``). Euler's
    transformation turns it into ``(1-z)^(1-q) 2F1(1, p; p+q; z)``, a series of
    positive terms below ``z^n`` that stays accurate for large ``p`` where
    the first form grows like ``(1-z)^(1-q)``.
    """
    z = (b1 - b2) / (b1 + t)
    return -p * np.log(b1 + t) + (1 - q) * np.log(b2 + t) - np.log(p + q - 1) + np.log(hyp2f1(1.0, p, p + q, z))


def _log_integral_by_quadrature(p: np.ndarray, q: np.ndarray, b1: float, b2: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`_log_integral` for ``b1 >= b2`` and ``b > a`` by adaptive quadrature, all rows at once.

    On ``u = log(b2 + y)`` the log integrand ``(1-q) u - p log(b1 - b2 + e^u)``
    is concave; its tangent at ``a`` (slope ``k`` on ``[0, 1]``) is integrated
    exactly by the substitution ``sigma = (1 - e^(k tau)) / (1 - e^k)``, so
    what is left for the quadrature starts at 1 and decays no faster than
    the curvature makes it, however steep the integrand.
    """
    d, u0 = b1 - b2, np.log(b2 + a)
    width = np.log(b2 + b) - u0
    log_f = lambda u: (1 - q) * u - p * np.log(d + np.exp(u))  # noqa: E731
    k = np.minimum(width * ((1 - q) - p * (b2 + a) / (b1 + a)), 0.0)
    curved = k < -1e-9  # a flat tangent needs no substitution
    k_safe = np.where(curved, k, -1.0)
    scale = np.where(curved, -np.expm1(k_safe) / -k_safe, 1.0)

    def residual(sigma: float) -> np.ndarray:
        tau = np.where(curved, np.log1p(sigma * np.expm1(k_safe)) / k_safe, sigma)
        return np.exp(log_f(u0 + tau * width) - log_f(u0) - k * tau)

    integral, _ = quad_vec(residual, 0.0, 1.0, epsabs=0.0, epsrel=1e-11, norm="max")
    return log_f(u0) + np.log(width) + np.log(scale) + np.log(integral)


def _log_difference(log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    """``log(a - b)`` for ``a >= b > 0`` from their logs; ``-inf`` where they are equal."""
    with np.errstate(divide="ignore"):
        return log_a + np.log(-np.expm1(np.minimum(log_b - log_a, 0.0)))
