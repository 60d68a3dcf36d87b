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

Rows of ``kind`` winback (:func:`interventions_from_winback`) are the
win-back lists' lost customers; :func:`winback_kpis` measures them (win-back
and return rates beside the control group's, spend before the loss and after
the return) and :func:`kpis` leaves them out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import ibis
import numpy as np
import pandas as pd

from churnml.config import Config, load_config
from churnml.data.calendar import month_starts
from churnml.data.tables import Tables, load_tables
from churnml.labels import churn_labels, event_days

__all__ = ["GROUPS", "WINBACK_GROUPS", "interventions_from_warnings", "interventions_from_winback", "kpis", "realised_precision", "winback_kpis"]

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
    iv = _rows_of_kind(tables, "warning")
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


def _rows_of_kind(tables: Tables, kind: str) -> pd.DataFrame:
    """The interventions of one kind (``warning``: also rows whose kind is null), or an error saying there are none."""
    iv = tables["interventions"].to_pandas()
    iv = iv[iv.kind.fillna("warning").eq(kind)].reset_index(drop=True)
    if iv.empty:
        raise ValueError(f"table 'interventions' has no {kind} rows (column 'kind'): there is nothing to measure yet")
    return iv


def _effect(first: pd.Series, second: pd.Series) -> tuple[float, float, float]:
    """The rate of ``first`` minus that of ``second`` (two 0/1 samples), with a 95% normal interval; NaN when either is empty."""
    if not len(first) or not len(second):
        return np.nan, np.nan, np.nan
    p_1, p_2 = first.astype(float).mean(), second.astype(float).mean()
    se = np.sqrt(p_1 * (1 - p_1) / len(first) + p_2 * (1 - p_2) / len(second))
    return p_1 - p_2, p_1 - p_2 - 1.96 * se, p_1 - p_2 + 1.96 * se


def _rate(numerator, denominator):
    """numerator / denominator, NaN where the denominator is zero (scalars or arrays)."""
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    rate = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return float(rate) if rate.ndim == 0 else rate


def _summarise(g: pd.DataFrame) -> pd.Series:
    labelled = g[g.labelled]
    treated, control = labelled[labelled.treated], labelled[labelled.control]
    p_t, p_c = treated.churned.astype(float).mean(), control.churned.astype(float).mean()
    effect, low, high = _effect(control.churned, treated.churned)  # churn prevented: the control's excess
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
            "action_effect_low": low,
            "action_effect_high": high,
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
    return _grouped(_outcomes(tables, cfg), by, _summarise, COUNTS)


def _grouped(rows: pd.DataFrame, by: list[str], summarise, counts: Sequence[str]) -> pd.DataFrame:
    """``summarise`` per group of ``by`` (a missing key as ``unknown``), then over all rows as a last row ``all``."""
    keys = by or ["group"]
    parts = []
    if by:
        keyed = rows.assign(**{b: rows[b].astype(object).where(rows[b].notna(), "unknown") for b in by})
        parts.append(keyed.groupby(by, sort=True)[list(rows.columns)].apply(summarise).reset_index())
    parts.append(summarise(rows).to_frame().T.assign(**dict.fromkeys(keys, "all")))
    out = pd.concat(parts, ignore_index=True)
    out = out[[*keys, *[c for c in out.columns if c not in keys]]]
    return out.astype(dict.fromkeys(counts, "int64"))


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


# Win-back of lost customers (seed 004): how many came back, how fast, and what they spend since.
WINBACK_GROUPS = ("period", "primary_cause", "value_tier", "owner", "action")
SPEND_DAYS = 91  # "3 months": spend before the loss and after the return


def interventions_from_winback(listed: pd.DataFrame) -> pd.DataFrame:
    """The ``interventions`` rows (``kind`` winback) for one win-back list (:func:`churnml.winback`); the team fills the rest."""
    control = listed["control"] if "control" in listed else False
    return pd.DataFrame(
        {
            "customer_id": listed.customer_id,
            "warning_date": listed.as_of,
            "primary_cause": listed.primary_cause,
            "action": listed.strategy,
            "owner": listed.owner,
            "value_tier": listed.value_tier,
            "handled_at": pd.NaT,
            "outcome": None,
            "control": control,
            "kind": "winback",
        }
    ).reset_index(drop=True)


def _purchases(tables: Tables, customers: pd.Series) -> pd.DataFrame:
    """customer_id, ``bought_at`` and ``amount`` (missing without an orders table) of every purchase (:data:`PURCHASES`)."""
    name, column = next((n, c) for n, c in PURCHASES if n in tables)
    t = tables[name]
    t = t.filter(t.customer_id.isin(list(customers.unique())))
    amount = t.amount if name == "orders" else ibis.null("float64")
    return t.select("customer_id", bought_at=t[column], amount=amount).to_pandas()


