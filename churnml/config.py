"""Typed configuration, validated on load.

The embedded defaults are the field defaults below; ``configs/default.yaml``
spells them out (a test keeps the two equal). Unknown keys and wrong types are
errors that name the key; all problems of a file are reported at once.
"""

from __future__ import annotations

import codecs
import logging
from pathlib import Path
from typing import Annotated, ClassVar, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from churnml.constants import CAUSES
from churnml.data.schema import SCHEMA
from churnml.indicators import REGISTRY
from churnml.messages import Language

__all__ = [
    "Config",
    "ConfigError",
    "ChurnDefinition",
    "Contractual",
    "Drop",
    "Inactivity",
    "IndicatorSettings",
    "LabelSettings",
    "LevelSettings",
    "LightGBMSettings",
    "ModelSettings",
    "ProfitAction",
    "CauseSettings",
    "Playbook",
    "Rule",
    "ScorecardSettings",
    "SurvivalSettings",
    "RetrainSettings",
    "TableSource",
    "TrackingSettings",
    "ValidationSettings",
    "load_config",
]

logger = logging.getLogger(__name__)

Action = Literal["error", "warn", "drop"]


class ConfigError(ValueError):
    """A configuration file or object is invalid; the message lists every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


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
    encoding : str
        Text encoding of a CSV file, e.g. ``gb18030`` for an export from a
        Chinese Excel; any name Python's codecs know.
    """

    source: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}; e.g. utf-8, gb18030, utf-16, latin-1") from None
        return value


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
    out_of_range: Action = "error"
    future_date: Action = "error"
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
    min_history_months: int = Field(
        1, ge=1, description="observed history months a ratio to history (and a streak's reference) needs; fewer -> NaN. "
        "A young base uses the history it has: the months_observed indicator tells the model how many months that is"
    )
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
    chunk_customers: int = Field(
        100_000, ge=1, description="build_indicators computes this many customers at a time (consecutive customer_id ranges): memory stays bounded"
    )

    @field_validator("only")
    @classmethod
    def _known_indicators(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        unknown = sorted(set(value) - set(REGISTRY))
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown}; see churnml.list_indicators()")
        return value


PRESETS = {"fmcg": 90, "default": 180, "durable": 365}


class _Definition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # what the survival model counts periods until: the churn itself, the next purchase
    # (churn within k periods is then its absence), or None when the churn has no moment in time
    EVENT: ClassVar[Literal["churn", "purchase"] | None] = "churn"


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

    EVENT: ClassVar[None] = None

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


class NoPurchase(_Definition):
    """No order in ``[D, D + horizon_days)``; with ``activity: any``, no activity of any kind.

    Every customer with an earlier order (or activity) is eligible, the long
    lapsed too, so the probability answers the question a retailer asks of
    the whole base: will this customer buy again within H days?
    """

    EVENT: ClassVar[Literal["purchase"]] = "purchase"

    kind: Literal["no_purchase"] = "no_purchase"
    horizon_days: int = Field(90, ge=1, le=366)
    activity: Literal["orders", "any"] = Field("orders", description="what counts as a purchase: orders only, or any customer activity")


ChurnDefinition = Annotated[Inactivity | Drop | Contractual | NoPurchase, Field(discriminator="kind")]

class LabelSettings(_Strict):
    """Which churn definition labels the training data, and who is eligible."""

    churn: ChurnDefinition = Field(default_factory=Inactivity)
    min_tenure_days: int = Field(90, ge=0, description="customers younger than this at as_of are not labelled")
    exclude_contacted: bool = Field(
        True,
        description="snapshots whose label window holds a retention action (interventions.handled_at, "
        "control group excepted) get the status 'contacted' and are not trained on",
    )


SCORECARD_CATEGORIES = ("activity", "consumption", "interaction", "risk", "relationship")


