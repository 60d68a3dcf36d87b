"""The BG/NBD and Pareto/NBD models of repeat buying: fitted by maximum likelihood, and their probability of no purchase.

The BG/NBD model (Fader, Hardie and Lee 2005, "Counting your customers the
easy way") is the field's standard story for an order log: while alive, a
customer buys at a Poisson rate ``lam ~ Gamma(r, alpha)`` (per day); after
each repeat purchase it drops out for good with probability
``p ~ Beta(a, b)``. A customer's history enters only through ``x`` (repeat
purchases), ``t_x`` (days from the first to the last purchase) and ``T``
(days from the first purchase to the cut).

Fitted here with scipy rather than through a BTYD package (measured on
12,000 customers): lifetimes 0.11.3 is no longer maintained, raises
``ConvergenceError`` where the likelihood is flat (an order log far from
the model) and has no conditional probability of no purchase for BG/NBD;
pymc-marketing 0.19.2 adds 760 MB (PyMC, PyTensor, numba), takes 21 s to
compile on its first fit, and its ``expected_probability_no_purchase``
overstates the probability for customers without a repeat purchase. The
likelihood is the paper's equation (6), the probability its equations (12)
and (13); ``tests/test_btyd.py`` recovers the true parameters of a drawn
world.

The Pareto/NBD model (Schmittlein, Morrison and Colombo 1987) tells the
same story with a drop-out that can happen at any time, not only just
after a purchase: the lifetime is exponential with rate ``mu ~ Gamma(s,
beta)``. Its likelihood and probabilities need the integral
:func:`_log_integral`, computed here in closed form or by quadrature, by
hand for the reasons above.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad_vec
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1

__all__ = ["BgNbdParams", "ParetoNbdParams", "fit_bgnbd", "fit_pareto_nbd"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters; ``alpha`` in days, so ``r / alpha`` is the mean purchase rate per day.

    The defaults are of the order fitted on the CDNOW log (Fader et al. 2005:
    r 0.24, alpha 4.4 weeks, a 0.79, b 2.43): most customers buy rarely and
    many buy once.
    """

    r: float = 0.25
    alpha: float = 30.0
    a: float = 0.8
    b: float = 2.4

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Probability that a customer with history ``(x, t_x, T)`` has not dropped out (eq. 13)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            odds_dead = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        return 1.0 / (1.0 + odds_dead)

    def p_no_purchase(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, horizon_days: float) -> np.ndarray:
        """Probability of no purchase in the next ``horizon_days`` given the history ``(x, t_x, T)``.

        Dead, or alive and quiet: given alive, the rate is ``Gamma(r + x, alpha + T)``,
        so no purchase in ``H`` days has probability ``((alpha + T) / (alpha + T + H))^(r + x)``.

        Examples
        --------
        >>> params = BgNbdParams()
        >>> params.p_no_purchase([0, 0], [0, 0], [100, 100], 30).round(3).tolist()  # one purchase, 100 days ago
        [0.949, 0.949]
        >>> params.p_no_purchase([3], [20], [100], 30).round(3).tolist()  # three repeats, the last 80 days ago
        [0.903]
        """
        x, T = np.asarray(x, dtype="float64"), np.asarray(T, dtype="float64")
        quiet_if_alive = ((self.alpha + T) / (self.alpha + T + horizon_days)) ** (self.r + x)
        return 1.0 - self.p_alive(x, t_x, T) * (1.0 - quiet_if_alive)


