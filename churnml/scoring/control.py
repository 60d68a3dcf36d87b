"""The random control group: warned customers deliberately left untouched, so the programme's effect is measured.

The draw hashes (customer_id, as_of, seed): the same on every rerun, and
independent of row order and of the customer's risk. :mod:`churnml.kpis`
compares the group's churn with the treated warnings'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import KpiSettings
from churnml.messages import text

__all__ = ["assign_control", "mark_control"]


def assign_control(warnings: pd.DataFrame, share: float, seed: int = 0) -> pd.Series:
    """Draw the random control group among warned customers.

    Parameters
    ----------
    warnings : pandas.DataFrame
        customer_id, as_of, warning_level (0 = no warning).
    share : float
        Expected share of warned customers in the control group.
    seed : int

    Returns
    -------
    pandas.Series of bool, aligned with ``warnings``
    """
    keys = warnings.customer_id.astype(str) + "|" + warnings.as_of.astype(str) + f"|{seed}"
    uniform = pd.util.hash_pandas_object(keys, index=False).to_numpy() / np.float64(2**64)
    return pd.Series((warnings.warning_level.to_numpy() > 0) & (uniform < share), index=warnings.index, name="control")


def mark_control(warnings: pd.DataFrame, settings: KpiSettings, language: str = "en") -> pd.DataFrame:
    """Add the ``control`` column (:func:`assign_control`) and tell the team to leave those customers alone."""
    warnings["control"] = assign_control(warnings, settings.control_share, settings.control_seed)
    # object first: a list with no explained row holds its empty actions as float NaN
    action = warnings["action"] if "action" in warnings else pd.Series(None, index=warnings.index)
    warnings["action"] = action.astype(object).mask(warnings.control, text("playbook.control", language))
    return warnings
