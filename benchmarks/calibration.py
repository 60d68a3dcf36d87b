"""How to calibrate the hazards: each method judged at the bench cuts, out of time, beside the one ``auto`` chooses.

Usage: ``python -m benchmarks.calibration [--customers 12000] [--seed 7]``; rewrites the ``calibration``
block of benchmarks/QUALITY.md.

For each world of :mod:`benchmarks.benches` whose main probability can come
from the hazard model, churnml is fitted once with its defaults on the
tables before the cut (censored training); the hazards' calibrator is then
refitted on the same calibration slice with each method of
:data:`churnml.models.survival.CALIBRATIONS` and the composed probability
scored against the world's future at the cut, for every horizon of the
world. ``auto`` marks the method :func:`churnml.models.survival.choose_calibration`
picks from the calibration slice alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
from pathlib import Path

import pandas as pd

import churnml as cm
from benchmarks.benches import BENCHES, _config, _known, _population, _world, rewrite_block
from churnml.evaluation import score_metrics
from churnml.models.survival import CALIBRATIONS, choose_calibration, fit_calibrator, person_periods

HERE = Path(__file__).resolve().parent
WORLDS = ("synthetic-orders", "subscriptions-6m-births-12m", "subscriptions-quarter-6m")
BLOCK = re.compile(r"<!-- calibration:start -->.*?<!-- calibration:end -->", re.S)


def compare(name: str, customers: int, seed: int) -> pd.DataFrame:
    """AUC, Brier and ECE at the cut per horizon and calibration method for one world, and which one ``auto`` chose."""
    specs = [b for b in BENCHES if b.name == name]
    longest = max(specs, key=lambda b: b.horizon_days)  # its world is drawn far enough to judge every horizon
    frames, cut = _world(longest, customers, seed)
    known = _known(frames, cut)
    tables = cm.from_pandas(known)
    model = cm.ChurnModel(_config(longest.horizon_days, "censored", longest.churn)).fit(tables)
    hazards = model.survival_
    frame = cm.make_training_frame(tables, cm.labels.labelled_dates(tables, config=model.config_, censored=True), config=model.config_, censored=True)
    cal = model.holdout_.split.slice(frame, "calibration")
    rows, y = person_periods(model.schema_.transform(cal), cal.event_period, cal.periods_observed, hazards.periods)
    dates, _ = person_periods(cal[["as_of"]], cal.event_period, cal.periods_observed, hazards.periods)
    raw = hazards.estimator.predict_proba(rows)[:, 1]
    auto = choose_calibration(raw, y, dates.as_of.to_numpy())
    now = cm.build_indicators(tables, cut, model.config_).set_index("customer_id")
    out = []
    for spec in specs:
        ids, truth, _ = _population(spec, frames, known, cut)
        X = model.schema_.transform(now.reindex(ids).reset_index())
        for method in CALIBRATIONS:
            hazards.calibrator = fit_calibrator(method, raw, y)
            metrics = score_metrics(truth, hazards.p_churn(X, spec.horizon_days))
            out.append({"world": name, "H": spec.horizon_days, "method": method + (" (auto)" if method == auto else ""),
                        **{k: metrics[k] for k in ("auc_roc", "brier", "ece")}})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "QUALITY.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    table = pd.concat([compare(name, args.customers, args.seed) for name in WORLDS], ignore_index=True)
    plain = table.assign(method=table.method.str.replace(" (auto)", ""))
    chosen = table[table.method.str.endswith("(auto)")]
    means = pd.concat([plain.groupby("method").ece.mean(), pd.Series({"auto": chosen.ece.mean()})]).rename("mean ECE")
    block = "\n".join([
        "<!-- calibration:start -->",
        "## How the hazards are calibrated",
        "",
        f"Written by `python -m benchmarks.calibration --customers {args.customers} --seed {args.seed}` on {dt.date.today()}.",
        "The hazard model fitted once per world (censored training, defaults), its calibrator refitted on the same",
        "calibration slice with each method, the composed probability judged at the cut against the world's future",
        "(benches above). `(auto)`: what `survival.calibration: auto` picks from the calibration slice alone.",
        "",
        table.set_index(["world", "H", "method"]).round(4).to_markdown(),
        "",
        means.round(4).to_frame().to_markdown(),
        "",
        "<!-- calibration:end -->",
    ])
    rewrite_block(args.out, BLOCK, block)
    print(block)


if __name__ == "__main__":
    main()
