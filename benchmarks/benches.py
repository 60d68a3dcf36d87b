"""churnml on order logs it did not write, against the optimum and the field's baselines.

Usage: ``python -m benchmarks.benches [--customers 12000] [--seed 7]``; rewrites the
``benches`` block of benchmarks/QUALITY.md.

The world is drawn from the BG/NBD model (:class:`churnml.datasets.btyd.BgNbd`):
a cohort whose first orders fall in its first 6 months, observed for 15
months. The question is the retailer's: no order in the next H days, for
every customer (lapsed ones included), churnml configured with
``labels.churn: {kind: no_purchase, horizon_days: H}`` and its default time
split; the out-of-time test slice is its last labelled month start. On the
same rows:

* **optimum**: the exact P(no order in H) from the true parameters;
* **BG/NBD fitted**: ``lifetimes.BetaGeoFitter`` on the orders before the test date;
* **recency**, **RFM logistic** and **BG/NBD**: the simple baselines every
  churnml report carries (:mod:`churnml.models.baselines`: days since the
  last activity as a ranking; a logistic regression on log recency,
  frequency, age and monthly spend fitted on churnml's training slice;
  churnml's own BG/NBD fit on the latest training snapshot);
* churnml's rule scorecard and LightGBM classifier, and LightGBM without the
  lifetime RFM indicators (``days_since_last_order``, ``orders_to_date``,
  ``days_since_first_order``), to show what they bring;
* **churnml (default pipeline)**: ``churn_probability`` from whichever
  candidate ranked the calibration slice best (``model.selection_``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

import churnml as cm
from churnml.datasets.btyd import BgNbd
from churnml.evaluation import score_metrics
from churnml.indicators import REGISTRY

HERE = Path(__file__).resolve().parent
LIFETIME_RFM = ("days_since_last_order", "orders_to_date", "days_since_first_order")
START, BIRTH_MONTHS, END = "2024-01-01", 6, "2025-04-01"
OPTIMUM, MODEL = "optimum (true BG/NBD parameters)", "churnml (default pipeline)"
BASELINES = {
    "recency (days since last activity)": "recency",
    "RFM logistic regression": "rfm_logistic",
    "BG/NBD (churnml's baseline, fitted on the latest training snapshot)": "bgnbd",
}
# this script's block of QUALITY.md; benchmarks.quality rewrites the rest of the file and keeps it
BLOCK = re.compile(r"<!-- benches:start -->.*?<!-- benches:end -->", re.S)


def _config(horizon: int, without: tuple[str, ...] = ()) -> dict:
    config = {
        "labels": {"churn": {"kind": "no_purchase", "horizon_days": horizon}, "min_tenure_days": 0},
        "tracking": {"enabled": False},
    }
    if without:
        config["indicators"] = {"only": [name for name in REGISTRY if name not in without]}
    return config


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The columns of ``report.baselines``, from churnml's own metric set."""
    return {k: v for k, v in score_metrics(y, p).items() if k in ("auc_roc", "brier", "ece")}


def _bgnbd_fitted(orders: pd.DataFrame, as_of: pd.Timestamp, horizon: int, ids: pd.Series) -> np.ndarray:
    """lifetimes' BG/NBD fitted on the orders before ``as_of``: P(no order in the next ``horizon`` days)."""
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    before = orders[orders.order_date < as_of]
    rfm = summary_data_from_transaction_data(before, "customer_id", "order_date", observation_period_end=as_of - pd.Timedelta(days=1), freq="D")
    fitted = BetaGeoFitter(penalizer_coef=0.0).fit(rfm.frequency, rfm.recency, rfm["T"])
    r, alpha, a, b = (fitted.params_[k] for k in ("r", "alpha", "a", "b"))
    # scored with the same closed form and the same times as the optimum: only the parameters differ
    return BgNbd(r, alpha, a, b).optimum(before, as_of, horizon).reindex(ids).to_numpy()


