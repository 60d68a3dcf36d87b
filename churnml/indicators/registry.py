"""The indicator registry: one small declaration per indicator.

Each indicator is a formula over the window context
(:class:`~churnml.indicators.context.WindowContext`) registered with
:func:`indicator`: its category, source tables, default churn cause, what it
measures (the formula's docstring), when it is missing, the settings it
reads and its reason template (in the message catalogs). The category
modules of this package declare them; :data:`REGISTRY` holds them in
declaration order, which is the order of the indicator panel's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis.expr.types as ir
import pandas as pd

from churnml.constants import CATEGORIES, CAUSES
from churnml.messages import catalog

if TYPE_CHECKING:
    from churnml.indicators.context import WindowContext

__all__ = ["REGISTRY", "Indicator", "indicator", "indicators_markdown", "list_indicators"]

Formula = Callable[["WindowContext"], ir.Value]


@dataclass(frozen=True)
class Indicator:
    """One indicator: what it measures, where from, and how to explain it.

    Attributes
    ----------
    name, category : str
        Column name in the output; one of :data:`CATEGORIES`.
    tables : tuple of str
        Source tables, all required for the indicator to be computed.
    cause : str or None
        Default churn cause (``price``, ``service``, ``needs_change``);
        None for profile fields. The cause map in config may override it.
    description : str
        What it measures.
    missing : str
        When the value is NaN.
    params : tuple of str
        IndicatorSettings fields it uses.
    higher_is_riskier : bool or None
        Direction of risk, for rules and reason wording.
    kind : str
        ``numeric`` (float64) or ``categorical`` (string).
    any_of : tuple of str
        Source tables of which at least one is required besides ``tables``
        (the formula reads those present); empty: none.
    """

    name: str
    category: str
    tables: tuple[str, ...]
    cause: str | None
    description: str
    missing: str
    params: tuple[str, ...]
    higher_is_riskier: bool | None
    compute: Callable[[WindowContext], ir.Value]
    kind: str = "numeric"
    any_of: tuple[str, ...] = ()

    def reason(self, language: str = "en") -> str:
        """Plain-language template from the message catalog, filled with the customer's row:
        ``reason().format(**row)`` (any indicator column may be referenced)."""
        return catalog(language)[f"reason.{self.name}"]


REGISTRY: dict[str, Indicator] = {}


def indicator(
    name: str,
    category: str,
    tables: Sequence[str],
    cause: str | None,
    missing: str,
    *,
    params: Sequence[str] = (),
    higher_is_riskier: bool | None = True,
    kind: str = "numeric",
    any_of: Sequence[str] = (),
) -> Callable[[Formula], Formula]:
    """Register an indicator; the decorated function's docstring is its description.

    ``tables`` must all be present; of ``any_of``, at least one.
    """
    assert category in CATEGORIES and (cause is None or cause in CAUSES), name

    def register(fn: Formula) -> Formula:
        REGISTRY[name] = Indicator(
            name, category, tuple(tables), cause, (fn.__doc__ or "").strip(), missing, tuple(params),
            higher_is_riskier, fn, kind, tuple(any_of),
        )
        return fn

    return register


def list_indicators() -> pd.DataFrame:
    """The indicator registry as a table (name, category, tables, cause, description, ...)."""
    return pd.DataFrame(
        [
            {
                "name": i.name,
                "category": i.category,
                "tables": _tables(i),
                "cause": i.cause,
                "description": i.description,
                "reason": i.reason(),
                "missing": i.missing,
                "params": ", ".join(i.params),
            }
            for i in REGISTRY.values()
        ]
    )


def indicators_markdown() -> str:
    """The registry as a Markdown table (used by the README; a test keeps them equal)."""
    lines = ["| indicator | category | tables | default cause | what it measures | missing when |", "|---|---|---|---|---|---|"]
    for i in REGISTRY.values():
        lines.append(f"| `{i.name}` | {i.category} | {_tables(i)} | {i.cause or '-'} | {i.description} | {i.missing} |")
    return "\n".join(lines)


def _tables(i: Indicator) -> str:
    """The tables an indicator reads, as the docs show them: ``invoices, orders``; ``orders or contracts``."""
    return ", ".join([*i.tables, " or ".join(i.any_of)] if i.any_of else i.tables)