def _winback_outcomes(tables: Tables, cfg: Config) -> pd.DataFrame:
    """One row per win-back intervention with the facts its KPIs count; times from the list's date (``warning_date``)."""
    iv = _rows_of_kind(tables, "winback")
    iv["control"] = iv.control.fillna(False).astype(bool)
    iv["treated"] = ~iv.control
    iv["handled"] = iv.treated & iv.handled_at.notna()
    end = tables.time_range()[1]
    horizon, soon, spend = (pd.Timedelta(days=d) for d in (event_days(cfg.labels.churn), cfg.kpis.return_days, SPEND_DAYS))
    pairs = iv[["customer_id", "warning_date", "handled_at", "control"]].reset_index().merge(_purchases(tables, iv.customer_id), on="customer_id")
    before, after = pairs[pairs.bought_at < pairs.warning_date], pairs[pairs.bought_at >= pairs.warning_date]
    lost_on = before.groupby("index").bought_at.max()
    first = after.groupby("index").bought_at.min().reindex(iv.index)  # the first purchase back, NaT for none
    iv["won_back"] = first < iv.warning_date + horizon
    iv["won_back_known"] = iv.warning_date + horizon <= end
    # the 30-day return counts from the action, or for the untouched control from the list's date
    start = iv.handled_at.where(iv.handled, iv.warning_date)
    iv["return_known"] = (iv.handled | iv.control) & (start + soon <= end)
    pairs["start"] = pairs["index"].map(start)
    iv["returned"] = iv.index.isin(pairs["index"][(pairs.bought_at >= pairs.start) & (pairs.bought_at < pairs.start + soon)])
    before = before.assign(lost_on=before["index"].map(lost_on))
    iv["spend_before"] = before[before.bought_at > before.lost_on - spend].groupby("index").amount.sum(min_count=1).reindex(iv.index)
    after = after.assign(first=after["index"].map(first))
    iv["spend_after"] = after[after.bought_at < after["first"] + spend].groupby("index").amount.sum(min_count=1).reindex(iv.index)
    iv["spend_known"] = iv.won_back & (first + spend <= end)
    iv["period"] = iv.warning_date.dt.strftime("%Y-%m")
    return iv


def _summarise_winback(g: pd.DataFrame) -> pd.Series:
    known = g[g.won_back_known]
    effect, low, high = _effect(known.won_back[known.treated], known.won_back[known.control])
    returned = g[g.treated & g.spend_known]
    before, after = returned.spend_before.mean(), returned.spend_after.mean()
    return pd.Series(
        {
            "lapsed": len(g),
            "control": int(g.control.sum()),
            "handled": int(g.handled.sum()),
            "win_back_rate": _rate(known.won_back[known.treated].sum(), known.treated.sum()),
            "control_win_back_rate": _rate(known.won_back[known.control].sum(), known.control.sum()),
            "win_back_effect": effect,
            "win_back_effect_low": low,
            "win_back_effect_high": high,
            "return_rate": _rate((g.returned & g.return_known & g.handled).sum(), (g.return_known & g.handled).sum()),
            "control_return_rate": _rate((g.returned & g.return_known & g.control).sum(), (g.return_known & g.control).sum()),
            "spend_3m_before_loss": before,
            "spend_3m_after_return": after,
            "spend_change": after / before - 1 if before > 0 else np.nan,
        }
    )


def winback_kpis(
    tables: Tables | dict | str,
    config: Config | str | dict | None = None,
    by: Sequence[str] = ("primary_cause", "value_tier"),
) -> pd.DataFrame:
    """How the win-back programme works, against its control group (seed 004).

    Reads the ``interventions`` rows of ``kind`` winback (one per lost
    customer put on a win-back list: :func:`interventions_from_winback`).
    Times count from the list's date (``warning_date``); a purchase is an
    order (without an orders table, a contract term starting).

    Parameters
    ----------
    tables : Tables, dict of DataFrames, or a directory
    config : optional
        The churn definition (its horizon: ``within_days`` for inactivity)
        and the ``kpis`` section (``return_days``).
    by : sequence of str
        Group columns among ``period``, ``primary_cause``, ``value_tier``,
        ``owner`` and ``action``.

    Returns
    -------
    pandas.DataFrame
        One row per group plus a last row ``all``: ``lapsed``, ``control``,
        ``handled``; ``win_back_rate`` (treated customers with a purchase
        within the horizon after the list, over those whose horizon lies in
        the data) and the same ``control_win_back_rate`` for the control
        group, their difference ``win_back_effect`` (random assignment makes
        it the action's effect) with a 95 % interval; ``return_rate``
        (handled customers buying within ``kpis.return_days`` of the action)
        and ``control_return_rate`` (within as many days of the list's
        date); and for treated customers who came back, with three months
        since: mean spend in the 3 months before the loss (up to the last
        purchase before the list) and in the 3 months from the first
        purchase back, and ``spend_change`` (after / before - 1).
    """
    cfg = load_config(config)
    tables = load_tables(tables, cfg)
    if "interventions" not in tables:
        raise ValueError("win-back KPIs need an 'interventions' table with rows of kind 'winback'; see the raw-table contract")
    by = list(by)
    unknown = [b for b in by if b not in WINBACK_GROUPS]
    if unknown:
        raise ValueError(f"cannot group win-back KPIs by {unknown}; choose among {list(WINBACK_GROUPS)}")
    return _grouped(_winback_outcomes(tables, cfg), by, _summarise_winback, ("lapsed", "control", "handled"))
