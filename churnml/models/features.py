"""The model's input columns: fixed at training time, applied to any indicator rows at scoring time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.indicators.registry import REGISTRY

__all__ = ["FeatureSchema", "MissingInputsError"]

logger = logging.getLogger(__name__)


class MissingInputsError(ValueError):
    """Scoring inputs lack indicators the model was trained with (a table left out, a misspelt column)."""

    def __init__(self, absent: list[str], columns):
        self.absent = absent
        super().__init__(
            f"the model needs {len(absent)} indicator(s) these inputs lack: {describe_absent(absent, columns)}. Give those "
            "tables (or fix the column names), or pass allow_missing=True (churnml score --allow-missing) to score "
            "with them treated as missing; each row then names them in missing_inputs"
        )


def describe_absent(absent: list[str], columns) -> str:
    """``complaints_3m, csat_3m (tables surveys, tickets)``: the absent indicators and the tables they need that ``columns`` show no sign of.

    A table some present indicator reads is there: its absent ones are misspelt or left out, not a missing table.
    """
    present = {t for c in columns if c in REGISTRY for t in REGISTRY[c].tables}
    tables = sorted({t for c in absent if c in REGISTRY for t in (*REGISTRY[c].tables, *REGISTRY[c].any_of)} - present)
    return ", ".join(absent) + (f" (tables {', '.join(tables)})" if tables else "")


@dataclass
class FeatureSchema:
    """The model's input columns, fixed at training time.

    At scoring time, absent columns become NaN (LightGBM treats them as
    missing; scoring refuses them unless allowed, :meth:`check`), extra
    columns are ignored, and unseen category values become missing; each
    case is logged once per call.
    """

    numeric: list[str]
    categorical: dict[str, list[str]]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> FeatureSchema:
        """Take every indicator column of ``frame``; drop all-missing ones (logged)."""
        columns = [c for c in frame.columns if c in REGISTRY]
        empty = [c for c in columns if frame[c].isna().all()]
        if empty:
            logger.warning("dropping %d indicator(s) with no value in the training slice: %s", len(empty), empty)
        usable = [c for c in columns if c not in empty]
        if not usable:
            raise ValueError(f"no indicator has any value in the training slice (columns: {list(frame.columns)})")
        categorical = {c: sorted(frame[c].dropna().astype(str).unique()) for c in usable if REGISTRY[c].kind == "categorical"}
        return cls([c for c in usable if c not in categorical], categorical)

    @property
    def columns(self) -> list[str]:
        return self.numeric + list(self.categorical)

    def check(self, columns, allow_missing: bool = False) -> list[str]:
        """The model's columns absent from ``columns``; a :class:`MissingInputsError` unless ``allow_missing``.

        Scoring with fewer tables than training silently shifts every
        probability (level 1 went from 256 to 929 customers without tickets
        and surveys), so it takes an explicit opt-in.
        """
        present = set(columns)
        absent = [c for c in self.columns if c not in present]
        if absent and not allow_missing:
            raise MissingInputsError(absent, columns)
        return absent

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix for ``frame`` (same row order and index)."""
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            logger.warning("scoring without %d indicator(s), treated as missing: %s", len(absent), absent)
        # one float block built in numpy: column by column, pandas spent ~50 ms on a single row (the scoring request's budget)
        matrix = np.full((len(frame), len(self.numeric)), np.nan)
        position = {c: j for j, c in enumerate(self.numeric)}
        ready = [c for c in self.numeric if c in frame and pd.api.types.is_numeric_dtype(frame[c])]
        if ready:
            matrix[:, [position[c] for c in ready]] = frame[ready].to_numpy(dtype="float64", na_value=np.nan)
        for c in set(self.numeric).difference(ready).intersection(frame.columns):  # text, objects: parsed, else missing
            matrix[:, position[c]] = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        out = pd.DataFrame(matrix, index=frame.index, columns=self.numeric)
        for c, known in self.categorical.items():
            values = frame[c].astype("string") if c in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
            unseen = sorted(set(values.dropna().unique()) - set(known))
            if unseen:
                logger.warning("%s: %d value(s) unseen in training treated as missing: %s", c, len(unseen), unseen[:10])
            out[c] = pd.Categorical(values.where(values.isin(known)), categories=known)
        return out
