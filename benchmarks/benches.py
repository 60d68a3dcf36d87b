"""churnml on order logs it did not write, cut where a user would cut them, against the optimum and the field's baselines.

Usage: ``python -m benchmarks.benches [--customers 12000] [--seed 7] [--only NAME ...]``;
rewrites the ``benches`` block of benchmarks/QUALITY.md.

Each bench is a world, a cut and a horizon H. churnml sees only the tables
as they were before the cut (``labels.churn: {kind: no_purchase,
horizon_days: H}``, ``min_tenure_days: 0``, every other setting its
default), is fitted on them with no dates given, and scores every customer
at the cut; the truth is what the drawn world did in ``[cut, cut + H)``.
The question is the retailer's: no order in the next H days, for every
customer with an earlier order (lapsed ones included). On the same rows:

* **optimum**: the exact P(no order in H) from the true parameters
  (BG/NBD and Pareto/NBD worlds, :mod:`churnml.datasets.btyd`);
* **BG/NBD fitted at the cut**, **Pareto/NBD fitted at the cut**: the
  field's standard models, their four parameters fitted by churnml's
  maximum likelihood on the histories at the cut
  (:func:`churnml.models.btyd.fit_bgnbd`, :func:`~churnml.models.btyd.fit_pareto_nbd`;
  they read no label);
* **recency**: days since the last order, as a ranking;
* **RFM logistic regression**: on log recency, frequency, age and monthly
  spend at the latest month start whose whole horizon lies before the cut,
  applied at the cut (n/a when there is none);
* **churnml, labelled training** (``model.training: labelled``): snapshots
  whose whole horizon is in the data, the classifier and its candidates
  (n/a when the history is too short to label the horizon);
* **churnml (default)**: ``model.training: auto``, which trains a
  ``no_purchase`` definition on censored snapshots
  (:mod:`churnml.models.survival`).

The subscription world (:class:`churnml.datasets.subscriptions.Subscriptions`:
monthly terms renewed by the shifted-beta-geometric model, logins that fall
with the churn probability, a payment per term in ``orders``) asks the
contractual question instead: no active contract H days after the cut
(``labels.churn: {kind: contract}``), for every customer with one at the
cut. Its rows: the optimum from renewals and logins; **sBG from tenure
alone** (the field's standard contractual model, true parameters, logins
ignored: what the renewals alone can tell); recency as days since the last
login; the RFM logistic regression; churnml trained ``labelled``,
``censored`` and with its default.

The return bench (``*-returns``) asks the win-back question of the lapsed:
under the default inactivity definition (180 days without an order,
horizon 90 days), which customers lapsed at the cut order again within H
days? churnml's ``return_probability`` (its return model, trained on the
lapsed snapshots before the cut) against the optimum (1 - the exact P(no
order in H)), BG/NBD and Pareto/NBD fitted at the cut, and recency (fewer
days silent, likelier to return).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

import churnml as cm
from churnml.data.schema import TIME_COLUMN
from churnml.datasets.btyd import BgNbd, ParetoNbd, order_history
from churnml.datasets.subscriptions import Subscriptions
from churnml.evaluation import score_metrics
from churnml.models.baselines import BgNbdClassifier, ParetoNbdClassifier, RfmLogistic
from churnml.models.survival import SurvivalModel
from churnml.models.btyd import fit_bgnbd, fit_pareto_nbd

HERE = Path(__file__).resolve().parent
OPTIMUM, DEFAULT, LABELLED, CENSORED = "optimum (true parameters)", "**churnml (default)**", "churnml, labelled training", "churnml, censored training"
BTYD_AT_CUT = {"BG/NBD fitted at the cut": fit_bgnbd, "Pareto/NBD fitted at the cut": fit_pareto_nbd}
RECENCY, RFM, TENURE = "recency (days since the last order; subscriptions: login)", "RFM logistic regression", "sBG from tenure alone (true parameters)"
BASELINES = (*BTYD_AT_CUT, RECENCY, RFM)  # the simple baselines churnml must not lose to; a bench has those that apply
# this script's block of QUALITY.md; benchmarks.quality rewrites the rest of the file and keeps it
BLOCK = re.compile(r"<!-- benches:start -->.*?<!-- benches:end -->", re.S)


@dataclass(frozen=True)
class Bench:
    """A world (``model``: BgNbd, ParetoNbd, Subscriptions, or None for churnml's synthetic order log), where it is cut and the horizon."""

    name: str
    model: object
    birth_months: int
    history_months: int
    horizon_days: int
    returns: bool = False  # the lapsed customers' return within H, under the default inactivity definition

    @property
    def churn(self) -> str:
        """The question asked: no order in H (order logs), no active contract at H (subscriptions), or a lapsed customer's return."""
        if self.returns:
            return "inactivity"
        return "contract" if isinstance(self.model, Subscriptions) else "no_purchase"


START = pd.Timestamp("2024-01-01")
BENCHES = [
    Bench("bgnbd-6m-births-12m", BgNbd(), 6, 12, 90),
    Bench("bgnbd-6m-births-12m", BgNbd(), 6, 12, 180),
    Bench("bgnbd-quarter-3m", BgNbd(), 3, 3, 180),
    Bench("bgnbd-quarter-6m", BgNbd(), 3, 6, 180),
    Bench("bgnbd-quarter-9m", BgNbd(), 3, 9, 270),
    Bench("bgnbd-quarter-12m", BgNbd(), 3, 12, 180),
    Bench("pareto-quarter-9m", ParetoNbd(), 3, 9, 270),
    Bench("pareto-quarter-12m", ParetoNbd(), 3, 12, 180),
    Bench("synthetic-orders", None, 0, 24, 90),
    Bench("synthetic-orders", None, 0, 24, 180),
    Bench("subscriptions-6m-births-12m", Subscriptions(), 6, 12, 90),
    Bench("subscriptions-6m-births-12m", Subscriptions(), 6, 12, 180),
    Bench("subscriptions-quarter-3m", Subscriptions(), 3, 3, 180),
    Bench("subscriptions-quarter-6m", Subscriptions(), 3, 6, 180),
    Bench("bgnbd-returns", BgNbd(), 6, 24, 90, returns=True),
    Bench("pareto-returns", ParetoNbd(), 6, 24, 90, returns=True),
]
LAPSED_DAYS = 180  # the return benches' inactivity period: the default definition's


def _config(horizon: int, training: str = "auto", churn: str = "no_purchase") -> dict:
    definition = {"kind": churn, "days": LAPSED_DAYS, "within_days": horizon} if churn == "inactivity" else {"kind": churn, "horizon_days": horizon}
    return {
        "labels": {"churn": definition, "min_tenure_days": 0},
        "model": {"training": training},
        "tracking": {"enabled": False},
    }


def _world(bench: Bench, customers: int, seed: int) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """Every table of the drawn world (orders beyond the cut included) and the cut."""
    if bench.model is None:  # churnml's own world, its order log only: a retailer's extract
        frames, _ = cm.datasets.synthetic_frames(customers, months=bench.history_months + 8, seed=seed)
        first = frames["orders"].order_date.min().to_period("M").to_timestamp()
        return {"customers": frames["customers"][["customer_id", "signup_date"]], "orders": frames["orders"]}, first + pd.DateOffset(
            months=bench.history_months
        )
    cut = START + pd.DateOffset(months=bench.history_months)
    return bench.model.draw(customers, START, bench.birth_months, cut + pd.Timedelta(days=bench.horizon_days + 1), seed=seed), cut


def _known(frames: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Every table as it was before the cut: the rows whose time stamp is earlier."""
    return {name: frame[frame[TIME_COLUMN[name]] < cut] for name, frame in frames.items()}


def _rfm_logistic(known: cm.Tables, cut: pd.Timestamp, horizon: int, ids: pd.Index, churn: str) -> np.ndarray | None:
    """The logistic regression fitted at the latest month start whose horizon ends before the cut, applied at the cut."""
    config = cm.load_config(_config(horizon, churn=churn))
    dates = cm.labels.labelled_dates(known, config=config)
    if not dates:
        return None
    frame = cm.make_training_frame(known, [dates[-1]], config=config)
    now = cm.build_indicators(known, cut, config).set_index("customer_id").reindex(ids).reset_index()
    return RfmLogistic().fit(frame, frame.churned).predict_proba(now)[:, 1]


def _btyd_at_cut(fit, orders: pd.DataFrame, cut: pd.Timestamp, horizon: int, ids: pd.Index) -> np.ndarray:
    customers, x, t_x, T = order_history(orders, cut)
    return pd.Series(fit(x, t_x, T).p_no_purchase(x, t_x, T, horizon), index=customers).reindex(ids).to_numpy()


def _metrics(y: np.ndarray, p: np.ndarray | None, ranking: bool = False) -> dict[str, float]:
    if p is None:
        return {"auc_roc": np.nan, "brier": np.nan, "ece": np.nan}
    if ranking:
        return {"auc_roc": roc_auc_score(y, p), "brier": np.nan, "ece": np.nan}
    return {k: v for k, v in score_metrics(y, p).items() if k in ("auc_roc", "brier", "ece")}


def _churnml(known: dict[str, pd.DataFrame], cut: pd.Timestamp, spec: Bench, training: str, ids: pd.Index) -> tuple[np.ndarray | None, dict]:
    tables = cm.from_pandas(known)
    started = time.perf_counter()
    try:
        model = cm.ChurnModel(_config(spec.horizon_days, training, spec.churn)).fit(tables)
    except ValueError as error:  # labelled training on a history shorter than the horizon: what the user would see
        return None, {"error": str(error).split(":")[0]}
    seconds = time.perf_counter() - started
    scored = model.score(tables, as_of=cut).set_index("customer_id").reindex(ids)
    column = "return_probability" if spec.returns else "churn_probability"
    split = model.holdout_.split
    facts = {
        "chosen": model.fitted_.name, "fit_seconds": seconds, "judged_days": model.holdout_.judged_days,
        "selection": ", ".join(f"{k} {v:.4f}" for k, v in model.selection_.items()), "criterion": model.selection_.name,
        "train": f"{split.train[0].date()}..{split.train[-1].date()} ({len(split.train)})",
        "scored": int(scored[column].notna().sum()),
    }
    if spec.returns:
        selection = model.returns_selection_
        facts.update(chosen=_return_model(model), selection=", ".join(f"{k} {v:.4f}" for k, v in selection.items()) or "none", criterion=selection.name)
    return scored[column].to_numpy(), facts


def _return_model(model: cm.ChurnModel) -> str:
    if model.returns_ is None:
        return "none"
    if isinstance(model.returns_, SurvivalModel):
        return "life table" if model.returns_.estimator is None else "survival"
    return {BgNbdClassifier: "bgnbd", ParetoNbdClassifier: "pareto_nbd"}[type(model.returns_)]


def bench(spec: Bench, customers: int, seed: int) -> tuple[pd.DataFrame, dict]:
    frames, cut = _world(spec, customers, seed)
    known = _known(frames, cut)
    horizon = spec.horizon_days
    ids, y, recency = _population(spec, frames, known, cut)
    default, facts = _churnml(known, cut, spec, "auto", ids)
    rows = {}
    if spec.returns:  # the lapsed customers' return: every probability turned around, no label-trained baseline
        rows[OPTIMUM] = _metrics(y, 1.0 - spec.model.optimum(frames["orders"], cut, horizon).reindex(ids).to_numpy())
        for name, fit in BTYD_AT_CUT.items():
            rows[name] = _metrics(y, 1.0 - _btyd_at_cut(fit, known["orders"], cut, horizon, ids))
        rows[RECENCY] = _metrics(y, -recency, ranking=True)
        rows[DEFAULT] = _metrics(y, default)
        facts.update(labelled="-", cut=cut.date(), rows=len(ids), churn_rate=float(y.mean()), history=f"{known['orders'].order_date.min().date()}..{(cut - pd.Timedelta(days=1)).date()}")
        return pd.DataFrame(rows).T, facts
    if spec.model is not None:
        rows[OPTIMUM] = _metrics(y, spec.model.optimum(frames if spec.churn == "contract" else frames["orders"], cut, horizon).reindex(ids).to_numpy())
    if spec.churn == "contract":
        rows[TENURE] = _metrics(y, spec.model.optimum(known, cut, horizon, usage=False).reindex(ids).to_numpy())
    else:
        for name, fit in BTYD_AT_CUT.items():
            rows[name] = _metrics(y, _btyd_at_cut(fit, known["orders"], cut, horizon, ids))
    rows[RECENCY] = _metrics(y, recency, ranking=True)
    rows[RFM] = _metrics(y, _rfm_logistic(cm.from_pandas(known), cut, horizon, ids, spec.churn))
    others = {LABELLED: "labelled"} | ({CENSORED: "censored"} if spec.churn == "contract" else {})
    for row, training in others.items():
        p, other_facts = _churnml(known, cut, spec, training, ids)
        rows[row] = _metrics(y, p)
        facts[training] = other_facts.get("error", f"chose {other_facts.get('chosen')}")
    rows[DEFAULT] = _metrics(y, default)
    first = known["orders"].order_date.min().date()
    facts.update(cut=cut.date(), rows=len(ids), churn_rate=float(y.mean()), history=f"{first}..{(cut - pd.Timedelta(days=1)).date()}")
    return pd.DataFrame(rows).T, facts


def _population(spec: Bench, frames: dict, known: dict, cut: pd.Timestamp) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """Who is scored, the truth and the recency ranking: customers with an order before the cut, or with a contract at it."""
    until = cut + pd.Timedelta(days=spec.horizon_days)
    if spec.churn == "contract":
        ids = pd.Index(sorted(Subscriptions.active(frames["contracts"], cut)), name="customer_id")
        y = (~ids.isin(Subscriptions.active(frames["contracts"], until))).astype("int64")
        events, column = known["activity"], "timestamp"
    else:
        orders = frames["orders"]
        ids = pd.Index(sorted(known["orders"].customer_id.unique()), name="customer_id")
        if spec.returns:  # lapsed at the cut by the inactivity definition
            last = known["orders"].groupby("customer_id").order_date.max()
            ids = pd.Index(sorted(last.index[last < cut - pd.Timedelta(days=LAPSED_DAYS)]), name="customer_id")
        later = orders[(orders.order_date >= cut) & (orders.order_date < until)]
        y = (~ids.isin(later.customer_id)).astype("int64")
        if spec.returns:
            y = 1 - y  # 1: came back
        events, column = known["orders"], "order_date"
    last = events.groupby("customer_id")[column].max().reindex(ids)
    silent = (cut - last).dt.total_seconds()
    return ids, y, silent.fillna(silent.max() + 1).to_numpy()  # never active: the most silent of all


def _world_text(spec: Bench) -> str:
    if spec.model is None:
        return "churnml's synthetic world, its orders and customers tables only"
    params = ", ".join(f"{k}={v}" for k, v in vars(spec.model).items())
    births = "signups" if spec.churn == "contract" else "first orders"
    return f"{type(spec.model).__name__} ({params}; times in days), {births} spread over {spec.birth_months} months from {START.date()}"


def _question(spec: Bench) -> tuple[str, str]:
    """Who is scored and what counts as churn, in words."""
    if spec.returns:
        return f"customers lapsed at the cut (no order in {LAPSED_DAYS} days)", "an order in H"
    if spec.churn == "contract":
        return "customers with a contract at the cut", "no contract H days later"
    return "customers with an order before the cut", "no order in H"


def _best_baseline(table: pd.DataFrame) -> float:
    return float(table.auc_roc.reindex(BASELINES).max())


def _block(customers: int, seed: int, results: list[tuple[Bench, pd.DataFrame, dict]]) -> list[str]:
    lines = [
        "<!-- benches:start -->",
        "## Order logs and subscriptions churnml did not write, cut where a user would cut them",
        "",
        f"Written by `python -m benchmarks.benches --customers {customers} --seed {seed}` on {dt.date.today()}.",
        "churnml sees the tables before the cut only, is fitted with its defaults and no dates, and scores every customer",
        "with an order before the cut (subscriptions: with a contract at it); the truth is the world's own future. Label: no",
        "order in the next H days (`labels.churn.kind: no_purchase`; subscriptions: no active contract H days after the cut,",
        "`kind: contract`; `*-returns`: the customers lapsed at the cut under the default inactivity definition, and whether",
        "they order again within H, scored by `return_probability`), `min_tenure_days: 0`. Every row of a table scores the same customers;",
        "*n/a*: the method cannot be fitted on that history. How each row is made: the docstring of benchmarks/benches.py.",
        "",
        "| bench | H | churnml AUC | optimum AUC | best baseline AUC | churnml ECE | chosen | labelled training |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for spec, table, facts in results:
        optimum = f"{table.auc_roc[OPTIMUM]:.4f}" if OPTIMUM in table.index else "unknown"
        lines.append(
            f"| {spec.name} | {spec.horizon_days} | {table.auc_roc[DEFAULT]:.4f} | {optimum} | {_best_baseline(table):.4f} "
            f"| {table.ece[DEFAULT]:.4f} | {facts['chosen']} | {facts['labelled']} |"
        )
    lines.append("")
    for spec, table, facts in results:
        judged = f"; its test slice judged at {facts['judged_days']} days" if facts["judged_days"] else ""
        lines += [
            f"### {spec.name}, H = {spec.horizon_days} days, cut {facts['cut']}",
            "",
            f"{_world_text(spec)}. History {facts['history']}; {facts['rows']:,} {_question(spec)[0]}, "
            f"{_question(spec)[1]}: {facts['churn_rate']:.3f}; churnml scored {facts['scored']:,} of them. Default fit: "
            f"{facts['fit_seconds']:.0f} s, train snapshots {facts['train']}{judged}; chose **{facts['chosen']}** "
            f"({facts['criterion']} on the calibration slice: {facts['selection']}).",
            "",
            table.round(4).to_markdown(),
            "",
        ]
        if OPTIMUM in table.index:
            lines += [f"churnml - optimum AUC: **{table.auc_roc[DEFAULT] - table.auc_roc[OPTIMUM]:+.4f}**; "
                      f"- best baseline: **{table.auc_roc[DEFAULT] - _best_baseline(table):+.4f}**.", ""]
        else:
            lines += [f"churnml - best baseline AUC: **{table.auc_roc[DEFAULT] - _best_baseline(table):+.4f}**.", ""]
    return [*lines, "<!-- benches:end -->"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", nargs="+", default=None, help="bench names to run (default: all); the block is rewritten only for a full run")
    parser.add_argument("--out", type=Path, default=HERE / "QUALITY.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    chosen = [b for b in BENCHES if args.only is None or b.name in args.only]
    results = []
    for spec in chosen:
        table, facts = bench(spec, args.customers, args.seed)
        results.append((spec, table, facts))
        print(f"{spec.name} H={spec.horizon_days}:\n{table.round(4).to_markdown()}\n", flush=True)
    block = "\n".join(_block(args.customers, args.seed, results))
    if args.only is None:
        rewrite_block(args.out, BLOCK, block)
    print(block)


def rewrite_block(path: Path, pattern: re.Pattern, block: str) -> None:
    """Replace the part of ``path`` that ``pattern`` matches with ``block`` (appended when absent)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
