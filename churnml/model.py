"""ChurnModel: indicators, labels, estimators, calibration, warning levels and causes, composed.

:class:`ChurnModel` is a scikit-learn estimator over raw tables:
``__init__`` stores the configuration as given, ``fit`` validates it, builds
the training frame (:mod:`churnml.training`), splits it in time, fits and
calibrates the rule scorecard, LightGBM, the hazard model and the simple
baselines (:mod:`churnml.models`), keeps whichever of the LightGBM
classifier and ``model.candidates`` ranks the calibration slice best, chooses the warning policy
(:mod:`churnml.scoring.health`) and the survival model, and keeps its
out-of-time test slice in :attr:`ChurnModel.holdout_`.
:meth:`ChurnModel.predict_frame` turns indicator rows into warning columns
and :meth:`ChurnModel.score` into the warning list
(:mod:`churnml.scoring.warning_list`).

After every fit, the functions registered under the entry-point group
``churnml.fit_hooks`` run; churnml registers :func:`churnml.ops.hooks.track_fit`,
which logs the run to MLflow when ``tracking.enabled`` (the default): the
model does not depend on the tracking module, and another package can add
its own hook.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from churnml._version import __version__
from churnml.config import Config, ModelSettings, load_config
from churnml.constants import KEYS, MONTH_DAYS, TARGET
from churnml.data.calendar import latest_month_start, month_starts, scoring_dates
from churnml.data.tables import Tables, load_tables
from churnml.indicators.build import build_indicators
from churnml.indicators.registry import REGISTRY
from churnml.labels import ChurnDefinition, event_days, labelled_dates, return_sources, scoring_status
from churnml.models.baselines import BTYD, baseline_estimators, btyd_baselines, choose, ranking_scores
from churnml.models.calibration import FittedEstimator, calibrate, check_positives
from churnml.models.features import FeatureSchema, describe_absent
from churnml.models.lightgbm import fit_early_stopped, make_lightgbm
from churnml.models.persistence import load_directory, save_directory
from churnml.models.scorecard import RuleScorecard
from churnml.models.survival import AtHorizon, SurvivalModel, choose_curve, churned_within
from churnml.scoring import causes
from churnml.scoring.causes import PeerAverages, ValueTiers
from churnml.scoring.health import choose_policy, customer_value, health_score
from churnml.scoring.value import constant_hazards, expected_monthly_spend, monthly_survival, value_columns
from churnml.scoring.warning_list import warning_list
from churnml.training import TimeSplit, make_training_frame, time_split

__all__ = ["FIT_HOOKS", "ChurnModel", "Holdout"]

logger = logging.getLogger(__name__)

FIT_HOOKS = "churnml.fit_hooks"  # entry-point group: callables (model, tables) run after every fit
NOT_FITTED = (
    "This %(name)s is not fitted yet. Call 'fit' with the raw tables before using it, "
    "or ChurnModel.cold_start(tables) for the rule scorecard without training data."
)


@dataclass(frozen=True)
class Holdout:
    """What a fit kept aside to judge and monitor the model.

    Attributes
    ----------
    split : TimeSplit
        Snapshot dates of the train, calibration and test slices.
    predictions : pandas.DataFrame
        The out-of-time test slice: keys, ``churned``, ``clv`` and
        per model the raw and calibrated probability, health score and
        level; with a survival model, ``churned_<h>d`` and ``p_churn_<h>d``.
    causes : pandas.Series
        Warned test customers by level and primary cause.
    example : pandas.DataFrame
        A few test-slice indicator rows (the MLflow input example).
    reference : pandas.DataFrame
        A sample of the latest training snapshot's population, for drift reports.
    returns : pandas.DataFrame
        The return model's test slice (its own split of the lapsed
        snapshots): keys, ``returned`` within the return horizon (or the
        longest every row observed, in ``attrs["days"]``),
        ``return_probability`` and the recency ranking
        (``baseline_recency``: fewer days silent, likelier to return).
        Empty without a return model.
    judged_days : int or None
        After censored training, the test slice cannot tell the horizon yet:
        ``churned`` and the probabilities in ``predictions`` are for this
        many days, the longest every test snapshot observed (the levels stay
        those of the horizon). None when the test slice is judged at the horizon.
    """

    split: TimeSplit
    predictions: pd.DataFrame
    causes: pd.Series
    example: pd.DataFrame
    reference: pd.DataFrame
    judged_days: int | None = None
    returns: pd.DataFrame = field(default_factory=pd.DataFrame)


class ChurnModel(BaseEstimator):
    """Indicators, estimator, calibration and warning levels in one estimator.

    Parameters
    ----------
    config : Config, path, dict or None
        Stored as given and validated by :meth:`fit`: indicator settings,
        churn definition, ``model`` (estimator, split, calibration),
        ``scorecard`` rules, warning ``levels``, ``causes`` (cause map,
        playbook) and ``tracking`` (MLflow).

    Attributes
    ----------
    config_ : Config
        The validated configuration (with the churn definition given to :meth:`fit`).
    schema_ : FeatureSchema
        The input columns.
    fitted_, baseline_ : FittedEstimator
        The estimator behind ``churn_probability`` (``scorecard``; with
        ``lightgbm`` configured, LightGBM or the candidate chosen in
        ``selection_``), calibrated, and the rule scorecard fitted on the same
        split when LightGBM is configured (None otherwise): the comparison
        the evaluation report shows.
    compared_ : list of FittedEstimator
        LightGBM when another candidate replaced it (reported beside it), else empty.
    policies_, policy_ : dict, WarningPolicy
        Health scores to warning levels, per estimator (each chosen on its own
        calibration-slice scores), and the main one's.
    survival_ : SurvivalModel or None
        Churn risk per horizon (:mod:`churnml.models.survival`); with ``peers_``, the lifetime value.
    returns_, returns_selection_ : SurvivalModel, BgNbdClassifier or ParetoNbdClassifier (or None), pandas.Series
        Lapsed customers' chance of coming back (``p_event``; :meth:`predict_return`;
        None under ``no_purchase`` and ``drop``), and the calibration-slice log-likelihoods it was chosen by.
    simple_baselines_ : dict
        The probability baselines (RFM logistic regression, BG/NBD) fitted on the
        training slice; with recency, scored beside the model (:mod:`churnml.models.baselines`).
    selection_ : pandas.Series
        Calibration-slice AUC of LightGBM and each of ``model.candidates``
        (the hazard model, the baselines): one that ranks it better becomes ``fitted_``
        (LightGBM, in ``compared_``, still explains the warnings).
    peers_, value_tiers_ : PeerAverages, ValueTiers: comparable customers' averages, the tiers' value thresholds.
    holdout_ : Holdout
        The split, the scored test slice and reference rows (not after :meth:`cold_start`).
    run_id_ : str
        The MLflow run of the fit, when tracking is enabled.

    Examples
    --------
    >>> import churnml as cm
    >>> model = cm.ChurnModel.cold_start(cm.datasets.load_sample(), as_of="2026-01-01")  # no training
    >>> warnings = model.score(cm.datasets.load_sample(), as_of="2026-01-01")
    >>> sorted(warnings.warning_level.unique().tolist())
    [0, 1, 2, 3]
    """

    def __init__(self, config: Config | str | Path | dict | None = None):
        self.config = config

    @classmethod
    def from_config(cls, path: str | Path) -> ChurnModel:
        """A new, unfitted model from a YAML configuration file (validated now, to fail early)."""
        return cls(load_config(path))

    # ---------------------------------------------------------------- training
    def fit(
        self,
        tables: Tables | dict | str,
        as_of: Sequence[str | pd.Timestamp] | None = None,
        churn: ChurnDefinition | None = None,
    ) -> ChurnModel:
        """Build the training frame for many snapshots and fit on a time-ordered split.

        Parameters
        ----------
        tables : Tables, dict of DataFrames, or a directory
        as_of : list of month starts, optional
            Default: every month start with a complete label, or with one
            observed period for censored training (``model.training``; :func:`churnml.labels.labelled_dates`).
        churn : Inactivity, Drop, Contractual or NoPurchase, optional
            Default: ``config.labels.churn``.

        Returns
        -------
        self
        """
        config = _validated_config(self.config, churn)
        tables = load_tables(tables, config)
        censored = _censored_training(config, tables, as_of)
        dates = labelled_dates(tables, config=config, censored=censored) if as_of is None else month_starts(as_of, tables)
        time_split(dates, config.model)  # fail before the expensive part
        frame = make_training_frame(tables, dates, config=config, censored=censored, lapsed=_return_dates(tables, config))
        return self._fit(frame, config, tables, censored)

    def fit_frame(self, frame: pd.DataFrame, tables: Tables | None = None) -> ChurnModel:
        """Fit on an existing training frame (from :func:`churnml.make_training_frame`; missing labels: censored training).

        Rows with ``lapsed`` true (``make_training_frame(..., lapsed=dates)``)
        train the return model. ``tables``, when given, is passed to the fit
        hooks (the MLflow run logs its data fingerprint).

        Returns
        -------
        self
        """
        config = _validated_config(self.config, None)
        labelled = frame[~frame.lapsed] if "lapsed" in frame else frame
        return self._fit(frame, config, tables, config.model.training == "censored" or bool(labelled[TARGET].isna().any()))

    def _fit(self, frame: pd.DataFrame, config: Config, tables: Tables | None, censored: bool) -> ChurnModel:
        self.config_ = config
        settings = config.model
        frame = frame.sort_values(KEYS, ignore_index=True)  # row order must not change the model
        lapsed, frame = _without_lapsed(frame, censored)
        split = time_split(frame.as_of.unique(), settings)
        train, cal, test = (split.slice(frame, part) for part in ("train", "calibration", "test"))
        logger.info(
            "time-ordered split: train %s..%s (%d rows), calibration %s (%d rows), test %s (%d rows)",
            split.train[0].date(), split.train[-1].date(), len(train), [str(d.date()) for d in split.calibration], len(cal),
            [str(d.date()) for d in split.test], len(test),
        )
        if not censored:
            check_positives(cal[TARGET], "calibration", settings)
        self.schema_ = FeatureSchema.fit(train)
        X_train, X_cal, X_test = (self.schema_.transform(part) for part in (train, cal, test))

        self.survival_ = _fit_survival(config, X_train, train, X_cal, cal)
        returns = _fit_returns(config, self.schema_, lapsed, tables)
        self.returns_, self.returns_selection_ = returns.shipped, returns.selection
        with _remembering(self.survival_):
            self.simple_baselines_, (self.fitted_, self.baseline_, self.compared_, self.selection_) = _fit_candidates(
                config, self.survival_, censored, {"train": (X_train, train), "calibration": (X_cal, cal), "test": (X_test, test)}
            )
            # censored: most calibration labels are not known yet, the main model's calibrated expected churn stands in for them
            outcomes = self.fitted_.proba(X_cal) if censored else cal[TARGET].to_numpy()
            self.policies_ = {
                fitted.name: choose_policy(config.levels, health_score(fitted.proba(X_cal)), outcomes, len(split.calibration))
                for fitted in _reported(self)
            }
            self.policy_ = self.policies_[self.fitted_.name]
            known = pd.concat([train, cal])
            self.peers_ = PeerAverages.fit(known, config.causes.min_peers)
            self.value_tiers_ = _value_tiers(self, known)
            self.holdout_ = _holdout(self, split, train, test, X_test, returns)
        self.fitted_ = _refit_at_data_end(self.fitted_, tables, config)
        _run_fit_hooks(self, tables)
        return self

    @classmethod
    def cold_start(
        cls,
        source: Tables | dict | str | pd.DataFrame,
        as_of: str | pd.Timestamp | None = None,
        config: Config | str | Path | dict | None = None,
    ) -> ChurnModel:
        """The rule scorecard without training data: health = rule score, the documents' fixed bands.

        Parameters
        ----------
        source : Tables, dict of DataFrames, directory, or a DataFrame of indicator rows
            Raw tables (the customers scorable at ``as_of``, default the
            month start after the last order, are the reference), or
            indicator rows themselves (customer_id plus indicator columns).
        as_of : month start, optional
        config : Config, path or dict, optional

        Comparable customers and value tiers come from the reference rows.
        Nothing is calibrated and there is no test slice.

        Returns
        -------
        ChurnModel
            Ready to :meth:`score` and :meth:`predict_frame`.
        """
        return _cold_start(cls(config), source, as_of)

    def evaluate_snapshots(self, tables: Tables | dict | str, as_of: Sequence[str | pd.Timestamp]) -> pd.DataFrame:
        """Score and label fresh snapshots with both fitted models (the rows :func:`churnml.evaluation.report` reads).

        Returns
        -------
        pandas.DataFrame
            Like ``holdout_.predictions``, for eligible snapshots with complete labels.
        """
        check_is_fitted(self, "holdout_", msg=NOT_FITTED)
        frame = make_training_frame(tables, as_of, config=self.config_)
        return _predictions(self, frame, self.schema_.transform(frame))

    def feature_importance(self) -> pd.DataFrame:
        """Per indicator: LightGBM's total gain and split count, or the scorecard's rule points."""
        check_is_fitted(self, "fitted_", msg=NOT_FITTED)
        return self.fitted_.feature_importance()

    # ---------------------------------------------------------------- scoring
    def predict_proba(self, indicators: pd.DataFrame, allow_missing: bool = False) -> np.ndarray:
        """Calibrated probabilities of staying and of churning within the horizon, shape (n, 2); absent indicators as in :meth:`predict_frame`."""
        check_is_fitted(self, "fitted_", msg=NOT_FITTED)
        self.schema_.check(indicators.columns, allow_missing)
        p = self.fitted_.proba(self.schema_.transform(indicators))
        return np.column_stack([1.0 - p, p])

    def predict_return(self, indicators: pd.DataFrame, allow_missing: bool = False) -> pd.DataFrame:
        """Lapsed customers' chance of coming back within the definition's horizon (inactivity: ``within_days``), per indicator row.

        Returns a frame in input order: the keys, ``return_probability`` from
        ``returns_`` (missing without one, as after :meth:`cold_start`);
        under ``no_purchase`` the main model answers, so also
        ``churn_probability`` and ``health_score``, and
        ``return_probability = 1 - churn_probability``. No warning level:
        the lapsed are won back, not warned.
        """
        check_is_fitted(self, "fitted_", msg=NOT_FITTED)
        return _return_probability(self, indicators, allow_missing)

    def predict_frame(
        self,
        indicators: pd.DataFrame,
        explain: str | None = None,
        earlier: pd.DataFrame | None = None,
        language: str | None = None,
        allow_missing: bool = False,
    ) -> pd.DataFrame:
        """Warning columns for indicator rows (as from :func:`churnml.build_indicators`).

        Parameters
        ----------
        indicators : DataFrame
            customer_id (and as_of) plus indicator columns, every one the model
            was trained with (else a :class:`~churnml.models.features.MissingInputsError`).
        explain : {"warned", "all"}, optional
            Which rows get causes and reasons (default ``causes.explain``:
            the warned ones; explaining costs TreeSHAP).
        earlier : DataFrame, optional
            The same customers' indicators 3 months earlier, for the reasons.
        language : {"en", "zh"}, optional
            Language of the reasons and actions (default: ``language`` in the config).
        allow_missing : bool
            Score without absent indicators (as missing values), named in a last column ``missing_inputs``.

        Returns
        -------
        pandas.DataFrame
            One row per input row, in input order: customer_id, as_of (when
            given), churn_probability, health_score, warning_level (1, 2, 3, or 0 for none),
            ``clv`` and ``value_at_risk`` (:mod:`churnml.scoring.value`), with a survival model ``p_churn_<h>d`` per
            horizon, ``survival_curve`` and ``expected_active_months``
            (:mod:`churnml.models.survival`), then primary_cause, cause_shares,
            top_indicators, reasons, action, owner, value_tier, quadrant
            (:mod:`churnml.scoring.causes`).
        """
        check_is_fitted(self, "fitted_", msg=NOT_FITTED)
        config = self.config_
        rows = indicators.reset_index(drop=True)
        absent = self.schema_.check(rows.columns, allow_missing)
        out = rows[[c for c in KEYS if c in rows.columns]].copy()
        X = self.schema_.transform(rows)
        with _remembering(self.survival_):  # the probability and the values read the same hazards
            p, hazards = (self.fitted_.proba(X) if len(rows) else np.array([], dtype="float64")), _churn_hazards(self, X)
        out["churn_probability"], out["health_score"] = p, health_score(p)
        values = _values(self, rows, p, hazards).set_index(out.index)
        out["warning_level"] = self.policy_.assign(out.health_score.to_numpy(), customer_value(values.clv + values.value_at_risk, config.levels))
        out[["clv", "value_at_risk"]] = values
        extra = _explained(self, rows, X, out, explain or config.causes.explain, earlier, language or config.language)
        if self.survival_ is not None:
            out = pd.concat([out, self.survival_.predict(X, hazards).set_index(out.index)], axis=1)
        out = pd.concat([out, extra], axis=1)
        if absent:  # people see that these scores lack part of what the model reads
            out["missing_inputs"] = describe_absent(absent, rows.columns)
        return out

    def score(
        self,
        tables: Tables | dict | str,
        as_of: str | pd.Timestamp | None = None,
        explain: str | None = None,
        language: str | None = None,
        allow_missing: bool = False,
    ) -> pd.DataFrame:
        """The warning list, every customer once (:func:`churnml.scoring.warning_list.warning_list`); tables loaded with the model's config."""
        check_is_fitted(self, "fitted_", msg=NOT_FITTED)
        return warning_list(self, load_tables(tables, self.config_), as_of, explain=explain, language=language, allow_missing=allow_missing)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to directory ``path`` atomically (replacing an existing model there).

        See :mod:`churnml.models.persistence` for what the directory holds.
        """
        config = self.config_ if hasattr(self, "config_") else load_config(self.config)
        return save_directory(self, path, config_yaml=config.to_yaml(), metadata=_metadata(self))

    @classmethod
    def load(cls, path: str | Path, trusted: bool = False) -> ChurnModel:
        """Load a model written by :meth:`save` (MLflow URIs: :func:`churnml.load_model`), running no code the file names.

        ``trusted=True`` loads any pickle (:mod:`churnml.models.persistence`), such as an earlier churnml's ``model.joblib``.
        """
        model = load_directory(path, trusted)
        if not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a ChurnModel")
        return model


def _explained(
    model: ChurnModel, rows: pd.DataFrame, X: pd.DataFrame, out: pd.DataFrame, mode: str, earlier: pd.DataFrame | None, language: str
) -> pd.DataFrame:
    """The cause columns of :meth:`ChurnModel.predict_frame`: SHAP contributions of the rows ``mode`` chooses, in words."""
    if mode not in ("warned", "all"):
        raise ValueError(f"explain must be 'warned' or 'all', got {mode!r}")
    chosen = out.index if mode == "all" else out.index[out.warning_level > 0]
    contributions = pd.DataFrame()
    if len(chosen):
        contributions = model.fitted_.contributions(X.loc[chosen])
        # a missing value is no evidence of a cause, and cannot be put in words
        contributions = contributions.where(X.loc[chosen, contributions.columns].notna().to_numpy(), 0.0)
    earlier = earlier.set_index("customer_id") if earlier is not None else None
    return causes.explain(
        rows, contributions, settings=model.config_.causes, health=out.health_score, warned=out.warning_level > 0,
        peers=model.peers_, tiers=model.value_tiers_, value=out.clv + out.value_at_risk, earlier=earlier, language=language,
    )


def _cold_start(model: ChurnModel, source: Tables | dict | str | pd.DataFrame, as_of: str | pd.Timestamp | None) -> ChurnModel:
    """:meth:`ChurnModel.cold_start` on a new model: the reference rows, the uncalibrated scorecard, the fixed bands."""
    config = model.config_ = load_config(model.config)
    if isinstance(source, pd.DataFrame):
        rows = source
    else:
        tables = load_tables(source, config)
        when, _ = scoring_dates(tables, as_of, config.indicators.recent_months)
        status = scoring_status(tables, when, config)
        panel = build_indicators(tables, when, config)
        rows = panel[panel.customer_id.isin(status.customer_id[status.status == "scored"])]
    logger.info("cold start: uncalibrated rule scorecard (health = rule score), fixed warning bands, peers from %d customers", len(rows))
    model.schema_ = FeatureSchema([c for c in rows.columns if c in REGISTRY and REGISTRY[c].kind == "numeric"], {})
    card = RuleScorecard(**_scorecard_params(config)).fit(model.schema_.transform(rows))
    model.fitted_, model.baseline_, model.survival_, model.returns_ = FittedEstimator("scorecard", card, None, None), None, None, None
    model.returns_selection_ = Returns().selection
    model.compared_, model.simple_baselines_, model.selection_ = [], {}, _no_selection()
    model.policy_ = choose_policy(config.levels.model_copy(update={"strategy": "fixed"}), np.array([]), np.array([]))
    model.policies_ = {"scorecard": model.policy_}
    model.peers_ = PeerAverages.fit(rows, config.causes.min_peers)
    model.value_tiers_ = _value_tiers(model, rows)
    return model


def _remembering(survival: SurvivalModel | None) -> AbstractContextManager:
    """:meth:`SurvivalModel.remembering` of a fitted hazard model, else nothing."""
    return survival.remembering() if survival is not None else nullcontext()


def _churn_hazards(model: ChurnModel, X: pd.DataFrame) -> np.ndarray | None:
    """The hazard model's churn hazards per row and period; None without one, or when its event is a purchase."""
    survival = model.survival_
    return survival.hazards(X) if survival is not None and survival.event == "churn" else None


