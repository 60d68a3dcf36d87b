"""churnml: customer-churn early warning.

Point-in-time indicators from a company's raw tables, a rule scorecard and
gradient-boosted models, calibrated health scores, warning levels and churn
causes, tracked in MLflow.
"""

from churnml import datasets, evaluation, health, jobs, kpis, labels, models, tables, tracking
from churnml.config import Config, ConfigError, load_config
from churnml.indicators import build_indicators, list_indicators
from churnml.jobs import score
from churnml.labels import make_training_frame
from churnml.models import ChurnModel
from churnml.scorecard import RuleScorecard
from churnml.tables import DataValidationError, Tables, load_tables
from churnml.tracking import load_model

__version__ = "0.1.0"

__all__ = [
    "ChurnModel",
    "Config",
    "ConfigError",
    "DataValidationError",
    "RuleScorecard",
    "Tables",
    "__version__",
    "build_indicators",
    "datasets",
    "evaluation",
    "health",
    "jobs",
    "kpis",
    "labels",
    "list_indicators",
    "load_config",
    "load_model",
    "load_tables",
    "make_training_frame",
    "models",
    "score",
    "tables",
    "tracking",
]
