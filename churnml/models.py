"""Models: LightGBM and the rule scorecard, a time-ordered split, calibration, and ``ChurnModel``.

Training data is the stack of monthly snapshots from
:func:`churnml.make_training_frame`. The split is by snapshot date, never by
row: the earliest snapshots train, the next ``calibration_snapshots`` dates
early-stop LightGBM and fit the calibrator, and the latest
``test_snapshots`` dates are the out-of-time test slice, which influences
nothing. Labels of late training snapshots may read events that happen during
the test period (the horizon is months long); no feature or label of a test
snapshot is ever seen in training.

Both estimators are calibrated the same way on the calibration slice
(isotonic or Platt sigmoid, see :class:`churnml.config.ModelSettings`), so a
health score of 70 means a 30% churn probability whichever produced it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from churnml.causes import FastTreeShap, PeerAverages, ValueTiers
from churnml.causes import explain as explain_causes
from churnml.config import Config, LightGBMSettings, ModelSettings, load_config
from churnml.health import WarningPolicy, choose_policy, customer_value, health_score
from churnml.indicators import REGISTRY, build_indicators, month_starts, scoring_dates
from churnml.kpis import mark_control
from churnml.labels import ChurnDefinition, labelled_dates, make_training_frame, scoring_status
from churnml.scorecard import RuleScorecard
from churnml.survival import SurvivalModel
from churnml.tables import Tables, load_tables

__all__ = ["ChurnModel", "FeatureSchema", "TimeSplit", "make_lightgbm", "time_split"]

logger = logging.getLogger(__name__)

VALUE_DECIMALS = 6  # the warning list sorts by monthly spend rounded to this many decimals
KEYS = ["customer_id", "as_of"]
TARGET = "churned"


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


@dataclass
class FeatureSchema:
    """The model's input columns, fixed at training time.

    At scoring time, absent columns become NaN (LightGBM treats them as
    missing), extra columns are ignored, and unseen category values become
    missing; each case is logged once per call.
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

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input matrix for ``frame`` (same row order and index)."""
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            logger.warning("scoring without %d indicator(s), treated as missing: %s", len(absent), absent)
        out = pd.DataFrame(index=frame.index)
        for c in self.numeric:
            out[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64") if c in frame else np.nan
        for c, known in self.categorical.items():
            values = frame[c].astype("string") if c in frame else pd.Series(pd.NA, index=frame.index, dtype="string")
            unseen = sorted(set(values.dropna().unique()) - set(known))
            if unseen:
                logger.warning("%s: %d value(s) unseen in training treated as missing: %s", c, len(unseen), unseen[:10])
            out[c] = pd.Categorical(values.where(values.isin(known)), categories=known)
        return out


def make_lightgbm(settings: LightGBMSettings, seed: int) -> lgb.LGBMClassifier:
    """A LightGBM classifier with churnml's settings; deterministic for a given seed."""
    params = settings.model_dump(exclude={"early_stopping_rounds"})
    return lgb.LGBMClassifier(
        **params, subsample_freq=1, random_state=seed, deterministic=True, force_row_wise=True, n_jobs=os.cpu_count() or 1, verbose=-1
    )


def _calibration_method(settings: ModelSettings, y: np.ndarray) -> str:
    if settings.calibration != "auto":
        return settings.calibration
    big = len(y) >= settings.isotonic_min_rows and y.sum() >= settings.isotonic_min_positives
    return "isotonic" if big else "sigmoid"


def _check_positives(y: pd.Series, part: str, settings: ModelSettings) -> None:
    positives, n = int(y.sum()), len(y)
    if positives < settings.min_positives or positives == n:
        raise ValueError(
            f"the {part} slice has {positives} churner(s) among {n} snapshot rows; at least "
            f"{settings.min_positives} churners and some non-churners are needed (model.min_positives). "
            "Use more or earlier as_of dates, more customers, or a longer churn horizon."
        )