def _values(model: ChurnModel, rows: pd.DataFrame, p: np.ndarray, hazards: np.ndarray | None) -> pd.DataFrame:
    """Each row's ``clv`` and ``value_at_risk``: the hazard model's churn curve, else the churn probability's constant hazard."""
    config = model.config_
    period = model.survival_.period_days if hazards is not None else MONTH_DAYS
    if hazards is None:
        hazards = constant_hazards(p, event_days(config.labels.churn), period)
    window = config.indicators.recent_months + config.indicators.history_months
    spend = expected_monthly_spend(rows, float(model.peers_.overall.get("monthly_spend", np.nan)), config.clv, window)
    return value_columns(spend, monthly_survival(hazards, period, config.clv.horizon_months), config.clv.discount_rate)


def _value_tiers(model: ChurnModel, known: pd.DataFrame) -> ValueTiers:
    """Tiers by value if kept among (up to 20,000 of) the reference rows; every customer low without any spend."""
    if "monthly_spend" not in known or known.monthly_spend.isna().all():
        logger.warning("no monthly spend known: every customer's lifetime value is 0 and its value tier low (the profit strategy warns no one)")
        return ValueTiers(np.inf, np.inf)
    rows = known.sample(min(len(known), 20_000), random_state=0) if len(known) else known
    X = model.schema_.transform(rows)
    p = model.fitted_.proba(X) if len(rows) else np.array([], dtype="float64")
    values = _values(model, rows, p, _churn_hazards(model, X) if len(rows) else None)
    return ValueTiers.fit(values.clv + values.value_at_risk, model.config_.causes.value_tiers)