class Rule(_Strict):
    """One scorecard rule: deduct ``points`` when ``indicator op threshold`` holds.

    A missing indicator value (no history, table absent) never fires a rule.
    """

    name: str
    indicator: str
    op: Literal["<", "<=", ">", ">="]
    threshold: float
    points: float = Field(gt=0)
    category: Literal["activity", "consumption", "interaction", "risk", "relationship"]

    @field_validator("indicator")
    @classmethod
    def _known_indicator(cls, value: str) -> str:
        if value not in REGISTRY or REGISTRY[value].kind != "numeric":
            raise ValueError(f"unknown numeric indicator {value!r}; see churnml.list_indicators()")
        return value


# The documents' warning signs (domain.md section 2): name, indicator, op, threshold, points, category.
DEFAULT_RULES = (
    ("logins_fell", "login_ratio", "<", 0.5, 10, "activity"),
    ("usage_narrowed", "usage_breadth_ratio", "<", 0.7, 5, "activity"),
    ("fewer_questions", "consultations_ratio", "<", 0.5, 5, "activity"),
    ("silent_60_days", "days_since_last_activity", ">", 60, 10, "activity"),
    ("silent_120_days", "days_since_last_activity", ">", 120, 10, "activity"),
    ("amount_down_2_months", "amount_decline_streak", ">=", 2, 10, "consumption"),
    ("amount_below_history_3_months", "months_below_history_amount", ">=", 3, 10, "consumption"),
    ("orders_below_history_3_months", "months_below_history_orders", ">=", 3, 10, "consumption"),
    ("payment_cycle_doubled", "payment_days_ratio", ">=", 2, 10, "consumption"),
    ("arrears_over_30_days", "overdue_days_mean", ">", 30, 5, "consumption"),
    ("arrears_over_half_an_order", "overdue_amount_to_avg_order", ">", 0.5, 5, "consumption"),
    ("reply_rate_fell", "reply_rate_change", "<=", -0.3, 10, "interaction"),
    ("stopped_attending_events", "event_attendance_change", "<=", -0.5, 5, "interaction"),
    ("stopped_giving_feedback", "feedback_change", "<=", -0.3, 5, "interaction"),
    ("no_contact_for_a_quarter", "days_since_account_contact", ">", 90, 5, "interaction"),
    ("complaints_above_history", "months_above_history_complaints", ">=", 2, 10, "risk"),
    ("many_complaints", "complaints_3m", ">=", 3, 5, "risk"),
    ("mentions_competitors", "competitor_mentions_3m", ">=", 1, 10, "risk"),
    ("asks_for_lower_prices", "price_tickets_3m", ">=", 1, 5, "risk"),
    ("low_satisfaction", "low_scores_3m", ">=", 2, 5, "risk"),
    ("slow_responses", "response_over_standard_3m", ">=", 0.5, 5, "risk"),
    ("key_contact_left", "key_contact_changes_6m", ">=", 1, 10, "relationship"),
    ("no_executive_contact_3_months", "months_since_executive_contact", ">=", 3, 10, "relationship"),
)


def _default_rules() -> list[Rule]:
    fields = ("name", "indicator", "op", "threshold", "points", "category")
    return [Rule(**dict(zip(fields, row, strict=True))) for row in DEFAULT_RULES]


class ScorecardSettings(_Strict):
    """The documents' health score: start at 100, deduct points per fired rule.

    A category never deducts more than its weight, so the score stays in
    0-100 (the weights must sum to 100).
    """

    category_weights: dict[str, float] = Field(
        default_factory=lambda: {"activity": 20.0, "consumption": 30.0, "interaction": 15.0, "risk": 20.0, "relationship": 15.0},
        description="points each of the five categories can deduct at most",
    )
    rules: list[Rule] = Field(default_factory=_default_rules)

    @field_validator("category_weights")
    @classmethod
    def _five_categories_summing_to_100(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != set(SCORECARD_CATEGORIES):
            raise ValueError(f"need a weight for exactly these categories: {list(SCORECARD_CATEGORIES)}, got {sorted(value)}")
        if any(w < 0 for w in value.values()) or abs(sum(value.values()) - 100) > 1e-9:
            raise ValueError(f"weights must be non-negative and sum to 100, got {value}")
        return value

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, value: list[Rule]) -> list[Rule]:
        names = [r.name for r in value]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique: {sorted({n for n in names if names.count(n) > 1})}")
        return value


