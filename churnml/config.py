"""Typed configuration, validated on load.

The embedded defaults are the field defaults below; ``configs/default.yaml``
spells them out (a test keeps the two equal). Unknown keys and wrong types are
errors that name the key; all problems of a file are reported at once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "Config",
    "ConfigError",
    "ChurnDefinition",
    "Contractual",
    "Drop",
    "Inactivity",
    "IndicatorSettings",
    "LabelSettings",
    "TableSource",
    "ValidationSettings",
    "load_config",
]

logger = logging.getLogger(__name__)

Action = Literal["error", "warn", "drop"]


class ConfigError(ValueError):
    """A configuration file or object is invalid; the message lists every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TableSource(_Strict):
    """Where one canonical table comes from and how its columns are named.

    Attributes
    ----------
    source : str or None
        File stem (``sales`` for ``sales.parquet``/``sales.csv``/``sales/``) or
        table name in an Ibis connection. Default: the canonical table name.
    columns : dict
        Canonical column name -> the user's column name, e.g.
        ``{"order_date": "OrderDate", "amount": "Revenue"}``.
    values : dict
        Canonical column name -> {user's value: canonical value}, e.g.
        ``{"category": {"Beschwerde": "complaint"}}``.
    """

    source: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)


class ValidationSettings(_Strict):
    """What to do when a data check fails.

    ``error`` stops with a message naming table, column and values; ``warn``
    keeps the rows (an unparseable value becomes null) and reports a count;
    ``drop`` excludes the offending rows and reports how many. A missing
    required column is always an error.
    """

    unparseable: Action = "error"
    null_value: Action = "error"
    negative_value: Action = "error"
    duplicate_key: Action = "error"
    unknown_customer: Action = "error"
    date_order: Action = "error"
    unknown_value: Action = "warn"


class IndicatorSettings(_Strict):
    """Windows and thresholds of the indicator engine (the documents' defaults).

    All windows are calendar months before the as_of date (strictly before).
    """

    recent_months: int = Field(3, ge=1, le=12, description="recent window: the last N months")
    history_months: int = Field(12, ge=2, le=36, description="history window: the N months before the recent one")
    min_history_months: int = Field(3, ge=1, description="fewer observed history months -> NaN, not a fake ratio")
    streak_months: int = Field(6, ge=2, le=12, description="how far back streaks are counted")
    decline_share: float = Field(0.10, gt=0, lt=1, description="month-over-month drop that counts as a decline (10 %)")
    below_history_share: float = Field(0.7, gt=0, lt=1, description="'below Y% of own history' for streaks")
    response_standard_hours: dict[str, float] = Field(
        default_factory=lambda: {"complaint": 24.0, "technical": 24.0, "consultation": 2.0, "price": 2.0, "other": 24.0},
        description="first-response standard per ticket category (simple 2 h, complex 24 h)",
    )
    low_csat: float = Field(2.0, description="a CSAT score at or below this is low (1-5 scale)")
    low_nps: float = Field(6.0, description="an NPS score at or below this is a detractor (0-10 scale)")
    contact_change_months: int = Field(6, ge=1, description="window for key-contact changes")
    key_roles: list[str] = Field(default_factory=lambda: ["key", "decision_maker"], description="contact roles that count as key")
    market_months: int = Field(3, ge=1, description="window for market events of the customer's industry")
    only: list[str] | None = Field(None, description="compute only these indicators (default: all whose tables are present)")

    @field_validator("only")
    @classmethod
    def _known_indicators(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        from churnml.indicators import REGISTRY  # local: indicators imports config

        unknown = sorted(set(value) - set(REGISTRY))
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown}; see churnml.list_indicators()")
        return value


PRESETS = {"fmcg": 90, "default": 180, "durable": 365}


class _Definition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Inactivity(_Definition):
    """Time-based churn: the customer stops within ``within_days`` after as_of, then stays silent ``days`` days.

    ``days`` is the documents' inactivity period (default 180; presets in
    :data:`PRESETS`); ``within_days`` is the prediction horizon (default 90,
    the 2-3 month hesitation window). The label reads
    ``[as_of, as_of + within_days + days)``.
    """

    kind: Literal["inactivity"] = "inactivity"
    days: int = Field(180, ge=7)
    within_days: int = Field(90, ge=7)

    @classmethod
    def preset(cls, industry: str, within_days: int = 90) -> Inactivity:
        """``fmcg`` 90 days, ``default`` 180, ``durable`` 365."""
        if industry not in PRESETS:
            raise ValueError(f"unknown preset {industry!r}; choose one of {sorted(PRESETS)} or give days")
        return cls(days=PRESETS[industry], within_days=within_days)

    @property
    def horizon_days(self) -> int:
        """Days after as_of the label reads."""
        return self.within_days + self.days


class Drop(_Definition):
    """Spend in the next ``window_days`` below ``share`` x spend in the previous ``window_days``."""

    kind: Literal["drop"] = "drop"
    share: float = Field(0.3, gt=0, lt=1)
    window_days: int = Field(90, ge=7)

    @property
    def horizon_days(self) -> int:
        return self.window_days


class Contractual(_Definition):
    """An active contract at D and none at D + ``horizon_days`` (cancellation or non-renewal)."""

    kind: Literal["contract"] = "contract"
    horizon_days: int = Field(90, ge=7)


ChurnDefinition = Annotated[Inactivity | Drop | Contractual, Field(discriminator="kind")]

class LabelSettings(_Strict):
    """Which churn definition labels the training data, and who is eligible."""

    churn: ChurnDefinition = Field(default_factory=Inactivity)
    min_tenure_days: int = Field(90, ge=0, description="customers younger than this at as_of are not labelled")


class Config(_Strict):
    """churnml configuration (the root of ``configs/*.yaml``)."""

    tables: dict[str, TableSource] = Field(default_factory=dict)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    indicators: IndicatorSettings = Field(default_factory=IndicatorSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)

    @field_validator("tables")
    @classmethod
    def _known_tables_and_columns(cls, value: dict[str, TableSource]) -> dict[str, TableSource]:
        from churnml.tables import SCHEMA  # local: tables imports config

        problems = []
        for name, source in value.items():
            if name not in SCHEMA:
                problems.append(f"unknown table {name!r}; known tables: {sorted(SCHEMA)}")
                continue
            known = SCHEMA[name].column_names
            for canonical in [*source.columns, *source.values]:
                if canonical not in known:
                    problems.append(
                        f"tables.{name}: unknown canonical column {canonical!r}; "
                        f"columns of {name}: {list(known)}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def to_yaml(self) -> str:
        """Return the full configuration, defaults included, as YAML."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def load_config(source: str | Path | dict | Config | None = None) -> Config:
    """Load and validate a configuration.

    Parameters
    ----------
    source : path, dict, Config or None
        A YAML file, an already parsed mapping, a ``Config`` (returned as is)
        or None for the embedded defaults.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Listing every invalid or unknown key with its location.

    Examples
    --------
    >>> load_config({"validation": {"null_value": "drop"}}).validation.null_value
    'drop'
    """
    if source is None:
        return Config()
    if isinstance(source, Config):
        return source
    where = "configuration"
    if isinstance(source, (str, Path)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"configuration file {where} does not exist")
        try:
            source = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(source, dict):
        raise ConfigError(f"{where} must be a mapping at the top level, got {type(source).__name__}")
    try:
        return Config.model_validate(source)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "<root>"
            got = f" (got {err['input']!r})" if err["type"] != "extra_forbidden" else ""
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  - {key}: {message}{got}")
        raise ConfigError(f"{where} has {len(lines)} problem(s):\n" + "\n".join(lines)) from None
