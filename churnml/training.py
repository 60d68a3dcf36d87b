"""Training data: indicators joined with labels for many monthly snapshots, and the split in time.

:func:`make_training_frame` stacks one row per eligible (customer, snapshot)
with a complete label; :func:`time_split` cuts the snapshot dates into train,
calibration and out-of-time test slices. The split is by snapshot date, never
by row: the earliest snapshots train, the next ``calibration_snapshots``
dates early-stop LightGBM and fit the calibrator, and the latest
``test_snapshots`` dates are the out-of-time test slice, which influences
nothing. Labels of late training snapshots may read events that happen during
the test period (the horizon is months long); no feature or label of a test
snapshot is ever seen in training.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from churnml.config import ChurnDefinition, Config, ModelSettings, load_config
from churnml.data.tables import Tables, load_tables
from churnml.indicators.build import build_indicators
from churnml.labels import churn_labels, churn_periods

__all__ = ["TimeSplit", "make_training_frame", "time_split"]

logger = logging.getLogger(__name__)


def make_training_frame(
    tables: Tables | dict | str,
    as_of: str | pd.Timestamp | Sequence[str | pd.Timestamp],
    churn: ChurnDefinition | None = None,
    config: Config | str | dict | None = None,
    censored: bool = False,
) -> pd.DataFrame:
    """Indicators joined with labels for many monthly snapshots: eligible rows with a complete label.

    Parameters
    ----------
    censored : bool
        Keep eligible rows whose horizon runs past the data as well (their
        ``churned`` is missing): the hazard model learns from the periods
        they observed. Needs ``survival.enabled`` and a definition with an
        event time.

    Returns
    -------
    pandas.DataFrame
        customer_id, as_of, every indicator, and ``churned`` (int 0/1; float
        with NaN for incomplete labels when ``censored``); with
        ``survival.enabled`` and an event-time definition also
        ``event_period`` and ``periods_observed`` (:func:`churn_periods`).
        How many rows each status removed is logged.
    """
    cfg = load_config(config)
    tables = load_tables(tables, cfg)
    churn = churn or cfg.labels.churn
    survival = cfg.survival.enabled and churn.EVENT is not None
    if censored and not survival:
        raise ValueError(f"censored training needs survival.enabled and a churn definition with an event time, not {churn.kind}")
    labels = churn_labels(tables, as_of, churn, cfg)
    counts = labels.status.value_counts()
    logger.info("snapshot rows by label status: %s", counts.to_dict())
    kept = ["eligible", "incomplete"] if censored else ["eligible"]
    keep = labels[labels.status.isin(kept)][["customer_id", "as_of", "churned"]]
    if keep.empty:
        raise ValueError(
            f"no eligible snapshot with a complete label (statuses: {counts.to_dict()}); "
            "choose earlier as_of dates or a shorter horizon"
        )
    dates = sorted(keep.as_of.unique())
    panel = build_indicators(tables, dates, cfg)
    frame = panel.merge(keep, on=["customer_id", "as_of"], how="inner", validate="one_to_one")
    frame["churned"] = frame.churned.astype("float64" if censored else "int64")
    if survival:
        periods = churn_periods(tables, dates, churn, cfg)
        frame = frame.merge(periods, on=["customer_id", "as_of"], how="left", validate="one_to_one")
        if censored:  # a snapshot must have seen one period to teach the hazards anything
            frame = frame[frame.periods_observed > 0].reset_index(drop=True)
    return frame


@dataclass(frozen=True)
class TimeSplit:
    """Snapshot dates of the train, calibration and out-of-time test slices (each sorted)."""

    train: tuple[pd.Timestamp, ...]
    calibration: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]

    def slice(self, frame: pd.DataFrame, part: str) -> pd.DataFrame:
        """Rows of ``frame`` whose as_of belongs to ``part`` (``train``, ``calibration`` or ``test``)."""
        return frame[frame.as_of.isin(getattr(self, part))]


def time_split(dates: Sequence[pd.Timestamp], settings: ModelSettings) -> TimeSplit:
    """Split snapshot dates in time: train < calibration < test.

    Raises
    ------
    ValueError
        With fewer dates than one train, ``calibration_snapshots`` and
        ``test_snapshots`` dates.

    Examples
    --------
    >>> s = time_split(pd.date_range("2024-01-01", periods=6, freq="MS"), ModelSettings())
    >>> [len(s.train), len(s.calibration), len(s.test)]
    [3, 2, 1]
    """
    dates = sorted(pd.Timestamp(d) for d in set(dates))
    n_cal, n_test = settings.calibration_snapshots, settings.test_snapshots
    if len(dates) < n_cal + n_test + 1:
        raise ValueError(
            f"a time-ordered split needs at least {n_cal + n_test + 1} snapshot dates (train, then "
            f"{n_cal} calibration, then {n_test} test), got {len(dates)}: {[str(d.date()) for d in dates]}. "
            "Give more as_of dates, or lower model.calibration_snapshots / model.test_snapshots."
        )
    cut = len(dates) - n_test
    return TimeSplit(tuple(dates[: cut - n_cal]), tuple(dates[cut - n_cal : cut]), tuple(dates[cut:]))