def _return_probability(model: ChurnModel, indicators: pd.DataFrame, allow_missing: bool) -> pd.DataFrame:
    """:meth:`ChurnModel.predict_return` of a fitted model."""
    rows = indicators.reset_index(drop=True)
    model.schema_.check(rows.columns, allow_missing)
    out = rows[[c for c in KEYS if c in rows.columns]].copy()
    X = model.schema_.transform(rows)
    if model.config_.labels.churn.EVENT == "purchase":
        p = model.fitted_.proba(X) if len(rows) else np.array([], dtype="float64")
        out["churn_probability"], out["health_score"], out["return_probability"] = p, health_score(p), 1.0 - p
    elif getattr(model, "returns_", None) is not None:
        out["return_probability"] = model.returns_.p_event(X, event_days(model.config_.labels.churn))
    else:
        out["return_probability"] = np.nan
    return out


def _metadata(model: ChurnModel) -> dict:
    """What the model directory records beside the model: versions, estimator, warning policy, split."""
    fitted = hasattr(model, "fitted_")
    meta = {"churnml_version": __version__, "lightgbm_version": lgb.__version__, "fitted": fitted}
    if fitted:
        meta.update(estimator=model.fitted_.name, calibration=model.fitted_.method)
        meta.update(warning_policy={"strategy": model.policy_.strategy, "cutoffs": list(model.policy_.cutoffs)})
    if hasattr(model, "holdout_"):
        split = model.holdout_.split
        meta["split"] = {k: [str(d.date()) for d in getattr(split, k)] for k in ("train", "calibration", "test")}
    return meta


