"""The warning list: every customer once as of one date, sorted so that the team starts at the top.

One function, :func:`warning_list`, used by :meth:`churnml.ChurnModel.score`,
:func:`churnml.score` and the retraining job; :mod:`churnml.ops.spark`
builds the same list on Spark from the same pieces (:data:`LAST_EVENTS`,
:func:`last_event_expr`, :func:`score_rows`, :data:`RANK`).
"""

from __future__ import annotations

import logging

import pandas as pd

from churnml.data.calendar import scoring_dates
from churnml.data.tables import Tables
from churnml.indicators.build import build_indicators
from churnml.labels import scoring_status
from churnml.scoring.control import mark_control

__all__ = ["LAST_EVENTS", "RANK", "VALUE_DECIMALS", "last_event_expr", "score_rows", "warning_list"]

logger = logging.getLogger(__name__)

VALUE_DECIMALS = 6  # the list sorts by value at risk rounded to this many decimals
# (table, time column, warning-list column): the customer's latest such event before as_of
LAST_EVENTS = (("orders", "order_date", "last_order_date"), ("interactions", "timestamp", "last_interaction_date"))
# sort rank: warned customers by level, then the unwarned, the lapsed, and those with no number
RANK = {"no_warning": 4, "lapsed": 5, "unscored": 8}


def score_rows(
    model, rows: pd.DataFrame, status: pd.Series, earlier: pd.DataFrame | None, *, explain: str | None, language: str, allow_missing: bool = False
) -> pd.DataFrame:
    """The scored columns of the list for indicator rows with a status, indexed like ``rows``.

    ``scored`` rows get :meth:`ChurnModel.predict_frame`, ``lapsed`` rows
    :meth:`ChurnModel.predict_return`; other rows stay empty.
    """
    scored, lapsed = rows[status == "scored"], rows[status == "lapsed"]
    warnings = model.predict_frame(scored, explain=explain, earlier=earlier, language=language, allow_missing=allow_missing)
    back = model.predict_return(lapsed, allow_missing=allow_missing)
    warnings.index, back.index = scored.index, lapsed.index
    parts = [part.drop(columns=["customer_id", "as_of"], errors="ignore") for part in (warnings, back)]
    out = pd.concat([p for p in parts if len(p)] or parts[:1]).reindex(rows.index)
    columns = list(dict.fromkeys([*parts[0].columns, *parts[1].columns]))  # an empty part still names its columns
    return out.reindex(columns=columns)


def rank(status: pd.Series, warning_level: pd.Series) -> pd.Series:
    """The first sort key (:data:`RANK`): 1-3 for warning levels, then no warning, lapsed, no number."""
    level = warning_level.fillna(0).astype("int64").replace(0, RANK["no_warning"])
    return level.where(status == "scored", status.map({"lapsed": RANK["lapsed"]}).fillna(RANK["unscored"]).astype("int64"))


def last_event_expr(tables: Tables, name: str, column: str, out: str, as_of: pd.Timestamp):
    """customer_id and the latest ``column`` before as_of, named ``out``, as a lazy Ibis expression."""
    t = tables[name]
    t = t.filter(t[column] < as_of)
    return t.group_by("customer_id").aggregate(**{out: t[column].max()})


def warning_list(
    model,
    tables: Tables,
    as_of: str | pd.Timestamp | None = None,
    *,
    explain: str | None = None,
    language: str | None = None,
    allow_missing: bool = False,
) -> pd.DataFrame:
    """Score every customer of the customers table once, as of one date.

    Parameters
    ----------
    model : ChurnModel
        Fitted (or cold-started).
    tables : Tables
        Loaded and validated.
    as_of : month start, optional
        Default: the month start after the last order.
    explain : {"warned", "all"}, optional
        Which customers get causes and reasons (default ``causes.explain``).
    language : {"en", "zh"}, optional
        Language of the reasons and actions (default: the model's config).
    allow_missing : bool
        Score even when ``tables`` lack tables the model was trained with
        (their indicators as missing values; each row names them in
        ``missing_inputs``). By default that is an error naming them.

    Returns
    -------
    pandas.DataFrame
        customer_id, as_of, ``status``, then the columns of
        :meth:`ChurnModel.predict_frame`, then ``control``,
        ``last_order_date`` and ``last_interaction_date`` (before as_of);
        sorted by warning level (1 first, no warning last), then value at
        risk (churn probability x lifetime value), then risk. ``status == "scored"`` rows carry a
        churn probability, health score and level. ``lapsed`` rows (lost by
        the churn definition at as_of) come next with ``return_probability``,
        their chance of coming back within the horizon
        (:meth:`ChurnModel.predict_return`; under ``no_purchase`` also their
        churn probability), and no warning level. The others say why there
        is no number, as the churn definition sees them at as_of
        (``too_new``: tenure below ``labels.min_tenure_days``;
        ``no_history``: no activity yet; ``no_contract`` for the
        contractual definition; ``not_started``: signed up on or after
        as_of), have warning_level 0 and come last. ``control`` marks warned customers drawn into the
        random control group (``kpis.control_share``): their action says to
        leave them untouched. ``attrs["language"]`` records the language.
    """
    config = model.config_
    language = language or config.language
    as_of, dates = scoring_dates(tables, as_of, config.indicators.recent_months)
    out = scoring_status(tables, as_of, config)
    out.insert(1, "as_of", as_of)

    panel = build_indicators(tables, dates, config)
    status = out.set_index("customer_id").status
    indicators = panel[(panel.as_of == as_of) & panel.customer_id.isin(status.index[status.isin(["scored", "lapsed"])])]
    earlier = panel[panel.as_of == dates[0]] if len(dates) == 2 else None
    rows = indicators.reset_index(drop=True)
    scored = score_rows(model, rows, rows.customer_id.map(status), earlier, explain=explain, language=language, allow_missing=allow_missing)
    scored.insert(0, "customer_id", rows.customer_id)
    # rounded: equal values that two engines compute an ulp apart must sort alike
    scored["_value"] = scored.value_at_risk.round(VALUE_DECIMALS)
    out = out.merge(scored, on="customer_id", how="left", validate="one_to_one")
    out["warning_level"] = out.warning_level.fillna(0).astype("int64")
    out = out.assign(_rank=rank(out.status, out.warning_level)).sort_values(
        ["_rank", "_value", "churn_probability", "return_probability", "customer_id"],
        ascending=[True, False, False, False, True], na_position="last", kind="stable",
    )
    out = mark_control(out, config.kpis, language).drop(columns=["_rank", "_value"]).reset_index(drop=True)
    for name, column, name_out in LAST_EVENTS:
        if name in tables:
            last = last_event_expr(tables, name, column, name_out, as_of).to_pandas()
            out = out.merge(last, on="customer_id", how="left", validate="one_to_one")
        else:
            out[name_out] = pd.NaT
    logger.info(
        "scored %d of %d customers as of %s; not scored: %s", len(scored), len(out), as_of.date(),
        out.status[out.status != "scored"].value_counts().to_dict(),
    )
    out.attrs["language"] = language  # the CSV for people is written in it
    return out
