"""churnml: customer-churn early warning and win-back.

Point-in-time indicators from a company's raw tables, a rule scorecard and
gradient-boosted models, calibrated health scores, warning levels and churn
causes, tracked in MLflow.

The package reads like the flow (README, "Architecture"): ``data`` (the
raw-table contract, validation, dates) -> ``indicators`` -> ``labels`` ->
``training`` -> ``models`` (estimators) -> ``scoring`` (health, levels,
causes, the warning list, the win-back list) -> ``model`` (:class:`ChurnModel`, composing them)
-> ``evaluation`` and ``kpis`` -> ``ops`` (tracking, serving, retraining,
Spark) -> ``cli``.

Every public name below is importable from here; each is loaded on first
use, so ``import churnml`` stays as fast as importing pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from churnml._version import __version__

# public name -> the module that defines it
_PUBLIC = {
    "Config": "churnml.config",
    "ConfigError": "churnml.config",
    "load_config": "churnml.config",
    "DataValidationError": "churnml.data.validation",
    "MissingInputsError": "churnml.models.features",
    "Tables": "churnml.data.tables",
    "from_directory": "churnml.data.tables",
    "from_ibis": "churnml.data.tables",
    "from_pandas": "churnml.data.tables",
    "load_tables": "churnml.data.tables",
    "list_indicators": "churnml.indicators.registry",
    "build_indicators": "churnml.indicators.build",
    "make_training_frame": "churnml.training",
    "RuleScorecard": "churnml.models.scorecard",
    "ChurnModel": "churnml.model",
    "load_model": "churnml.ops.registry",
    "score": "churnml.ops.serving",
    "for_people": "churnml.output",
    "write_outputs": "churnml.output",
    "kpis": "churnml.kpis",
    "winback": "churnml.scoring.winback",
    "retrain": "churnml.ops.retrain",
}
# subpackages and modules reachable as attributes (cm.datasets.load_sample(), cm.labels.Inactivity, ...)
_MODULES = ("data", "datasets", "evaluation", "indicators", "labels", "model", "models", "ops", "output", "scoring", "training")

__all__ = ["__version__", *sorted(_PUBLIC), *_MODULES]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ loads each name on first use
    from churnml import data, datasets, evaluation, indicators, labels, model, models, ops, output, scoring, training  # noqa: F401
    from churnml.config import Config, ConfigError, load_config  # noqa: F401
    from churnml.data.tables import Tables, from_directory, from_ibis, from_pandas, load_tables  # noqa: F401
    from churnml.data.validation import DataValidationError  # noqa: F401
    from churnml.indicators.build import build_indicators  # noqa: F401
    from churnml.indicators.registry import list_indicators  # noqa: F401
    from churnml.kpis import kpis  # noqa: F401
    from churnml.model import ChurnModel  # noqa: F401
    from churnml.models.features import MissingInputsError  # noqa: F401
    from churnml.models.scorecard import RuleScorecard  # noqa: F401
    from churnml.ops.registry import load_model  # noqa: F401
    from churnml.ops.retrain import retrain  # noqa: F401
    from churnml.ops.serving import score  # noqa: F401
    from churnml.output import for_people, write_outputs  # noqa: F401
    from churnml.scoring.winback import winback  # noqa: F401
    from churnml.training import make_training_frame  # noqa: F401


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"churnml.{name}")
    else:
        raise AttributeError(f"module 'churnml' has no attribute {name!r}")
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