def _validated_config(config: Config | str | Path | dict | None, churn: ChurnDefinition | None) -> Config:
    """``config`` loaded and validated, with ``churn`` as the churn definition when given."""
    config = load_config(config)
    if churn is not None:
        config = config.model_copy(update={"labels": config.labels.model_copy(update={"churn": churn})})
    return config


def _scorecard_params(config: Config) -> dict:
    s = config.scorecard
    return {"rules": [r.model_dump() for r in s.rules], "category_weights": dict(s.category_weights)}


def _run_fit_hooks(model: ChurnModel, tables: Tables | None) -> None:
    hooks = sorted(entry_points(group=FIT_HOOKS), key=lambda ep: ep.name)
    if not hooks and model.config_.tracking.enabled:
        logger.warning("no %s entry points: churnml is not installed (pip install -e .), so this fit is not tracked", FIT_HOOKS)
    for hook in hooks:
        hook.load()(model, tables)


def _holdout(model: ChurnModel, split: TimeSplit, train: pd.DataFrame, test: pd.DataFrame, X_test: pd.DataFrame, returns: Returns) -> Holdout:
    """The split, the scored test slice, its warned customers' causes, an input example, the drift reference and the lapsed test rows."""
    warned = model.predict_frame(test)
    warned = warned[warned.warning_level > 0]
    # the latest training population, for drift reports: earlier snapshots see less history,
    # so their history-based indicators are missing more often than any current population's
    latest = train[train.as_of == train.as_of.max()]
    judged = None
    if test[TARGET].isna().any():  # censored training: judge at the horizon every test snapshot observed
        judged = int(test.periods_observed.min()) * model.survival_.period_days
        logger.info("the test slice observed %d of the %d days: judged at %d days", judged, event_days(model.config_.labels.churn), judged)
    return Holdout(
        split=split,
        judged_days=judged,
        returns=_return_predictions(model, returns),
        predictions=_predictions(model, test, X_test, judged),
        causes=warned.groupby(["warning_level", "primary_cause"]).size().rename("customers"),
        example=test[KEYS + model.schema_.columns].head(20).reset_index(drop=True),
        reference=latest[model.schema_.numeric].sample(min(len(latest), 5000), random_state=model.config_.model.seed),
    )