class LightGBMSettings(_Strict):
    """LightGBM hyper-parameters (sklearn API names); early stopping on the calibration slice."""

    n_estimators: int = Field(2000, ge=1, description="upper bound; early stopping picks the number")
    learning_rate: float = Field(0.03, gt=0, le=1)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(100, ge=1)
    class_weight: Literal["balanced"] | None = Field(
        "balanced", description="weight churners up to the non-churners' total; calibration restores probabilities"
    )
    n_jobs: int = Field(
        1,
        ge=1,
        description="LightGBM threads for fitting and prediction. 1: on churn frames (tens of features, up to a million rows) "
        "more threads bought little and, on a busy machine, made a fit up to 30x slower (benchmarks/RESULTS.md)",
    )


class ProfitAction(_Strict):
    """A level's retention action for the profit strategy: what it costs and how often it works."""

    cost: float = Field(ge=0)
    success_rate: float = Field(gt=0, le=1)


class LevelSettings(_Strict):
    """How health scores become warning levels 1 (highest risk), 2, 3, or 0 (no warning).

    ``fixed``: the documents' cut-offs on the health score. ``precision``:
    on the calibration slice, each level reaches as deep as its target
    precision allows. ``capacity``: the cut-offs that give each level about
    ``capacity`` customers per snapshot on the calibration slice. ``profit``:
    each customer gets the level whose action has the largest expected profit
    ``p x success_rate x value - cost`` (no warning when none is positive),
    with ``value`` the value if kept (``clv + value_at_risk``, :mod:`churnml.scoring.value`) x ``margin``.
    """

    strategy: Literal["fixed", "precision", "capacity", "profit"] = "fixed"
    level1_below: float = Field(50.0, ge=0, le=100, description="health below this: level 1, high churn risk")
    level2_below: float = Field(70.0, ge=0, le=100, description="health below this: level 2, warning")
    level3_below: float = Field(80.0, ge=0, le=100, description="health below this: level 3, watch band")
    target_precision: list[float] = Field(default_factory=lambda: [0.7, 0.5, 0.3], min_length=3, max_length=3)
    capacity: list[int] = Field(default_factory=lambda: [50, 100, 200], min_length=3, max_length=3)
    actions: list[ProfitAction] = Field(
        default_factory=lambda: [
            ProfitAction(cost=500.0, success_rate=0.4),
            ProfitAction(cost=100.0, success_rate=0.25),
            ProfitAction(cost=10.0, success_rate=0.1),
        ],
        min_length=3,
        max_length=3,
    )
    margin: float = Field(0.3, gt=0, le=1, description="share of spend that is profit")

    @model_validator(mode="after")
    def _ordered(self) -> LevelSettings:
        cuts = (self.level1_below, self.level2_below, self.level3_below)
        if list(cuts) != sorted(cuts):
            raise ValueError(f"cut-offs must satisfy level1_below <= level2_below <= level3_below, got {cuts}")
        return self

    @field_validator("target_precision")
    @classmethod
    def _decreasing_targets(cls, value: list[float]) -> list[float]:
        if not all(0 < v <= 1 for v in value) or sorted(value, reverse=True) != value:
            raise ValueError(f"targets must be in (0, 1] and non-increasing from level 1 to 3, got {value}")
        return value