def bench(customers: int, seed: int, horizon: int) -> tuple[pd.DataFrame, dict]:
    truth = BgNbd()
    frames = truth.draw(customers, START, BIRTH_MONTHS, END, seed=seed)
    tables = cm.from_pandas(frames)
    started = time.perf_counter()
    model = cm.ChurnModel(_config(horizon)).fit(tables)
    seconds = time.perf_counter() - started
    split = model.holdout_.split
    (as_of,) = split.test
    report = cm.evaluation.report(model)
    test = model.holdout_.predictions
    y = test.churned.to_numpy()
    ablated = cm.ChurnModel(_config(horizon, LIFETIME_RFM)).fit(tables).holdout_.predictions
    assert ablated.customer_id.tolist() == test.customer_id.tolist()
    rows = {
        OPTIMUM: _metrics(y, truth.optimum(frames["orders"], as_of, horizon).reindex(test.customer_id).to_numpy()),
        "BG/NBD fitted (lifetimes)": _metrics(y, _bgnbd_fitted(frames["orders"], as_of, horizon, test.customer_id)),
        **{label: report.baselines.loc[name].to_dict() for label, name in BASELINES.items()},
        "churnml rule scorecard": _metrics(y, test.scorecard_probability.to_numpy()),
        "churnml LightGBM": _metrics(y, test.lightgbm_probability.to_numpy()),
        "churnml LightGBM without the lifetime RFM indicators": _metrics(y, ablated.lightgbm_probability.to_numpy()),
        MODEL: _metrics(y, test[f"{model.fitted_.name}_probability"].to_numpy()),
    }
    everyone = frames["orders"].loc[frames["orders"].order_date < as_of, "customer_id"].nunique()
    facts = {
        "as_of": as_of.date(), "rows": len(test), "customers with an order before as_of": everyone, "churn_rate": y.mean(),
        "train": f"{split.train[0].date()}..{split.train[-1].date()} ({len(split.train)})",
        "calibration": ", ".join(str(d.date()) for d in split.calibration), "method": model.fitted_.method, "fit_seconds": seconds,
        "chosen": model.fitted_.name, "selection": ", ".join(f"{k} {v:.4f}" for k, v in model.selection_.items()),
    }
    return pd.DataFrame(rows).T, facts


def _block(customers: int, seed: int, results: dict[int, tuple[pd.DataFrame, dict]]) -> list[str]:
    lines = [
        "<!-- benches:start -->",
        "## Order logs from the BG/NBD model (a bench churnml did not write)",
        "",
        f"Written by `python -m benchmarks.benches --customers {customers} --seed {seed}` on {dt.date.today()}.",
        f"{customers:,} customers whose first orders fall in {START[:7]}..+{BIRTH_MONTHS} months, observed until {END}; BG/NBD",
        f"r={BgNbd.r}, alpha={BgNbd.alpha} days, a={BgNbd.a}, b={BgNbd.b}. Label: no order in the next H days, every customer",
        "with an earlier order eligible (`labels.churn.kind: no_purchase`, `min_tenure_days: 0`); out-of-time test",
        "slice = churnml's last labelled month start; every row below scores the same customers.",
        "",
    ]
    for horizon, (table, facts) in results.items():
        lines += [
            f"### H = {horizon} days, as_of {facts['as_of']}",
            "",
            f"{facts['rows']:,} test rows of {facts['customers with an order before as_of']:,} customers with an order before as_of; "
            f"churn rate {facts['churn_rate']:.3f}; train snapshots {facts['train']}, calibration {facts['calibration']} "
            f"({facts['method']}); fit {facts['fit_seconds']:.0f} s. The default pipeline chose **{facts['chosen']}** "
            f"on the calibration slice (AUC there: {facts['selection']}).",
            "",
            table.round(4).to_markdown(),
            "",
            f"churnml - optimum AUC: **{table.auc_roc[MODEL] - table.auc_roc[OPTIMUM]:+.4f}**; "
            f"- best simple baseline: **{table.auc_roc[MODEL] - table.auc_roc[list(BASELINES)].max():+.4f}**.",
            "",
        ]
    return [*lines, "<!-- benches:end -->"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--horizons", type=int, nargs="+", default=[90, 180])
    parser.add_argument("--out", type=Path, default=HERE / "QUALITY.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    results = {h: bench(args.customers, args.seed, h) for h in args.horizons}
    block = "\n".join(_block(args.customers, args.seed, results))
    text = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    text = BLOCK.sub(lambda _: block, text) if BLOCK.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(block)


if __name__ == "__main__":
    main()