def _no_selection() -> pd.Series:
    """``selection_`` when nothing was chosen (the scorecard alone)."""
    return pd.Series(dtype="float64", name="calibration_auc_roc")


def _reported(model: ChurnModel) -> list[FittedEstimator]:
    """The estimators the report compares, the main one last: the scorecard, LightGBM when another candidate replaced it, the main one."""
    return [f for f in (model.baseline_, *model.compared_) if f is not None] + [model.fitted_]


def _predictions(model: ChurnModel, frame: pd.DataFrame, X: pd.DataFrame, judged_days: int | None = None) -> pd.DataFrame:
    """Each reported estimator's probabilities, health scores and levels for labelled rows, the baselines' scores (and churn per horizon).

    With ``judged_days`` (censored training) the label and the main
    probability are for that many days; the levels stay the horizon's.
    """
    out = frame[KEYS + [TARGET]].reset_index(drop=True)
    if "still_active" in frame:  # hindsight, for the report's "among customers still active" line
        out["still_active"] = frame.still_active.to_numpy(dtype=bool)
    values = _values(model, frame.reset_index(drop=True), model.fitted_.proba(X), _churn_hazards(model, X))
    out["clv"] = values.clv.to_numpy()
    value = customer_value(values.clv + values.value_at_risk, model.config_.levels)
    survival = model.survival_
    if judged_days is not None:
        k = judged_days // survival.period_days
        out[TARGET] = churned_within(frame.event_period.to_numpy(), frame.periods_observed.to_numpy(), k, survival.event)
    for fitted in _reported(model):
        judged = fitted if judged_days is None else replace(fitted, estimator=fitted.estimator.at(judged_days))
        p = judged.proba(X)
        out[f"{fitted.name}_raw"] = judged.raw_proba(X)
        out[f"{fitted.name}_probability"] = p
        out[f"{fitted.name}_health"] = health_score(p)
        out[f"{fitted.name}_level"] = model.policies_[fitted.name].assign(health_score(fitted.proba(X)), value)
    for name, score in ranking_scores(X).items():
        out[f"baseline_{name}"] = score.to_numpy()
    for name, estimator in model.simple_baselines_.items():
        out[f"baseline_{name}"] = (estimator if judged_days is None else estimator.at(judged_days)).predict_proba(X)[:, 1]
    if survival is not None and "event_period" in frame:  # churn risk per horizon and its label, for the report
        predicted = survival.predict(X)
        for h in survival.horizons_days:
            k = h // survival.period_days
            out[f"churned_{h}d"] = churned_within(frame.event_period.to_numpy(), frame.periods_observed.to_numpy(), k, survival.event)
            out[f"p_churn_{h}d"] = predicted[f"p_churn_{h}d"].to_numpy()
    return out


