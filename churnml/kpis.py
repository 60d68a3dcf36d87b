"""How the retention programme is measured (domain.md section 6), and its control group.

The optional ``interventions`` table is the documents' strategy-execution
table: one row per warning issued (customer, warning date, level, cause), what
the team did about it (action, owner, ``handled_at``) and its own verdict
(``outcome``: retained, lost, pending). ``control`` marks the random control
group, warned customers deliberately left untouched (``kpis.control_share``;
:func:`churnml.scoring.control.assign_control` draws it when the warning list
is written).

Each warning is labelled by the configured churn definition at the month
start on or before its warning date (labels read ``[month, month +
horizon)``), ignoring ``labels.exclude_contacted``: here the team's own
influence is what is measured. :func:`kpis` reports, per group:

* ``precision``: warnings whose customer churned, or did not churn and was
  marked ``retained`` by the team (kept only by an action), over warnings with
  a complete label (the documents' warning precision; it trusts the team);
* ``control_churn_rate``: churn in the control group, the precision nobody's
  action touched, and ``treated_churn_rate`` among the other warnings;
  ``action_effect`` is their difference (churn prevented per warning acted
  on; random assignment makes it causal) with a 95 % interval;
* ``timeliness``: warnings handled within the agreed days for their level
  (``kpis.handle_within_days``; unknown level: the most lenient) over all
  warnings outside the control group;
* ``win_back_rate``: warnings outside the control group marked ``retained``
  whose customer did not churn (as far as labels know), over those warnings;
* ``return_rate``: handled warnings followed by an order (without an
  orders table, a subscription business: a contract term starting) within
  ``kpis.return_days`` of the action, over handled warnings whose window lies
  inside the data (:meth:`Tables.time_range <churnml.data.tables.Tables.time_range>`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from churnml.config import Config, load_config
from churnml.data.calendar import month_starts
from churnml.data.tables import Tables, load_tables
from churnml.labels import churn_labels

__all__ = ["GROUPS", "interventions_from_warnings", "kpis", "realised_precision"]

logger = logging.getLogger(__name__)

GROUPS = ("period", "warning_level", "primary_cause", "owner", "action")
COUNTS = ["warnings", "control", "handled", "labelled"]


def interventions_from_warnings(warnings: pd.DataFrame) -> pd.DataFrame:
    """The rows a team adds to its ``interventions`` table for one warning list.

    One row per warned customer with what the list recommended; the team
    fills ``handled_at`` and ``outcome`` as it works through them.
    """
    warned = warnings[warnings.warning_level > 0]
    control = warned["control"] if "control" in warned else False
    return pd.DataFrame(
        {
            "customer_id": warned.customer_id,
            "warning_date": warned.as_of,
            "warning_level": warned.warning_level,
            "primary_cause": warned.primary_cause,
            "action": warned.action,
            "owner": warned.owner,
            "handled_at": pd.NaT,
            "outcome": None,
            "control": control,
        }
    ).reset_index(drop=True)


def _labelled(tables: Tables, warnings: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """Add ``labelled`` and ``churned`` (labels at the warning's month start, contacts not excluded)."""
    snapshot = warnings.warning_date.dt.to_period("M").dt.start_time.astype("datetime64[us]")
    try:
        dates = month_starts(sorted(snapshot.unique()), tables)
    except ValueError as exc:
        raise ValueError(f"table 'interventions', column 'warning_date': {exc}") from None
    plain = cfg.model_copy(update={"labels": cfg.labels.model_copy(update={"exclude_contacted": False})})
    labels = churn_labels(tables, dates, config=plain)
    out = warnings.assign(as_of=snapshot).merge(labels, on=["customer_id", "as_of"], how="left", validate="many_to_one")
    out["labelled"] = out.status.eq("eligible")
    out["churned"] = out.churned.astype("boolean")
    return out.drop(columns=["as_of", "status"])


# what counts as the customer buying again: an order, or without an order log a contract term starting
PURCHASES = (("orders", "order_date"), ("contracts", "start_date"))


def _returned(tables: Tables, handled: pd.DataFrame, days: int) -> pd.DataFrame:
    """Per handled warning: whether its window lies in the data, and a purchase (:data:`PURCHASES`) inside it."""
    name, column = next((n, c) for n, c in PURCHASES if n in tables)
    t = tables[name]
    end = tables.time_range()[1]  # the orders' last, as before; without orders, the data's (contracts booked ahead not counted)
    window = pd.Timedelta(days=days)
    bought = t.filter(t.customer_id.isin(list(handled.customer_id.unique()))).select("customer_id", bought_at=t[column]).to_pandas()
    pairs = handled[["customer_id", "handled_at"]].reset_index().merge(bought, on="customer_id")
    inside = (pairs.bought_at >= pairs.handled_at) & (pairs.bought_at < pairs.handled_at + window)
    return pd.DataFrame(
        {"return_known": handled.handled_at + window <= end, "returned": handled.index.isin(pairs["index"][inside])},
        index=handled.index,
    )


def _outcomes(tables: Tables, cfg: Config) -> pd.DataFrame:
    """One row per intervention with the 0/1 facts every KPI counts."""
    iv = tables["interventions"].to_pandas()
    if iv.empty:
        raise ValueError("table 'interventions' has no rows: there is nothing to measure yet")
    iv = _labelled(tables, iv, cfg)
    iv["control"] = iv.control.fillna(False).astype(bool)
    iv["treated"] = ~iv.control
    iv["handled"] = iv.treated & iv.handled_at.notna()
    agreed = dict(enumerate(cfg.kpis.handle_within_days, start=1))
    limit = iv.warning_level.map(agreed).fillna(max(agreed.values())).astype(float)
    iv["in_time"] = iv.handled & ((iv.handled_at - iv.warning_date) <= pd.to_timedelta(limit, unit="D"))
    not_churned = iv.churned.fillna(False).eq(False)  # as far as labels know
    iv["won_back"] = iv.treated & iv.outcome.eq("retained") & not_churned
    iv["hit"] = iv.labelled & (iv.churned.fillna(False) | iv.won_back)
    iv = iv.join(_returned(tables, iv[iv.handled], cfg.kpis.return_days)).fillna({"return_known": False, "returned": False})
    iv["period"] = iv.warning_date.dt.strftime("%Y-%m")
    return iv


def _rate(numerator, denominator):
    """numerator / denominator, NaN where the denominator is zero (scalars or arrays)."""
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    rate = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(rate) if rate.ndim == 0 else rate


def _summarise(g: pd.DataFrame) -> pd.Series:
    labelled = g[g.labelled]
    treated, control = labelled[labelled.treated], labelled[labelled.control]
    p_t, p_c = treated.churned.astype(float).mean(), control.churned.astype(float).mean()
    se = np.sqrt(p_t * (1 - p_t) / max(len(treated), 1) + p_c * (1 - p_c) / max(len(control), 1))
    effect = p_c - p_t if len(treated) and len(control) else np.nan
    return pd.Series(
        {
            "warnings": len(g),
            "control": int(g.control.sum()),
            "handled": int(g.handled.sum()),
            "labelled": len(labelled),
            "precision": _rate(g.hit.sum(), g.labelled.sum()),
            "control_churn_rate": p_c if len(control) else np.nan,
            "treated_churn_rate": p_t if len(treated) else np.nan,
            "action_effect": effect,
            "action_effect_low": effect - 1.96 * se,
            "action_effect_high": effect + 1.96 * se,
            "timeliness": _rate(g.in_time.sum(), g.treated.sum()),
            "win_back_rate": _rate(g.won_back.sum(), g.treated.sum()),
            "return_rate": _rate((g.returned & g.return_known).sum(), (g.handled & g.return_known).sum()),
        }
    )


def kpis(
    tables: Tables | dict | str,
    config: Config | str | dict | None = None,
    by: Sequence[str] = ("period", "warning_level"),
) -> pd.DataFrame:
    """Warning precision, handling timeliness, win-back and return rates, and the control group's verdict.

    Parameters
    ----------
    tables : Tables, dict of DataFrames, or a directory
        Must hold an ``interventions`` table.
    config : optional
        The churn definition that labels each warning and the ``kpis`` section.
    by : sequence of str
        Group columns among ``period`` (warning month, YYYY-MM),
        ``warning_level``, ``primary_cause``, ``owner`` and ``action``.

    Returns
    -------
    pandas.DataFrame
        One row per group plus a last row ``all``; the counts ``warnings``,
        ``control``, ``handled``, ``labelled`` and the rates described in the
        module docstring (NaN where a denominator is zero).
    """
    cfg = load_config(config)
    tables = load_tables(tables, cfg)
    if "interventions" not in tables:
        raise ValueError("KPIs need an 'interventions' table (one row per warning issued); see the raw-table contract")
    by = list(by)
    unknown = [b for b in by if b not in GROUPS]
    if unknown:
        raise ValueError(f"cannot group KPIs by {unknown}; choose among {list(GROUPS)}")
    rows = _outcomes(tables, cfg)
    keys = by or ["group"]
    parts = []
    if by:
        keyed = rows.assign(**{b: rows[b].astype(object).where(rows[b].notna(), "unknown") for b in by})
        parts.append(keyed.groupby(by, sort=True)[list(rows.columns)].apply(_summarise).reset_index())
    parts.append(_summarise(rows).to_frame().T.assign(**dict.fromkeys(keys, "all")))
    out = pd.concat(parts, ignore_index=True)
    out = out[[*keys, *[c for c in out.columns if c not in keys]]]
    for column in COUNTS:
        out[column] = out[column].astype("int64")
    return out


def realised_precision(tables: Tables | dict | str, warnings: pd.DataFrame, config: Config | str | dict | None = None) -> pd.DataFrame:
    """Expected vs realised precision per level of a warning list whose horizon has passed.

    Parameters
    ----------
    tables : Tables, dict or directory
        Data that now covers the list's horizon.
    warnings : pandas.DataFrame
        A warning list as written by the scoring job (customer_id, as_of,
        warning_level, churn_probability).

    Returns
    -------
    pandas.DataFrame
        Per warning level: ``warned``, ``labelled`` (complete labels),
        ``expected_precision`` (mean calibrated probability when the list was
        written) and ``realised_precision`` (churned, or kept by an action
        recorded in ``interventions``, among the labelled).
    """
    cfg = load_config(config)
    tables = load_tables(tables, cfg)
    warned = warnings[warnings.warning_level > 0][["customer_id", "as_of", "warning_level", "churn_probability"]]
    warned = _labelled(tables, warned.rename(columns={"as_of": "warning_date"}), cfg)
    kept = pd.Series(False, index=warned.index)
    if "interventions" in tables:
        iv = tables["interventions"].to_pandas()
        retained = iv[iv.outcome.eq("retained") & ~iv.control.fillna(False).astype(bool)][["customer_id", "warning_date"]]
        kept = warned.merge(retained.assign(kept=True), on=["customer_id", "warning_date"], how="left").kept.fillna(False).to_numpy()
    warned["hit"] = warned.labelled & (warned.churned.fillna(False) | kept)
    out = warned.groupby("warning_level").agg(
        warned=("customer_id", "size"),
        labelled=("labelled", "sum"),
        expected_precision=("churn_probability", "mean"),
        hits=("hit", "sum"),
    )
    out["realised_precision"] = _rate(out.pop("hits"), out.labelled)
    return out.reset_index()