class ModelSettings(_Strict):
    """Which estimator, how snapshots are split in time, and how outputs are calibrated.

    The latest ``test_snapshots`` as_of dates are the out-of-time test slice,
    the ``calibration_snapshots`` before them early-stop LightGBM and fit the
    calibrator, all earlier ones train. With ``training: censored`` (or
    ``auto`` with ``no_purchase`` or ``contract``, or on a history shorter than the split
    needs with the whole horizon observed) the snapshots run up to one survival period before the
    data end and the hazard model is the model (:mod:`churnml.models.survival`). ``calibration: auto`` picks isotonic
    regression when the calibration slice has at least
    ``isotonic_min_rows`` rows and ``isotonic_min_positives`` churners, and
    Platt's sigmoid otherwise (isotonic overfits small samples).
    """

    estimator: Literal["lightgbm", "scorecard"] = "lightgbm"
    candidates: list[Literal["survival", "rfm_logistic", "bgnbd", "pareto_nbd"]] = Field(
        default_factory=lambda: ["survival", "rfm_logistic", "bgnbd", "pareto_nbd"],
        description="models that replace the LightGBM classifier when they rank the calibration slice better (empty: never)",
    )
    training: Literal["auto", "labelled", "censored"] = Field(
        "auto",
        description="labelled: snapshots whose whole horizon is in the data, the classifier and the candidates; "
        "censored: also later snapshots, each observed as far as the data go, and the hazard model alone composes the horizon; "
        "auto: censored for no_purchase and contract (measured, benchmarks/QUALITY.md); otherwise labelled when the data hold "
        "enough such snapshots for the time split, else censored",
    )
    seed: int = 0
    test_snapshots: int = Field(1, ge=1)
    calibration_snapshots: int = Field(2, ge=1)
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    isotonic_min_rows: int = Field(1000, ge=1)
    isotonic_min_positives: int = Field(100, ge=1)
    min_positives: int = Field(20, ge=1, description="fewer churners in the train or calibration slice is an error")
    lightgbm: LightGBMSettings = Field(default_factory=LightGBMSettings)


Cause = Literal[CAUSES]
CauseName = Literal[(*CAUSES, "none")]
Department = Literal["sales", "customer_service", "product", "finance"]


def _registry_causes() -> dict[str, str]:
    return {name: ind.cause or "none" for name, ind in REGISTRY.items()}


class Playbook(_Strict):
    """The retention action for one churn cause and the department that acts.

    ``action`` is your own text, shown as written in every language; left
    empty, the documents' action comes from the message catalog
    (``playbook.<cause>`` in ``churnml/locale/<language>.yaml``).
    """

    action: str | None = None
    owner: Department


def _default_playbook() -> dict[str, Playbook]:
    return {
        "price": Playbook(owner="sales"),
        "service": Playbook(owner="customer_service"),
        "needs_change": Playbook(owner="product"),
    }


class CauseSettings(_Strict):
    """How warnings are attributed to churn causes and turned into actions.

    ``indicator_causes`` maps every indicator to ``price``, ``service``,
    ``needs_change`` or ``none`` (profile fields: never a cause); a map that
    names an unknown indicator or leaves one out is an error at load.
    """

    indicator_causes: dict[str, CauseName] = Field(default_factory=_registry_causes)
    playbook: dict[Cause, Playbook] = Field(default_factory=_default_playbook)
    high_value_action: str | None = Field(
        None,
        description="added to the action of high-value customers, whatever the cause (empty: the catalog's playbook.high_value)",
    )
    owner_by_indicator: dict[str, Department] = Field(
        default_factory=lambda: {
            name: "finance"
            for name in ("payment_days_3m", "payment_days_ratio", "overdue_invoices", "overdue_days_mean", "overdue_amount_to_avg_order")
        },
        description="when a warning's top driver is one of these indicators, this department acts (arrears -> finance)",
    )
    explain: Literal["warned", "all"] = Field("warned", description="which scored customers get causes and reasons")
    top_indicators: int = Field(3, ge=1, le=10, description="driving indicators (and reasons) per customer")
    value_tiers: tuple[float, float] = Field(
        (0.2, 0.5), strict=False, description="top shares of customers by value if kept (clv + value_at_risk) that are high value, and high or medium value"
    )
    loyal_health: float = Field(70.0, ge=0, le=100, description="health at or above this counts as loyal (value x loyalty quadrant)")
    min_peers: int = Field(20, ge=1, description="smallest industry or segment group used as 'comparable customers'")

    @field_validator("indicator_causes", mode="before")
    @classmethod
    def _complete_map(cls, value: dict[str, str]) -> dict[str, str]:
        if not isinstance(value, dict):
            return value  # the type check names it
        # before the type check, so that a bad cause and an unknown indicator are reported together
        unknown = sorted(set(value) - set(REGISTRY))
        unmapped = sorted(set(REGISTRY) - set(value))
        causes = get_args(CauseName)
        wrong = {k: v for k, v in value.items() if v not in causes}
        problems = []
        if unknown:
            problems.append(f"names unknown indicator(s) {unknown}")
        if wrong:
            problems.append(f"maps {wrong} to no cause (use {', '.join(causes)})")
        if unmapped:
            problems.append(f"leaves indicator(s) {unmapped} unmapped (map them to price, service, needs_change or none)")
        if problems:
            raise ValueError("the cause map " + " and ".join(problems))
        return value

    @field_validator("owner_by_indicator")
    @classmethod
    def _known_owner_indicators(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(REGISTRY))
        if unknown:
            raise ValueError(f"unknown indicator(s) {unknown}; see churnml.list_indicators()")
        return value

    @field_validator("value_tiers")
    @classmethod
    def _nested_tiers(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] <= 1:
            raise ValueError(f"value_tiers must satisfy 0 < high <= high_or_medium <= 1, got {list(value)}")
        return value

    @field_validator("playbook")
    @classmethod
    def _every_cause(cls, value: dict[str, Playbook]) -> dict[str, Playbook]:
        missing = sorted(set(CAUSES) - set(value))
        if missing:
            raise ValueError(f"the playbook needs an entry for every cause; missing {missing}")
        return value


