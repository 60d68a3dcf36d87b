"""The win-back list on a world whose returns are planted; rewrites the ``winback`` block of benchmarks/QUALITY.md.

Usage: ``python -m benchmarks.winback [--customers 30000] [--seed 31337]``.

The world: churnml's synthetic world with every table over 36 months and
:class:`~churnml.datasets.Comebacks` (lost customers come back at a hazard
planted by cause and value; a win-back programme with a 20 % control group
lifts it). churnml sees the tables before a cut three months before the end
(``ChurnModel()``, the embedded defaults, tracking off), lists the lapsed customers there
(:func:`churnml.winback`), and is judged on what the world did next:

* **return probability**: any activity within the 90 days from the cut, on
  the listed customers; beside BG/NBD's probability of an order in those 90
  days (fitted on the order histories at the cut), the months since the
  loss (recency, a ranking), and the planted hazard itself (the truth's
  frailty included: no model can see it);
* **retrospective cause**: the list's ``primary_cause`` against the planted
  cause, beside a supervised ceiling (LightGBM trained on the planted causes,
  5-fold cross-validation, the same indicator rows at the loss snapshot);
* **the programme's effect**: ``churnml.kpis.winback_kpis`` on the whole world
  (the synthetic programme's list, treated vs control: an order within 90
  days of the list's date) against the planted effect (the exact mean, over
  the treated, of P(return | action) - P(return | none)), and the same
  difference of means read off the planted return dates.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import re
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import cross_val_predict

import churnml as cm
from benchmarks.benches import _btyd_at_cut, _known, _metrics, _return_model, rewrite_block
from churnml.constants import CAUSES
from churnml.datasets import Comebacks, planted_return_probability
from churnml.kpis import winback_kpis
from churnml.labels import activity_events, return_sources
from churnml.models.btyd import fit_bgnbd

HERE = Path(__file__).resolve().parent
BLOCK = re.compile(r"<!-- winback:start -->.*?<!-- winback:end -->", re.S)
MONTHS = 36
START = pd.Timestamp("2023-01-01")  # 36 months that end in the past
HORIZON = 90  # the default definition's within_days: what return_probability answers


def _returned(frames: dict[str, pd.DataFrame], churn, ids: pd.Index, since: pd.Timestamp, days: int) -> np.ndarray:
    """Whether each customer shows any return activity (the definition's sources) in [since, since + days)."""
    events = activity_events(cm.from_pandas(frames), return_sources(churn)).to_pandas()
    events = events[events.customer_id.isin(ids)]
    hit = events[(events.ts >= since) & (events.ts < since + pd.Timedelta(days=days))]
    return ids.isin(hit.customer_id).astype(int)


def _return_rows(listed: pd.DataFrame, frames, known, truth, spec: Comebacks, cut: pd.Timestamp, churn) -> tuple[pd.DataFrame, dict]:
    bgnbd = 1.0 - _btyd_at_cut(fit_bgnbd, known["orders"], cut, HORIZON, pd.Index(listed.customer_id))
    listed = listed[~np.isnan(bgnbd)]  # BG/NBD says nothing of a customer without an order: the same rows for all
    bgnbd = bgnbd[~np.isnan(bgnbd)]
    ids = pd.Index(listed.customer_id)
    y = _returned(frames, churn, ids, cut, HORIZON)
    t = truth.set_index("customer_id").loc[ids]
    handled = t.winback_at.notna().to_numpy()
    planted = planted_return_probability(t, spec, pd.Series(cut, index=t.index), HORIZON, handled).to_numpy()
    rows = {
        "churnml return_probability": _metrics(y, listed.return_probability.to_numpy()),
        "BG/NBD P(order in 90 days), fitted at the cut": _metrics(y, bgnbd),
        "recency (fewer months since the loss first)": _metrics(y, -listed.months_lapsed.fillna(np.inf).to_numpy(), ranking=True),
        "planted hazard (frailty included: a ceiling)": _metrics(y, planted),
    }
    facts = {"listed": len(ids), "came_back": int(y.sum())}
    return pd.DataFrame(rows).T, facts


def _cause_rows(listed: pd.DataFrame, known_tables, model, truth) -> tuple[pd.DataFrame, dict]:
    planted = listed.customer_id.map(truth.set_index("customer_id").cause)
    explained = listed[planted.isin(CAUSES) & listed.loss_snapshot.notna()].assign(planted=planted)
    accuracy = (explained.primary_cause == explained.planted).mean()
    panel = cm.build_indicators(known_tables, sorted(explained.loss_snapshot.unique()), model.config_)
    rows = explained[["customer_id", "loss_snapshot", "planted"]].merge(
        panel, left_on=["customer_id", "loss_snapshot"], right_on=["customer_id", "as_of"]
    )
    X = model.schema_.transform(rows)
    guess = cross_val_predict(lgb.LGBMClassifier(n_estimators=200, min_child_samples=20, verbose=-1), X, rows.planted, cv=5)
    ceiling = (guess == rows.planted.to_numpy()).mean()
    by_cause = (explained.primary_cause == explained.planted).groupby(explained.planted).mean()
    table = pd.DataFrame({"churnml primary_cause": [*by_cause.reindex(list(CAUSES)), accuracy]}, index=[*CAUSES, "all"])
    table["customers"] = [f"{n:,}" for n in [*explained.planted.value_counts().reindex(list(CAUSES)).fillna(0).astype(int), len(explained)]]
    return table, {"ceiling": ceiling, "chance": explained.planted.value_counts(normalize=True).max()}


def _effect_rows(tables, truth, spec: Comebacks, config) -> pd.DataFrame:
    kpis = winback_kpis(tables, config, by=["primary_cause"]).set_index("primary_cause")
    end = tables.time_range()[1]
    t = truth[truth.winback_date.notna()].set_index("customer_id")
    t = t[t.winback_date + pd.Timedelta(days=HORIZON) <= end]
    treated = ~t.winback_control.to_numpy(dtype=bool)
    handled = t.winback_at.notna().to_numpy()
    gain = planted_return_probability(t, spec, t.winback_date, HORIZON, handled) - planted_return_probability(t, spec, t.winback_date, HORIZON, False)
    back = ((t.return_date >= t.winback_date) & (t.return_date < t.winback_date + pd.Timedelta(days=HORIZON))).to_numpy()
    rows = {}
    # the synthetic programme names the planted cause; one without (none) is the KPIs' "unknown"
    for cause, key in [*((c, c) for c in CAUSES), ("none", "unknown"), ("all", "all")]:
        mine = np.ones(len(t), dtype=bool) if cause == "all" else (t.cause == cause).to_numpy()
        k = kpis.loc[key]
        rows[cause] = {
            "listed, 90 days observed": int(mine.sum()),
            "planted effect": gain[mine & treated].mean(),
            "measured on planted returns": back[mine & treated].mean() - back[mine & ~treated].mean(),
            "winback_kpis effect (orders)": k.win_back_effect,
            "its 95% interval": f"{k.win_back_effect_low:+.3f}..{k.win_back_effect_high:+.3f}",
            "treated rate": k.win_back_rate,
            "control rate": k.control_win_back_rate,
        }
    return pd.DataFrame(rows).T


def run(customers: int, seed: int) -> str:
    spec = Comebacks()
    frames, truth = cm.datasets.synthetic_frames(customers, MONTHS, seed, start=str(START.date()), comebacks=spec)
    cut = START + pd.DateOffset(months=MONTHS - 3)
    known = _known(frames, cut)
    known_tables, tables = cm.from_pandas(known), cm.from_pandas(frames)
    started = time.perf_counter()
    model = cm.ChurnModel({"tracking": {"enabled": False}}).fit(known_tables)
    fit_seconds = time.perf_counter() - started
    listed = cm.winback(known_tables, model, as_of=cut)
    returns, facts = _return_rows(listed, frames, known, truth, spec, cut, model.config_.labels.churn)
    causes, cause_facts = _cause_rows(listed, known_tables, model, truth)
    effects = _effect_rows(tables, truth, spec, model.config_)
    lines = [
        "<!-- winback:start -->",
        f"## Win-back on planted returns ({customers:,} customers, {MONTHS} months, seed {seed}, cut {cut.date()})",
        "",
        f"Written by `python -m benchmarks.winback --customers {customers} --seed {seed}` on {dt.date.today()}.",
        f"`Comebacks()` defaults: {_spec_text(spec)}.",
        f"`ChurnModel()` fitted on the tables before the cut in {fit_seconds:.0f} s; return model {_return_model(model)}.",
        "",
        f"**Return probability** ({facts['listed']:,} customers on the win-back list at the cut with an order before it, the rows",
        f"BG/NBD can score; {facts['came_back']:,} active again within 90 days). BG/NBD forecasts orders and the list's question is",
        "any activity, so read its AUC, not its calibration:",
        "",
        returns.to_markdown(floatfmt=".4f"),
        "",
        f"**Retrospective cause** (listed customers with a planted cause, explained at their loss snapshot): share whose",
        f"primary cause is the planted one. Supervised ceiling (LightGBM on the planted causes, 5-fold, same rows):",
        f"**{cause_facts['ceiling']:.1%}**; the largest cause's share (always guessing it): {cause_facts['chance']:.1%}.",
        "",
        causes.to_markdown(floatfmt=".3f"),
        "",
        "**The programme's effect** (every customer the synthetic programme listed with 90 days observed after the list:",
        "treated minus control win-back rate). Planted: the exact mean gain over the treated; measured on planted returns:",
        "the difference of means a perfect return signal would show; `winback_kpis`: orders, as a company measures it.",
        "",
        effects.to_markdown(floatfmt=".3f"),
        "",
        "<!-- winback:end -->",
    ]
    return "\n".join(lines)


def _spec_text(spec: Comebacks) -> str:
    return ", ".join(f"{f.name} {getattr(spec, f.name)}" for f in dataclasses.fields(spec))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=31337)
    parser.add_argument("--out", type=Path, default=HERE / "QUALITY.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    block = run(args.customers, args.seed)
    rewrite_block(args.out, BLOCK, block)
    print(block)


if __name__ == "__main__":
    main()