@dataclass
class FittedEstimator:
    """An estimator, its calibrated version and the calibration method."""

    name: str
    estimator: object
    calibrated: CalibratedClassifierCV | None
    method: str | None

    def raw_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(X)[:, 1]

    def proba(self, X: pd.DataFrame) -> np.ndarray:
        model = self.calibrated if self.calibrated is not None else self.estimator
        return model.predict_proba(X)[:, 1]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Risk contribution of each indicator: TreeSHAP log-odds (LightGBM) or deducted points (scorecard)."""
        if isinstance(self.estimator, RuleScorecard):
            points = self.estimator.deductions(X)
            by_indicator = {r.name: r.indicator for r in self.estimator.rules_}
            return points.T.groupby(by_indicator).sum().T.reindex(index=X.index) if len(points.columns) else pd.DataFrame(index=X.index)
        if getattr(self, "_shap", None) is None:
            self._shap = FastTreeShap(self.estimator.booster_)
        phi = self._shap.contributions(X)
        return pd.DataFrame(phi[:, :-1], index=X.index, columns=self._shap.feature_names)


@dataclass
class _Scorer:
    """Everything scoring needs: fitted, or built from the batch for a cold start."""

    schema: FeatureSchema
    fitted: FittedEstimator
    policy: WarningPolicy
    peers: PeerAverages
    value_tiers: ValueTiers


class ChurnModel:
    """Indicators, estimator, calibration and warning levels in one object.

    Parameters
    ----------
    config : Config, path, dict or None
        Indicator settings, churn definition, ``model`` (estimator, split,
        calibration), ``scorecard`` rules, warning ``levels``, ``causes``
        (cause map, playbook) and ``tracking`` (MLflow).

    Attributes
    ----------
    split_ : TimeSplit
        Snapshot dates of each slice.
    fitted_ : FittedEstimator
        The configured estimator (``lightgbm`` or ``scorecard``), calibrated.
    baseline_ : FittedEstimator or None
        The rule scorecard, fitted on the same split, when the main estimator
        is LightGBM: the comparison the evaluation report shows.
    policy_ : WarningPolicy
        How health scores become warning levels (``policies_`` holds one per
        fitted estimator, each chosen on its own calibration-slice scores).
    peers_, value_tiers_ : PeerAverages, ValueTiers
        Comparable customers' averages and the spend thresholds of the value
        tiers, from the train and calibration slices.
    test_predictions_ : pandas.DataFrame
        Out-of-time test slice: keys, ``churned``, ``monthly_spend`` and per
        model the raw and calibrated probability, health score and level.
    test_causes_ : pandas.Series
        Warned test customers by level and primary cause.
    test_rows_, training_sample_ : pandas.DataFrame
        A few test-slice indicator rows (the MLflow input example) and a
        sample of the latest training snapshot's population (for drift reports).
    run_id_ : str
        The MLflow run of the fit, when tracking is enabled.

    Examples
    --------
    >>> import churnml as cm
    >>> model = cm.ChurnModel({"model": {"estimator": "scorecard"}})
    >>> warnings = model.score(cm.datasets.load_sample(), as_of="2026-01-01")  # cold start: no training
    >>> sorted(warnings.warning_level.unique().tolist())
    [0, 1, 2, 3]
    """

    def __init__(self, config: Config | str | Path | dict | None = None):
        self.config = load_config(config)

    @classmethod
    def from_config(cls, path: str | Path) -> ChurnModel:
        """A new, unfitted model from a YAML configuration file."""
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
            Default: every month start with a complete label
            (:func:`churnml.labels.labelled_dates`).
        churn : Inactivity, Drop or Contractual, optional
            Default: ``config.labels.churn``.

        Returns
        -------
        self
        """
        tables = load_tables(tables, self.config)
        if churn is not None:
            self.config = self.config.model_copy(update={"labels": self.config.labels.model_copy(update={"churn": churn})})
        dates = labelled_dates(tables, config=self.config) if as_of is None else month_starts(as_of, tables)
        time_split(dates, self.config.model)  # fail before the expensive part
        frame = make_training_frame(tables, dates, config=self.config)
        return self.fit_frame(frame, tables)

    def fit_frame(self, frame: pd.DataFrame, tables: Tables | None = None) -> ChurnModel:
        """Fit on an existing training frame (from :func:`churnml.make_training_frame`).

        With ``tracking.enabled`` (the default) the run is logged to MLflow
        and the model registered (:func:`churnml.tracking.log_run`); ``tables``
        adds the data fingerprint.

        Returns
        -------
        self
        """
        settings = self.config.model
        frame = frame.sort_values(KEYS, ignore_index=True)  # row order must not change the model
        split = time_split(frame.as_of.unique(), settings)
        train, cal, test = (split.slice(frame, part) for part in ("train", "calibration", "test"))
        logger.info(
            "time-ordered split: train %s..%s (%d rows), calibration %s (%d rows), test %s (%d rows)",
            split.train[0].date(), split.train[-1].date(), len(train), [str(d.date()) for d in split.calibration], len(cal),
            [str(d.date()) for d in split.test], len(test),
        )
        _check_positives(cal[TARGET], "calibration", settings)
        self.schema_ = FeatureSchema.fit(train)
        X_train, X_cal, X_test = (self.schema_.transform(part) for part in (train, cal, test))

        scorecard = self._fit_scorecard(X_train, X_cal, cal[TARGET])
        if settings.estimator == "lightgbm":
            _check_positives(train[TARGET], "training", settings)
            self.fitted_, self.baseline_ = self._fit_lightgbm(X_train, train[TARGET], X_cal, cal[TARGET]), scorecard
        else:
            self.fitted_, self.baseline_ = scorecard, None

        self.policies_ = {
            fitted.name: choose_policy(self.config.levels, health_score(fitted.proba(X_cal)), cal[TARGET].to_numpy(), len(split.calibration))
            for fitted in (self.fitted_, self.baseline_)
            if fitted is not None
        }
        self.policy_ = self.policies_[self.fitted_.name]
        self.survival_ = self._fit_survival(X_train, train, X_cal, cal)
        known = pd.concat([train, cal])
        self.peers_ = PeerAverages.fit(known, self.config.causes.min_peers)
        self.value_tiers_ = ValueTiers.fit(known.get("monthly_spend", pd.Series(dtype="float64")), self.config.causes.value_tiers)
        self.split_ = split
        self.test_predictions_ = self._predictions(test, X_test)
        self.test_rows_ = test[KEYS + self.schema_.columns].head(20).reset_index(drop=True)
        # the latest training population, for drift reports: earlier snapshots see less history,
        # so their history-based indicators are missing more often than any current population's
        latest = train[train.as_of == train.as_of.max()]
        self.training_sample_ = latest[self.schema_.numeric].sample(min(len(latest), 5000), random_state=settings.seed)
        warned = self.predict_frame(test)
        warned = warned[warned.warning_level > 0]
        self.test_causes_ = warned.groupby(["warning_level", "primary_cause"]).size().rename("customers")
        if self.config.tracking.enabled:
            from churnml.tracking import log_run

            log_run(self, tables)
        return self

    def feature_importance(self) -> pd.DataFrame:
        """Per indicator: LightGBM's total gain and split count, or the scorecard's rule points."""
        estimator = self.fitted_.estimator
        if isinstance(estimator, RuleScorecard):
            points = pd.Series({r.indicator: 0.0 for r in estimator.rules_})
            for r in estimator.rules_:
                points[r.indicator] += r.points
            return points.rename("rule_points").to_frame().sort_values("rule_points", ascending=False)
        booster = estimator.booster_
        table = pd.DataFrame(
            {"gain": booster.feature_importance("gain"), "splits": booster.feature_importance("split")}, index=booster.feature_name()
        )
        return table.sort_values("gain", ascending=False)

    def _fit_survival(self, X_train: pd.DataFrame, train: pd.DataFrame, X_cal: pd.DataFrame, cal: pd.DataFrame) -> SurvivalModel | None:
        settings = self.config.survival
        if not settings.enabled:
            return None
        if "churn_period" not in train:
            logger.info("no survival model: the training frame has no churn periods (a drop definition, or survival disabled when it was built)")
            return None
        model = self.config.model
        return SurvivalModel.fit(X_train, train, X_cal, cal, settings, model.lightgbm, model.seed)

    def _fit_scorecard(self, X_train: pd.DataFrame, X_cal: pd.DataFrame, y_cal: pd.Series) -> FittedEstimator:
        card = RuleScorecard(**self._scorecard_params()).fit(X_train)
        return self._calibrate("scorecard", card, X_cal, y_cal)

    def _scorecard_params(self) -> dict:
        s = self.config.scorecard
        return {"rules": [r.model_dump() for r in s.rules], "category_weights": dict(s.category_weights)}

    def _fit_lightgbm(self, X: pd.DataFrame, y: pd.Series, X_cal: pd.DataFrame, y_cal: pd.Series) -> FittedEstimator:
        settings = self.config.model
        model = make_lightgbm(settings.lightgbm, settings.seed)
        model.fit(
            X, y, eval_X=(X_cal,), eval_y=(y_cal,), eval_metric="auc",
            callbacks=[lgb.early_stopping(settings.lightgbm.early_stopping_rounds, first_metric_only=True, verbose=False)],
        )
        logger.info("LightGBM: %d trees (early stopping on the calibration slice)", model.best_iteration_ or model.n_estimators)
        return self._calibrate("lightgbm", model, X_cal, y_cal)

    def _calibrate(self, name: str, estimator: object, X_cal: pd.DataFrame, y_cal: pd.Series) -> FittedEstimator:
        method = _calibration_method(self.config.model, y_cal.to_numpy())
        calibrated = CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(X_cal, y_cal)
        logger.info("%s calibrated with %s regression on %d rows", name, method, len(y_cal))
        return FittedEstimator(name, estimator, calibrated, method)

    def _predictions(self, frame: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
        out = frame[KEYS + [TARGET]].reset_index(drop=True)
        out["monthly_spend"] = frame["monthly_spend"].to_numpy() if "monthly_spend" in frame else np.nan
        value = customer_value(out, self.config.levels)
        for fitted in [self.fitted_, self.baseline_]:
            if fitted is None:
                continue
            p = fitted.proba(X)
            out[f"{fitted.name}_raw"] = fitted.raw_proba(X)
            out[f"{fitted.name}_probability"] = p
            out[f"{fitted.name}_health"] = health_score(p)
            out[f"{fitted.name}_level"] = self.policies_[fitted.name].assign(health_score(p), value)
        survival = getattr(self, "survival_", None)
        if survival is not None and "churn_period" in frame:  # churn risk per horizon and its label, for the report
            predicted = survival.predict(X)
            for h in survival.horizons_days:
                k = h // survival.period_days
                churned = (frame.churn_period.to_numpy() <= k).astype("float64")
                out[f"churned_{h}d"] = np.where(frame.periods_observed.to_numpy() >= k, churned, np.nan)
                out[f"p_churn_{h}d"] = predicted[f"p_churn_{h}d"].to_numpy()
        return out

    def evaluate_snapshots(self, tables: Tables | dict | str, as_of: Sequence[str | pd.Timestamp]) -> pd.DataFrame:
        """Score and label fresh snapshots with both fitted models (the rows :func:`churnml.evaluation.report` reads).

        Returns
        -------
        pandas.DataFrame
            Like :attr:`test_predictions_`, for eligible snapshots with complete labels.
        """
        frame = make_training_frame(tables, as_of, config=self.config)
        return self._predictions(frame, self.schema_.transform(frame))

    # ---------------------------------------------------------------- scoring
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "fitted_")

    def _ready(self, indicators: pd.DataFrame) -> _Scorer:
        if self.is_fitted:
            return _Scorer(self.schema_, self.fitted_, self.policy_, self.peers_, self.value_tiers_)
        if self.config.model.estimator != "scorecard":
            raise ValueError(
                "this ChurnModel is not fitted: call fit(tables, as_of=[...]) first, or use "
                "model.estimator: scorecard for a cold start without training data"
            )
        logger.info("cold start: uncalibrated rule scorecard (health = rule score), fixed warning bands, peers from this batch")
        schema = FeatureSchema([c for c in indicators.columns if c in REGISTRY and REGISTRY[c].kind == "numeric"], {})
        card = RuleScorecard(**self._scorecard_params()).fit(schema.transform(indicators))
        policy = choose_policy(self.config.levels.model_copy(update={"strategy": "fixed"}), np.array([]), np.array([]))
        causes = self.config.causes
        spend = indicators.get("monthly_spend", pd.Series(dtype="float64"))
        return _Scorer(
            schema, FittedEstimator("scorecard", card, None, None), policy,
            PeerAverages.fit(indicators, causes.min_peers), ValueTiers.fit(spend, causes.value_tiers),
        )

    def predict_proba(self, indicators: pd.DataFrame) -> np.ndarray:
        """Calibrated churn probability within the horizon, one per indicator row."""
        scorer = self._ready(indicators)
        return scorer.fitted.proba(scorer.schema.transform(indicators))

    def predict_frame(
        self,
        indicators: pd.DataFrame,
        explain: str | None = None,
        earlier: pd.DataFrame | None = None,
        language: str | None = None,
    ) -> pd.DataFrame:
        """Warning columns for indicator rows (as from :func:`churnml.build_indicators`).

        Parameters
        ----------
        indicators : DataFrame
            customer_id (and as_of) plus indicator columns; absent indicators
            are treated as missing (logged).
        explain : {"warned", "all"}, optional
            Which rows get causes and reasons (default ``causes.explain``:
            the warned ones; explaining costs TreeSHAP).
        earlier : DataFrame, optional
            The same customers' indicators 3 months earlier, for the reasons.
        language : {"en", "zh"}, optional
            Language of the reasons and actions (default: ``language`` in
            the config).

        Returns
        -------
        pandas.DataFrame
            One row per input row, in input order: customer_id, as_of (when
            given), churn_probability, health_score, warning_level (1, 2, 3,
            or 0 for none), with a survival model ``p_churn_<h>d`` per
            horizon, ``survival_curve`` and ``expected_active_months``
            (:mod:`churnml.survival`), then primary_cause, cause_shares,
            top_indicators, reasons, action, owner, value_tier, quadrant
            (:mod:`churnml.causes`).
        """
        scorer = self._ready(indicators)
        rows = indicators.reset_index(drop=True)
        out = rows[[c for c in KEYS if c in rows.columns]].copy()
        X = scorer.schema.transform(rows)
        p = scorer.fitted.proba(X) if len(rows) else np.array([], dtype="float64")
        out["churn_probability"] = p
        out["health_score"] = health_score(p)
        out["warning_level"] = scorer.policy.assign(out.health_score.to_numpy(), customer_value(rows, self.config.levels))
        mode = explain or self.config.causes.explain
        if mode not in ("warned", "all"):
            raise ValueError(f"explain must be 'warned' or 'all', got {mode!r}")
        chosen = out.index if mode == "all" else out.index[out.warning_level > 0]
        contributions = pd.DataFrame()
        if len(chosen):
            contributions = scorer.fitted.contributions(X.loc[chosen])
            # a missing value is no evidence of a cause, and cannot be put in words
            contributions = contributions.where(X.loc[chosen, contributions.columns].notna().to_numpy(), 0.0)
        earlier = earlier.set_index("customer_id") if earlier is not None else None
        extra = explain_causes(
            rows, contributions, settings=self.config.causes, health=out.health_score, warned=out.warning_level > 0,
            peers=scorer.peers, tiers=scorer.value_tiers, earlier=earlier, language=language or self.config.language,
        )
        survival = getattr(self, "survival_", None) if self.is_fitted else None
        if survival is not None:
            out = pd.concat([out, survival.predict(X).set_index(out.index)], axis=1)
        return pd.concat([out, extra], axis=1)

    def score(
        self,
        tables: Tables | dict | str,
        as_of: str | pd.Timestamp | None = None,
        explain: str | None = None,
        language: str | None = None,
    ) -> pd.DataFrame:
        """The warning list: every customer of the customers table once, as of one date.

        Parameters
        ----------
        tables : Tables, dict of DataFrames, or a directory
        as_of : month start, optional
            Default: the month start after the last order.
        explain : {"warned", "all"}, optional
            Which customers get causes and reasons (default ``causes.explain``).
        language : {"en", "zh"}, optional
            Language of the reasons and actions (default: ``language`` in
            the config). Codes (status, primary_cause, owner, ...) stay the
            same in every language; :func:`churnml.jobs.for_people` turns
            them into words.

        Returns
        -------
        pandas.DataFrame
            customer_id, as_of, ``status``, then the columns of
            :meth:`predict_frame`; sorted by warning level (1 first, no
            warning last), then value (monthly spend), then risk. Only
            ``status == "scored"`` rows carry a probability and health score;
            the others say why not, as the churn definition sees them at
            as_of (``too_new``: tenure below ``labels.min_tenure_days``;
            ``no_history``: no activity yet; ``already_churned``; ``no_contract``
            for the contractual definition; ``not_started``: signed up on or
            after as_of), have warning_level 0 and come last. ``control`` marks
            warned customers drawn into the random control group
            (``kpis.control_share``): their action says to leave them untouched.
        """
        tables = load_tables(tables, self.config)
        as_of, dates = scoring_dates(tables, as_of, self.config.indicators.recent_months)
        out = scoring_status(tables, as_of, self.config)
        out.insert(1, "as_of", as_of)

        panel = build_indicators(tables, dates, self.config)
        indicators = panel[(panel.as_of == as_of) & panel.customer_id.isin(out.customer_id[out.status == "scored"])]
        earlier = panel[panel.as_of == dates[0]] if len(dates) == 2 else None
        language = language or self.config.language
        scored = self.predict_frame(indicators, explain=explain, earlier=earlier, language=language).drop(columns="as_of")
        # rounded: equal spends that two engines compute an ulp apart must sort alike
        scored["_value"] = indicators["monthly_spend"].round(VALUE_DECIMALS).to_numpy() if "monthly_spend" in indicators else np.nan
        out = out.merge(scored, on="customer_id", how="left", validate="one_to_one")
        out["warning_level"] = out.warning_level.fillna(0).astype("int64")
        rank = out.warning_level.replace(0, 4) + 4 * (out.status != "scored")
        out = out.assign(_rank=rank).sort_values(
            ["_rank", "_value", "churn_probability", "customer_id"], ascending=[True, False, False, True], na_position="last", kind="stable"
        )
        out = mark_control(out, self.config.kpis, language)
        logger.info(
            "scored %d of %d customers as of %s; not scored: %s", len(scored), len(out), as_of.date(),
            out.status[out.status != "scored"].value_counts().to_dict(),
        )
        return out.drop(columns=["_rank", "_value"]).reset_index(drop=True)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the model to directory ``path`` atomically (replacing an existing model there).

        The directory holds ``model.joblib`` (the fitted objects: load only
        files you trust, as with any pickle), ``config.yaml`` and
        ``metadata.json`` (versions, split dates).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            joblib.dump(self, tmp / "model.joblib")
            (tmp / "config.yaml").write_text(self.config.to_yaml(), encoding="utf-8")
            (tmp / "metadata.json").write_text(json.dumps(self._metadata(), indent=2), encoding="utf-8")
            old = path.with_name(f".{path.name}.old")
            if path.exists():
                path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> ChurnModel:
        """Load a model written by :meth:`save`."""
        file = Path(path) / "model.joblib"
        if not file.is_file():
            raise FileNotFoundError(f"no churnml model at {path} (expected {file})")
        try:
            model = joblib.load(file)
        except Exception as exc:  # a truncated or foreign file: say which, not a pickle traceback
            raise ValueError(f"{file} is not a readable churnml model ({type(exc).__name__}: {exc}); save it again") from None
        if not isinstance(model, cls):
            raise TypeError(f"{file} holds a {type(model).__name__}, not a ChurnModel")
        return model

    def _metadata(self) -> dict:
        import churnml

        meta = {"churnml_version": churnml.__version__, "lightgbm_version": lgb.__version__, "fitted": self.is_fitted}
        if self.is_fitted:
            meta.update(
                estimator=self.fitted_.name,
                calibration=self.fitted_.method,
                split={k: [str(d.date()) for d in getattr(self.split_, k)] for k in ("train", "calibration", "test")},
                warning_policy={"strategy": self.policy_.strategy, "cutoffs": list(self.policy_.cutoffs)},
            )
        return meta

    def __repr__(self) -> str:
        state = f"fitted {self.fitted_.name}" if self.is_fitted else f"unfitted {self.config.model.estimator}"
        return f"ChurnModel({state})"