def _censored_training(config: Config, tables: Tables, as_of: Sequence | None) -> bool:
    """Whether :meth:`ChurnModel.fit` trains on censored snapshots (``model.training``; ``auto`` decides by the data)."""
    mode, churn = config.model.training, config.labels.churn
    if mode != "auto":
        return mode == "censored"
    if as_of is not None or not config.survival.enabled or churn.EVENT is None:
        return False
    if churn.kind in ("no_purchase", "contract"):
        # measured on BG/NBD, Pareto/NBD and subscription worlds and the synthetic order log (benchmarks/QUALITY.md): the
        # latest, censored snapshots calibrate the horizon out of time where snapshots with the whole horizon observed drift
        logger.info("%s: training on censored snapshots, composing the horizon from per-period probabilities (model.training: auto)", churn.kind)
        return True
    settings = config.model
    needed = settings.calibration_snapshots + settings.test_snapshots + 1
    labelled = labelled_dates(tables, config=config)
    if len(labelled) >= needed:
        return False
    logger.info(
        "%d month start(s) with the whole %d-day horizon in the data, the time split needs %d: training on censored snapshots, "
        "the hazard model composes the horizon from its periods (model.training: auto)", len(labelled), churn.horizon_days, needed,
    )
    return True


def _fit_survival(config: Config, X_train: pd.DataFrame, train: pd.DataFrame, X_cal: pd.DataFrame, cal: pd.DataFrame) -> SurvivalModel | None:
    settings = config.survival
    if not settings.enabled:
        return None
    if "event_period" not in train:
        logger.info("no survival model: the training frame has no event periods (a drop definition, or survival disabled when it was built)")
        return None
    model = config.model
    return SurvivalModel.fit(X_train, train, X_cal, cal, settings, model.lightgbm, model.seed, config.labels.churn.EVENT)


@dataclass(frozen=True)
class Returns:
    """The return model a fit chose, the one its test slice judged, that slice, and the calibration-slice fit it was chosen by."""

    shipped: object = None  # SurvivalModel or a model of repeat buying: p_event(X, days)
    judged: object = None
    test: pd.DataFrame = field(default_factory=pd.DataFrame)
    selection: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64", name="calibration_log_likelihood"))


def _return_dates(tables: Tables, config: Config) -> list[pd.Timestamp] | None:
    """The return model's snapshot dates: every month start with a period observed after it (None: no return model to fit)."""
    if not config.survival.enabled or config.labels.churn.EVENT != "churn":
        return None
    return labelled_dates(tables, config=config, censored=True) or None