def _log_likelihood(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each customer's log-likelihood (Fader et al. 2005, eq. 6), on log parameters."""
    r, alpha, a, b = np.exp(log_params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    stays = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        drops = np.where(x > 0, betaln(a + 1, np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x), -np.inf)
    return common + np.logaddexp(stays, drops)


@dataclass(frozen=True)
class ParetoNbdParams:
    """Pareto/NBD parameters; ``alpha`` and ``beta`` in days.

    While alive a customer buys at a Poisson rate ``lam ~ Gamma(r, alpha)``;
    its lifetime from the first purchase is exponential with rate
    ``mu ~ Gamma(s, beta)`` (shapes ``r``, ``s``; rates ``alpha``, ``beta``).
    The defaults are the CDNOW estimates of Fader, Hardie and Lee (2005, "RFM
    and CLV": r 0.55, alpha 10.58 weeks, s 0.61, beta 11.67 weeks) with the
    rates' time unit turned into days (alpha and beta times 7).
    """

    r: float = 0.55
    alpha: float = 74.06
    s: float = 0.61
    beta: float = 81.69

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
        >>> world = ParetoNbdParams()
        >>> world.p_no_purchase([0, 2], [0, 90], [100, 100], 90).round(3).tolist()  # once 100 days ago; thrice, last 10 days ago
        [0.899, 0.429]
        """
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        x, t_x, T = np.broadcast_arrays(*(np.asarray(v, dtype="float64") for v in (x, t_x, T)))
        window = _log_integral(r + x + 1, s, alpha, beta, T, T + horizon_days)
        buys_if_alive = np.exp(np.log(r + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + window)
        return 1.0 - self.p_alive(x, t_x, T) * np.minimum(buys_if_alive, 1.0)


def _pareto_log_likelihood(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each customer's Pareto/NBD log-likelihood (:func:`fit_pareto_nbd`), on log parameters."""
    r, alpha, s, beta = np.exp(log_params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    quiet = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) + _log_integral(r + x, s + 1, alpha, beta, t_x, T)
    return common + np.logaddexp(quiet, dead)


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters from customers' histories (times in days).

    Bounded on the log scale so that a log far from the model (a flat
    likelihood) ends at the bound instead of failing; that is logged.

    Raises
    ------
    ValueError
        Without any customer, with a negative count or inconsistent times,
        or when the likelihood cannot be evaluated.
    """
    start = lambda T: [0.5, max(float(np.mean(T)), 1.0) / 10, 1.0, 1.0]  # noqa: E731
    return _fit(BgNbdParams, _log_likelihood, start, x, t_x, T)


def fit_pareto_nbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> ParetoNbdParams:
    """Maximum-likelihood Pareto/NBD parameters from customers' histories (times in days); as :func:`fit_bgnbd`.

    The likelihood (Fader and Hardie 2005, "A note on deriving the
    Pareto/NBD model") is alive-and-quiet until ``T`` or dead at some
    ``y`` between ``t_x`` and ``T``:
    ``Gamma(r+x) alpha^r beta^s / Gamma(r) [(alpha+T)^-(r+x) (beta+T)^-s + s int_{t_x}^T (alpha+y)^-(r+x) (beta+y)^-(s+1) dy]``.
    """
    start = lambda T: [0.5, max(float(np.mean(T)), 1.0) / 5, 0.5, max(float(np.mean(T)), 1.0) / 5]  # noqa: E731
    return _fit(ParetoNbdParams, _pareto_log_likelihood, start, x, t_x, T)


def _fit(model: type, log_likelihood, start, x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
    """``model``'s four parameters maximising the mean of ``log_likelihood`` on log scale, from ``start(T)``."""
    name = model.__name__.removesuffix("Params")
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    if not len(x):
        raise ValueError(f"fitting {name} needs at least one customer with a purchase")
    if (x < 0).any() or (t_x < 0).any() or (t_x > T + 1e-9).any():
        raise ValueError(f"{name} histories need x >= 0 and 0 <= t_x <= T")
    bounds = [(-9.0, 9.0), (-9.0, 12.0), (-9.0, 9.0), (-9.0, 12.0)]
    objective = lambda p: -log_likelihood(p, x, t_x, T).mean()  # noqa: E731
    result = minimize(objective, np.log(start(T)), method="L-BFGS-B", bounds=bounds)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise ValueError(f"the {name} likelihood could not be evaluated on these histories ({result.message})")
    if not result.success:
        logger.warning("%s fit did not converge (%s); using the last estimate", name, result.message)
    params = model(*(float(v) for v in np.exp(result.x)))
    logger.info("%s fitted on %d customers: %s", name, len(x), params)
    return params


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
