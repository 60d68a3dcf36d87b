"""Which spend model the lifetime value uses: each judged against the spend of the 12 months after the cut.

Usage: ``python -m benchmarks.clv [--customers 8000] [--seed 11]``; rewrites the ``clv`` block of
benchmarks/QUALITY.md.

For each order-log world (BG/NBD and Pareto/NBD with Gamma order values, and
churnml's own world), churnml is fitted with its defaults on the tables before
the cut; at the cut every customer it scores gets a 12-month value,
undiscounted, from its survival curve times its expected monthly spend with
the spend model's prior weight ``clv.prior_months`` in (0, 1, 3, 6, 12)
months, and the old value ``monthly_spend x 12`` (no survival, no
shrinkage). Each is judged against the spend the customer realised in the 12
months after the cut: mean absolute error per customer, total bias
(predicted / realised - 1), Spearman rank correlation, and the share of all
realised spend held by the 20% ranked highest (the high value tier).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

import churnml as cm
from benchmarks.benches import START, _known, rewrite_block
from churnml.config import ClvSettings
from churnml.datasets.btyd import BgNbd, ParetoNbd
from churnml.model import _churn_hazards
from churnml.scoring.value import expected_monthly_spend, lifetime_value, monthly_survival

HERE = Path(__file__).resolve().parent
BLOCK = re.compile(r"<!-- clv:start -->.*?<!-- clv:end -->", re.S)
HISTORY_MONTHS = 12
FUTURE_MONTHS = 12
PRIORS = (0.0, 1.0, 3.0, 6.0, 12.0)


def _world(name: str, customers: int, seed: int) -> tuple[dict[str, pd.DataFrame], pd.Timestamp]:
    """Every table (the 12 months after the cut included) and the cut."""
    if name == "synthetic-orders":
        frames, _ = cm.datasets.synthetic_frames(customers, months=HISTORY_MONTHS + FUTURE_MONTHS + 1, seed=seed)
        first = frames["orders"].order_date.min().to_period("M").to_timestamp()
        return {"customers": frames["customers"][["customer_id", "signup_date"]], "orders": frames["orders"]}, first + pd.DateOffset(
            months=HISTORY_MONTHS
        )
    cut = START + pd.DateOffset(months=HISTORY_MONTHS)
    model = BgNbd() if name.startswith("bgnbd") else ParetoNbd()
    return model.draw(customers, START, 6, cut + pd.DateOffset(months=FUTURE_MONTHS), seed=seed), cut


def measure(name: str, customers: int, seed: int) -> pd.DataFrame:
    """Error, bias, rank correlation and top-20% capture of each spend model on one world."""
    frames, cut = _world(name, customers, seed)
    tables = cm.from_pandas(_known(frames, cut))
    model = cm.ChurnModel({"labels": {"min_tenure_days": 0}, "tracking": {"enabled": False}}).fit(tables)
    status = cm.labels.scoring_status(tables, cut, model.config_)
    rows = cm.build_indicators(tables, cut, model.config_)
    rows = rows[rows.customer_id.isin(status.customer_id[status.status == "scored"])].reset_index(drop=True)
    orders = frames["orders"]
    future = orders[(orders.order_date >= cut) & (orders.order_date < cut + pd.DateOffset(months=FUTURE_MONTHS))]
    realised = future.groupby("customer_id").amount.sum().reindex(rows.customer_id).fillna(0.0).to_numpy()

    X = model.schema_.transform(rows)
    hazards = _churn_hazards(model, X)
    survival = monthly_survival(hazards, model.survival_.period_days, FUTURE_MONTHS)
    window = model.config_.indicators.recent_months + model.config_.indicators.history_months
    population = float(model.peers_.overall["monthly_spend"])
    predictions = {"monthly_spend x 12": rows.monthly_spend.fillna(0.0).clip(lower=0).to_numpy() * FUTURE_MONTHS}
    for k in PRIORS:
        spend = expected_monthly_spend(rows, population, ClvSettings(prior_months=k), window)
        predictions[f"survival x spend, prior {k:g} months"] = lifetime_value(spend, survival, 0.0)
    out = []
    top = max(1, int(0.2 * len(rows)))
    for label, predicted in predictions.items():
        ranked = np.argsort(-predicted, kind="stable")[:top]
        out.append({
            "world": name, "customers scored": len(rows), "value": label,
            "MAE": np.abs(predicted - realised).mean(),
            "bias": predicted.sum() / realised.sum() - 1,
            "Spearman": pd.Series(predicted).corr(pd.Series(realised), method="spearman"),
            "top 20% capture": realised[ranked].sum() / realised.sum(),
        })
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=8_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=HERE / "QUALITY.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    table = pd.concat([measure(name, args.customers, args.seed) for name in ("bgnbd", "pareto", "synthetic-orders")], ignore_index=True)
    block = "\n".join([
        "<!-- clv:start -->",
        "## Lifetime value: which spend model",
        "",
        f"Written by `python -m benchmarks.clv --customers {args.customers} --seed {args.seed}` on {dt.date.today()}.",
        f"churnml fitted with its defaults on {HISTORY_MONTHS} months before the cut; each scored customer's value over the",
        f"next {FUTURE_MONTHS} months (undiscounted) against the spend it realised then. `prior k months`: the customer's own",
        "monthly average shrunk toward the population's, which weighs like k months of its own (`clv.prior_months`).",
        "",
        table.set_index(["world", "value"]).round(4).to_markdown(),
        "",
        "<!-- clv:end -->",
    ])
    rewrite_block(args.out, BLOCK, block)
    print(block)


if __name__ == "__main__":
    main()