def _without_lapsed(frame: pd.DataFrame, censored: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The return model's rows (``lapsed``), and the frame ``make_training_frame`` gives without them."""
    if "lapsed" not in frame:
        return frame.iloc[:0], frame
    lapsed, rest = frame[frame.lapsed].reset_index(drop=True), frame[~frame.lapsed].drop(columns="lapsed").reset_index(drop=True)
    return lapsed, rest if censored else rest.astype({TARGET: "int64"})


def _fit_returns(config: Config, schema: FeatureSchema, lapsed: pd.DataFrame, tables: Tables | None) -> Returns:
    """The return model on the lapsed snapshots, split in time like the main model's (:class:`Returns`).

    Its snapshot dates are its own (every month start whose first period
    is observed): a lapse needs no complete churn label. Candidates: the
    hazard model of the return (event ``return``), and for an order log
    (orders are the only activity a return can be) BG/NBD and Pareto/NBD
    fitted on every customer's order history at the latest training date,
    chosen like censored training chooses (:func:`churnml.models.survival.choose_curve`);
    a chosen model of repeat buying is refitted on the histories at the
    test date for the test slice and at the data end for scoring. With too
    few dates for the split, the pooled life table of them all, and no
    test rows.
    """
    if not len(lapsed) or not config.survival.enabled:
        return Returns()
    settings, survival = config.model, config.survival
    try:
        split = time_split(lapsed.as_of.unique(), settings)
    except ValueError:
        pooled = SurvivalModel.pooled(lapsed, survival, "return")
        return Returns(pooled, pooled)
    train, cal = split.slice(lapsed, "train"), split.slice(lapsed, "calibration")
    X_cal = schema.transform(cal)
    hazards = SurvivalModel.fit(schema.transform(train), train, X_cal, cal, survival, settings.lightgbm, settings.seed, "return")
    if hazards.estimator is None:  # too few returns to compare anything
        return Returns(hazards, hazards, split.slice(lapsed, "test"))
    candidates, curves = {"survival": hazards}, {"survival": hazards.survival(X_cal)}
    repeat_buying = [name for name in BTYD if name in settings.candidates]
    if tables is not None and repeat_buying and [t for t in return_sources(config.labels.churn) if t in tables] == ["orders"]:
        for name, model in _btyd_at(tables, split.train[-1], config, repeat_buying).items():
            candidates[name], curves[name] = model, model.survival(X_cal, survival.period_days, survival.periods)
    chosen, fit = choose_curve(curves, cal.event_period.to_numpy(), cal.periods_observed.to_numpy(), cal.customer_id.to_numpy())
    if chosen not in BTYD:
        return Returns(hazards, hazards, split.slice(lapsed, "test"), fit)
    judged = _btyd_at(tables, split.test[-1], config, [chosen]).get(chosen, candidates[chosen])
    shipped = _btyd_at(tables, latest_month_start(tables), config, [chosen]).get(chosen, judged)
    return Returns(shipped, judged, split.slice(lapsed, "test"), fit)


def _btyd_at(tables: Tables, when: pd.Timestamp, config: Config, names: list[str]) -> dict:
    """The models of repeat buying among ``names`` fitted on every customer's order history at ``when`` (no label read)."""
    X = build_indicators(tables, when, config)
    return btyd_baselines(X, np.ones(len(X), dtype=bool), event_days(config.labels.churn), names=names)


def _return_predictions(model: ChurnModel, returns: Returns) -> pd.DataFrame:
    """Lapsed test rows: whether they came back within the return horizon (or the longest every row observed), and the scores."""
    lapsed = returns.test
    if returns.judged is None or not len(lapsed):
        return pd.DataFrame()
    period = model.config_.survival.period_days
    # judged on whole periods, at most the horizon and at most what every test row observed
    k = max(1, min(event_days(model.config_.labels.churn) // period, int(lapsed.periods_observed.min())))
    X = model.schema_.transform(lapsed)
    out = lapsed[KEYS].reset_index(drop=True)
    out["returned"] = churned_within(lapsed.event_period.to_numpy(), lapsed.periods_observed.to_numpy(), k, "return")
    out["return_probability"] = returns.judged.p_event(X, k * period)
    for name, score in ranking_scores(X).items():  # fewer days silent, likelier to return
        out[f"baseline_{name}"] = -score.to_numpy()
    out.attrs["days"] = k * period
    return out


def _fit_candidates(
    config: Config, survival: SurvivalModel | None, censored: bool, parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]]
) -> tuple[dict, tuple[FittedEstimator, FittedEstimator | None, list[FittedEstimator], pd.Series]]:
    """The simple baselines and the estimators (main, scorecard, compared, selection) of labelled or censored training.

    ``parts`` maps ``train``, ``calibration`` and ``test`` to (features, frame).
    """
    (X_train, train), (X_cal, cal) = parts["train"], parts["calibration"]
    latest = (train.as_of == train.as_of.max()).to_numpy()
    if censored:
        baselines = btyd_baselines(X_train, latest, event_days(config.labels.churn))
        return baselines, _fit_censored(config, survival, baselines, parts)
    baselines = baseline_estimators(X_train, train[TARGET], latest, config.labels.churn.horizon_days)
    return baselines, _fit_estimators(config, baselines, survival, X_train, train[TARGET], X_cal, cal[TARGET])


def _fit_censored(
    config: Config,
    survival: SurvivalModel | None,
    baselines: dict,
    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
) -> tuple[FittedEstimator, None, list, pd.Series]:
    """The estimator of censored training, and the calibration-slice log-likelihoods it was chosen by.

    The hazard model at the definition's horizon, or for purchases a model
    of repeat buying (BG/NBD, Pareto/NBD; in ``model.candidates``) unless
    the hazard model's curve explains the calibration slice's observed
    periods clearly better (:func:`churnml.models.survival.choose_curve`): the horizon's
    own labels are not known yet, and beyond the periods the snapshots
    observed only a model's structure can tell. ``baselines`` holds those
    that could be fitted; ``parts`` maps ``calibration`` and ``test`` to
    (features, frame). Chosen, a model of repeat buying is refitted on the
    test date's histories, so that the test slice judges the newest fit it
    could have had (it reads no label); :func:`_refit_at_data_end` then
    refits it on all the data.
    """
    (X_cal, cal), (X_test, test) = parts["calibration"], parts["test"]
    days = event_days(config.labels.churn)
    if survival is None or not AtHorizon.fits(survival, days):
        raise ValueError(
            f"censored training (model.training) needs the survival model over the {days}-day horizon: survival.enabled, "
            f"a definition with an event time (inactivity, contractual, no_purchase) and survival.periods x period_days >= {days}"
        )
    hazards = FittedEstimator("survival", AtHorizon(survival, days), None, survival.calibration)
    candidates, curves = {"survival": hazards}, {"survival": survival.survival(X_cal)}
    for name, model in baselines.items():
        if survival.event == "purchase" and name in BTYD and name in config.model.candidates:
            candidates[name] = FittedEstimator(name, model, None, None, explainer=hazards)
            curves[name] = model.survival(X_cal, survival.period_days, survival.periods)
    events, observed = cal.event_period.to_numpy(), cal.periods_observed.to_numpy()
    chosen, fit = choose_curve(curves, events, observed, cal.customer_id.to_numpy())
    if chosen in BTYD:
        latest = btyd_baselines(X_test, (test.as_of == test.as_of.max()).to_numpy(), days, names=[chosen])
        return replace(candidates[chosen], estimator=latest.get(chosen, baselines[chosen])), None, [], fit
    return candidates[chosen], None, [], fit


def _refit_at_data_end(fitted: FittedEstimator, tables: Tables | None, config: Config) -> FittedEstimator:
    """A model of repeat buying chosen by censored training, refitted on the histories at the month start after the data end.

    It reads no label, so once the test slice has judged the fit on the
    test date's histories (the holdout stays honest) the shipped model may
    use every order: on a young base the histories at the data end are
    months longer. Without ``tables`` (``fit_frame``) or for any other
    model, ``fitted`` is kept.
    """
    if fitted.name not in BTYD or fitted.calibrated is not None or tables is None:
        return fitted
    refitted = _btyd_at(tables, latest_month_start(tables), config, [fitted.name])
    return replace(fitted, estimator=refitted.get(fitted.name, fitted.estimator))


def _fit_estimators(
    config: Config,
    baselines: dict,
    survival: SurvivalModel | None,
    X_train: pd.DataFrame,
    y_train: pd.Series,
    X_cal: pd.DataFrame,
    y_cal: pd.Series,
) -> tuple[FittedEstimator, FittedEstimator | None, list[FittedEstimator], pd.Series]:
    """The main estimator, the scorecard beside it, LightGBM when another candidate replaced it, and the calibration-slice AUCs it was chosen by."""
    settings = config.model
    card = RuleScorecard(**_scorecard_params(config)).fit(X_train)
    scorecard = calibrate("scorecard", card, X_cal, y_cal, settings)
    if settings.estimator != "lightgbm":
        return scorecard, None, [], _no_selection()
    check_positives(y_train, "training", settings)
    lightgbm = _fit_lightgbm(settings, X_train, y_train, X_cal, y_cal)
    candidates = {"lightgbm": lightgbm} | {
        name: calibrate(name, estimator, X_cal, y_cal, settings) for name, estimator in baselines.items() if name in settings.candidates
    }
    days = event_days(config.labels.churn)
    if "survival" in settings.candidates and survival is not None and AtHorizon.fits(survival, days):
        candidates["survival"] = FittedEstimator("survival", AtHorizon(survival, days), None, survival.calibration)  # its hazards are calibrated on the same slice
    chosen, selection = choose({name: c.raw_proba(X_cal) for name, c in candidates.items()}, y_cal.to_numpy(), "lightgbm")
    if chosen == "lightgbm":
        return lightgbm, scorecard, [], selection
    # another model's probability, the classifier's TreeSHAP for the causes: the baselines read too few indicators
    # to explain a warning, and the hazards' contributions are per period, not for the horizon
    return replace(candidates[chosen], explainer=lightgbm), scorecard, [lightgbm], selection


def _fit_lightgbm(settings: ModelSettings, X: pd.DataFrame, y: pd.Series, X_cal: pd.DataFrame, y_cal: pd.Series) -> FittedEstimator:
    model = make_lightgbm(settings.lightgbm, settings.seed)
    fit_early_stopped(model, X, y, X_cal, y_cal, metric="auc", rounds=settings.lightgbm.early_stopping_rounds)
    logger.info("LightGBM: %d trees (early stopping on the calibration slice)", model.best_iteration_ or model.n_estimators)
    return calibrate("lightgbm", model, X_cal, y_cal, settings)