class TrackingSettings(_Strict):
    """Where training runs and models are recorded (MLflow).

    ``uri`` and ``experiment`` default to the environment
    (``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``) and then to a local
    SQLite store ``sqlite:///mlflow.db`` in the working directory and the
    experiment ``churnml``.
    """

    enabled: bool = Field(True, description="log every fit to MLflow")
    uri: str | None = Field(None, description="tracking URI, e.g. http://mlflow.internal:5000")
    experiment: str | None = Field(None, description="experiment name")
    registered_model: str = Field("churnml", description="registry name; each fit registers a new version")
    register_model: bool = Field(True, description="register the model; new versions get the alias 'challenger'")
    first_version_champion: bool = Field(
        True, description="the first version of a name also becomes 'champion' (the retrain job promotes by its own rule)"
    )


class ServingSettings(_Strict):
    """Scoring requests over REST (the MLflow model server)."""

    max_rows: int = Field(10_000, ge=1, description="rows in one request; more get HTTP 413 (memory and explanation time grow with them)")


class RetrainSettings(_Strict):
    """The scheduled retraining job: when a challenger replaces the champion, and where warnings go."""

    primary_metric: Literal["auc_roc", "pr_auc", "lift_top10"] = Field("auc_roc", description="compared on the same test slice")
    tolerance: float = Field(0.01, ge=0, description="the challenger may be this much worse on the primary metric")
    max_ece: float = Field(0.05, gt=0, description="a challenger with a larger calibration error is never promoted")
    min_auc: float = Field(0.6, ge=0.5, le=1, description="the first model is promoted only above this AUC")
    output_dir: str = Field("warnings", description="warning lists (Parquet and CSV) and the lock file")
    tables: str | None = Field(None, description="directory of raw tables the job reads (or --tables)")


class KpiSettings(_Strict):
    """How the retention programme is measured (``churnml kpis``) and its random control group."""

    handle_within_days: list[int] = Field(
        default_factory=lambda: [2, 7, 14], min_length=3, max_length=3,
        description="agreed handling time in days for warning levels 1, 2, 3",
    )
    return_days: int = Field(30, ge=1, description="an order within this many days after the action counts as a return")
    control_share: float = Field(
        0.0, ge=0, lt=1, description="share of warned customers drawn at random into an untouched control group (0 = none)"
    )
    control_seed: int = Field(0, description="seed of the control-group draw (stable per customer and as_of)")


class ClvSettings(_Strict):
    """Customer lifetime value (:mod:`churnml.scoring.value`): expected spend over a horizon, discounted."""

    horizon_months: int = Field(12, ge=1, le=120, description="months of future spend the CLV counts")
    discount_rate: float = Field(0.01, ge=0, lt=1, description="monthly discount rate (0.01: about 12.7% a year)")
    prior_months: float = Field(
        0.0, ge=0,
        description="the spend model weighs the population's average monthly spend like this many months of the customer's own "
        "(0: the customer's own average, the most accurate in benchmarks/QUALITY.md)",
    )


class WinbackSettings(_Strict):
    """Who the win-back list holds (:func:`churnml.winback`)."""

    lookback_months: int | None = Field(
        None, ge=1, description="only customers lost (last activity) in the last N months; none: every lapsed customer"
    )


class SurvivalSettings(_Strict):
    """Churn risk over time: a discrete-time hazard model, a candidate for the main one (:mod:`churnml.models.survival`).

    Time after as_of is cut into periods of ``period_days``; the model
    learns the chance of churning in each period given the customer is
    still active, and ``score`` returns ``p_churn_<h>d`` for each horizon,
    the survival curve over ``periods`` periods and the expected active
    periods. Needs a churn definition with an event time (inactivity or
    contractual); with ``drop`` it is skipped.
    """

    enabled: bool = Field(True, description="fit the hazard model with every ChurnModel")
    period_days: int = Field(30, ge=7, le=366, description="length of one period of the survival curve")
    periods: int = Field(12, ge=1, le=36, description="periods ahead in the survival curve")
    horizons_days: list[int] = Field(default_factory=lambda: [30, 60, 90], min_length=1, description="p_churn_<h>d columns")
    max_rows: int = Field(
        1_000_000, ge=1000, description="customer-period rows to train on at most: beyond, a random share of snapshots (whole paths)"
    )
    learning_rate: float = Field(
        0.1, gt=0, le=1, description="the hazard model's LightGBM learning rate (its rows repeat each snapshot per period)"
    )
    negatives_per_event: float | None = Field(
        6.0,
        gt=0,
        description="train the hazards on every event row and on at most this many non-event rows per event (but no fewer than "
        "min_negatives), drawn at random and weighted back to the true rate (case-control sampling); null: every row",
    )
    min_negatives: int = Field(100_000, ge=1, description="non-event rows case-control sampling keeps at least (all when fewer)")
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = Field(
        "auto",
        description="how the hazards are calibrated on the calibration slice; auto: the method that, fitted on its earlier "
        "snapshots, explains its latest one best (censored log-likelihood)",
    )

    @model_validator(mode="after")
    def _horizons_on_the_curve(self) -> SurvivalSettings:
        bad = [h for h in self.horizons_days if h % self.period_days or h > self.period_days * self.periods]
        if bad:
            raise ValueError(
                f"horizons_days {bad} must be multiples of period_days ({self.period_days}) "
                f"and at most periods x period_days ({self.period_days * self.periods})"
            )
        return self


class Config(_Strict):
    """churnml configuration (the root of ``configs/*.yaml``)."""

    language: Language = Field("en", description="language of every text people read: en or zh (churnml.messages)")
    tables: dict[str, TableSource] = Field(default_factory=dict)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    indicators: IndicatorSettings = Field(default_factory=IndicatorSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    scorecard: ScorecardSettings = Field(default_factory=ScorecardSettings)
    levels: LevelSettings = Field(default_factory=LevelSettings)
    causes: CauseSettings = Field(default_factory=CauseSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)
    kpis: KpiSettings = Field(default_factory=KpiSettings)
    clv: ClvSettings = Field(default_factory=ClvSettings)
    winback: WinbackSettings = Field(default_factory=WinbackSettings)
    survival: SurvivalSettings = Field(default_factory=SurvivalSettings)

    @field_validator("tables")
    @classmethod
    def _known_tables_and_columns(cls, value: dict[str, TableSource]) -> dict[str, TableSource]:
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
            shown = repr(err["input"])
            shown = shown if len(shown) <= 120 else shown[:117] + "..."  # a whole map's value adds nothing to what the message names
            got = f" (got {shown})" if err["type"] != "extra_forbidden" else ""
            message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  - {key}: {message}{got}")
        raise ConfigError(f"{where} has {len(lines)} problem(s):\n" + "\n".join(lines)) from None
