"""Run the benchmark suite and rewrite benchmarks/RESULTS.md.

Usage: ``python -m benchmarks [--quick] [--runs N] [--only SUITE ...]``.
``--quick`` uses 10x smaller worlds (a smoke run; written to
RESULTS.quick.md). ``--runs 3`` reports medians of three runs for the
indicator engines at 100k and for churnml's cause shares (about 5 minutes
more). With ``--only``, the sections of the other suites are kept from the
existing file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

from benchmarks._measure import run_isolated

HERE = Path(__file__).resolve().parent


def _machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    pkgs = ", ".join(f"{p} {version(p)}" for p in ["pandas", "numpy", "pyarrow", "duckdb", "ibis-framework"])
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}; {pkgs}"
    )


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
        changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "churnml", "benchmarks/cases.py", "benchmarks/peers.py"], cwd=HERE.parent)
    except OSError:
        return "unknown"
    return (head or "unknown") + (" with uncommitted changes" if changed.returncode else "")


def generator(scale: int) -> list[str]:
    n_disk = 1_000_000 // scale
    disk = run_isolated("generate_to_parquet", n_disk)
    floor = run_isolated("parquet_write_floor", disk["rows"])
    return [
        "## Synthetic world generator",
        "",
        "24 months, all ten tables: `write_synthetic` generates 50,000-customer chunks straight to",
        "Parquet (bounded memory).",
        "Reference, same run: writing the same number of rows of random (customer, time stamp,",
        "value) to zstd Parquet in 5M-row parts.",
        "",
        "| case | customers | rows | wall (s) | customers/s | peak RSS (GiB) | vs reference |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| write_synthetic (chunked Parquet) | {n_disk:,} | {disk['rows']:,} | {disk['wall_s']:.1f} | {n_disk / disk['wall_s']:,.0f} | {disk['peak_gb']:.2f} | {disk['wall_s'] / floor['wall_s']:.1f}x |",
        f"| reference: random rows to Parquet | | {floor['rows']:,} | {floor['wall_s']:.1f} | | {floor['peak_gb']:.2f} | 1.0x |",
        "",
        f"Parquet on disk for {n_disk:,} customers: {disk['parquet_gb']:.2f} GiB.",
        "",
    ]


def _world(n: int) -> Path:
    """A cached synthetic world of n customers x 24 months on Parquet (seed 11)."""
    from churnml.datasets import write_synthetic

    path = HERE / ".data" / f"world_{n}"
    if not (path / "truth").is_dir():
        write_synthetic(path, n, months=24, seed=11)
    return path


# Not attempted: each attempt costs minutes before the kernel kills it.
POLARS_1M = (
    "not run: out of memory on this 24 GiB machine (2026-11-25: the in-memory engine was killed at "
    "22.8 GB, the streaming engine at 23.2 GB after 4 min)"
)


def indicators(scale: int, runs: int = 1) -> list[str]:
    import statistics
    import tempfile

    sizes = [100_000 // scale, 1_000_000 // scale]
    lines = [
        "## Indicator engine",
        "",
        "12 monthly snapshots (2025-01 to 2025-12) over 24 months of raw data read from Parquet.",
        "**Reference subset**: 13 indicators spanning every source table but market events and",
        "every rule form (window sums, ratio of two windows, days since last event, distinct",
        "active days, means of durations, state at the cutoff); see `benchmarks/peers.py`.",
        "A peer counts only if its panel equals churnml's (1e-9, NaN in the same places).",
        "The floor is hand-written DuckDB SQL: one `GROUP BY customer_id` per raw table, each",
        "snapshot's windows as `FILTER` clauses of that one pass, the snapshots unpivoted at the",
        "end. The scan bound computes no indicator: one `GROUP BY (customer, month)` per raw table,",
        "what any engine pays to read and group the input once. featuretools is not measured: it",
        "does not install beside pandas 3 (see the closing note of issue 13). Each clock starts once",
        "the engine's library is imported (pandas and duckdb: the floor and scan bound); the import,",
        "a once-per-process cost, is its own column. churnml's time includes loading and validating",
        "the tables, which the peers skip; the row below it leaves validation out (the engine alone).",
        "",
        "| customers | engine | runs | median wall (s) | import (s) | peak RSS (GiB) | vs floor | vs churnml | same panel |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    full_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            world = _world(n)
            n_runs = runs if n <= 100_000 else 1
            results = {}
            for engine in ("scan", "floor", "churnml", "polars", "pandas"):
                out = Path(tmp) / f"{engine}_{n}.parquet"
                if engine == "polars" and n >= 1_000_000:
                    results[engine] = {"failed": POLARS_1M}
                    continue
                try:
                    got = [run_isolated("indicators_subset", engine, world, out) for _ in range(n_runs)]
                except RuntimeError as exc:  # e.g. killed for memory: report it, keep the suite going
                    results[engine] = {"failed": "did not finish: " + str(exc).splitlines()[-1][:80]}
                    continue
                results[engine] = {
                    "wall": statistics.median(g["compute_s"] for g in got),
                    "import": statistics.median(g["import_s"] for g in got),
                    "peak": max(g["peak_gb"] for g in got),
                }
                if engine == "churnml":
                    engine_only = statistics.median(g["compute_s"] - g["validation_s"] for g in got)
                    results[engine]["validation"] = results[engine]["wall"] - engine_only
            for engine, r in results.items():
                if "failed" not in r:
                    # compared in a child process: a parent that loads 1M-row panels would pass its peak RSS on to later cases
                    r["same"] = {"scan": "(no indicators)", "churnml": "reference"}.get(engine) or (
                        run_isolated("same_panel", Path(tmp) / f"churnml_{n}.parquet", Path(tmp) / f"{engine}_{n}.parquet")["same"]
                        if "failed" not in results["churnml"] else "reference failed"
                    )
            for engine, r in results.items():
                if "failed" in r or "failed" in results["floor"] or "failed" in results["churnml"]:
                    why = r.get("failed", "reference failed")
                    lines.append(f"| {n:,} | {engine} | {0 if why == POLARS_1M else n_runs} | {why} | | | | | |")
                    continue
                lines.append(
                    f"| {n:,} | {engine} | {n_runs} | {r['wall']:.1f} | {r['import']:.1f} | {r['peak']:.2f} | {r['wall'] / results['floor']['wall']:.2f}x | "
                    f"{r['wall'] / results['churnml']['wall']:.2f}x | {r['same']} |"
                )
                if engine == "churnml":
                    alone = r["wall"] - r["validation"]
                    lines.append(
                        f"| {n:,} | churnml without validation ({r['validation']:.1f} s) | {n_runs} | {alone:.1f} | | | "
                        f"{alone / results['floor']['wall']:.2f}x | {alone / r['wall']:.2f}x | (same run) |"
                    )
            try:
                full = run_isolated("indicators_full", world, Path(tmp) / f"full_{n}.parquet", "4GB")
            except RuntimeError as exc:  # report it, keep the suite going
                full_rows.append(f"| {n:,} | did not finish: {str(exc).splitlines()[-1][:80]} | | | | |")
                continue
            full_rows.append(
                f"| {n:,} | {full['columns'] - 2} | {full['rows']:,} | {full['compute_s']:.1f} | {full['raw_rows'] / full['compute_s']:,.0f} | {full['peak_gb']:.2f} |"
            )
    lines += [
        "",
        "**Full default indicator set** (every indicator, validation included, streamed to",
        "Parquet with `build_indicators(..., path=...)`, 100,000 customers at a time, on a DuckDB",
        "connection with `memory_limit='4GB'`):",
        "",
        "| customers | indicators | snapshot rows | wall (s) | raw rows/s | peak RSS (GiB) |",
        "|---:|---:|---:|---:|---:|---:|",
        *full_rows,
        "",
    ]
    return lines


def _runs(runs: int) -> str:
    return f"median of {runs} runs" if runs > 1 else "one run"


def causes(scale: int, runs: int = 1) -> list[str]:
    n = 100_000 // scale
    r = run_isolated("explain_causes", _world(n), runs)
    return [
        "## Cause attribution",
        "",
        f"The default `ChurnModel` (survival model off: it plays no part in the causes) trained on a {n:,}-customer world",
        f"(fit: indicators for every labelled month, labels, scorecard and LightGBM: {r['fit_s']:.0f} s); the model has",
        f"{r['trees']} trees over {r['features']} features.",
        f"Cause shares for all {r['rows']:,} customers as of the month after the data (churnml: {_runs(runs)};",
        "shap: one run), both through the same grouping (`churnml.scoring.causes.cause_shares`), peak RSS of the whole process",
        f"{r['peak_gb']:.2f} GiB.",
        "",
        "| method | wall (s) | vs shap | max abs difference in cause shares |",
        "|---|---:|---:|---:|",
        f"| churnml `FastTreeShap` (exact TreeSHAP once per decision pattern and tree) | {r['churnml_s']:.1f} | {r['shap_s'] / r['churnml_s']:.1f}x faster | {r['max_abs_diff']:.1e} |",
        f"| reference: `shap.TreeExplainer(model).shap_values` | {r['shap_s']:.1f} | 1.0x | |",
        "",
    ]


def serving(scale: int, runs: int = 3) -> list[str]:
    n = 20_000 // scale
    repeats = 200
    r = run_isolated("serving_latency", n, repeats)
    rows = [
        ("in-process `warning_columns(model, rows)`", "in_process_1", "in_process_1000"),
        ("REST `POST /invocations` (`mlflow models serve`, JSON)", "rest_1", "rest_1000"),
    ]
    return [
        "## Scoring latency",
        "",
        f"The default model trained on a {n:,}-customer world; indicator rows of its test snapshot",
        f"({r['warned_share']:.0%} of them warned, and so explained with TreeSHAP and reasons). One customer:",
        f"{repeats} random single rows; batch: {max(5, repeats // 10)} random sets of 1,000 rows. REST goes to",
        "`mlflow models serve --env-manager local` on 127.0.0.1 from the same machine.",
        "",
        "| path | 1 customer p50 (ms) | 1 customer p99 (ms) | 1,000 customers p50 (ms) | 1,000 customers p99 (ms) |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {label} | {r[one]['p50_ms']:.0f} | {r[one]['p99_ms']:.0f} | {r[batch]['p50_ms']:.0f} | {r[batch]['p99_ms']:.0f} |"
            for label, one, batch in rows
        ],
        "",
    ]


TRAINED: dict[int, Path] = {}  # models the training suite saved in this run, by world size, for the engines suite


def training(scale: int) -> list[str]:
    # (customers in the world, share of them sampled for training)
    # the 100,000-customer world's fit is in the cause attribution section
    sizes = [(10_000 // scale, 1.0), (1_000_000 // scale, 0.125)]
    got = {}
    for n, share in sizes:
        save = HERE / ".data" / f"model_{n}" if share == 1 else ""
        got[(n, share)] = run_isolated("train_model", _world(n), save, share)
        if save:
            TRAINED[n] = save
    return [
        "## Model training",
        "",
        "The default `ChurnModel` (rule scorecard and LightGBM with early stopping, both calibrated,",
        "MLflow off) on every labelled month of a world: first the training frame (indicators and",
        "labels for every snapshot, DuckDB), then the fit (pandas, LightGBM on 2 threads). The largest",
        "world trains on a random 12.5% of its customers drawn by `Tables.sample_customers` (the path for",
        "bases larger than one machine: the draw runs on the engine, only the sample reaches pandas).",
        "Peak RSS is the whole process.",
        "",
        "| customers in the world | sampled | customer-snapshots | churners | trees | frame (s) | fit (s) | fit rows/s | peak RSS (GiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {n:,} | {share:.1%} | {r['rows']:,} | {r['churners']:,} | {r['trees']} | {r['frame_s']:.1f} | {r['fit_s']:.1f} | "
            f"{r['rows'] / r['fit_s']:,.0f} | {r['peak_gb']:.2f} |"
            for (n, share), r in got.items()
        ],
        "",
    ]


def engines(scale: int) -> list[str]:
    import tempfile

    import pandas as pd

    train_world, sizes = 10_000 // scale, [100_000 // scale]
    lines = [
        "## Warning list: DuckDB vs Spark",
        "",
        f"The default model trained on the {train_world:,}-customer world scores every customer of the {sizes[0]:,}-customer world",
        "from its raw Parquet tables and writes the warning list (indicators as of the month after the",
        "data and 3 months earlier, statuses, TreeSHAP causes and reasons for the warned customers).",
        "DuckDB: `churnml.score` + `churnml.write_outputs` in one process. Spark: `churnml.ops.spark.score_spark` +",
        "`write_spark` in local mode (`local[2]`, 8 GB driver); session start-up is shown apart.",
        "",
        "| customers | engine | wall (s) | customers/s | start-up (s) | peak RSS of the Python process (GiB) | vs DuckDB | same list |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        model = TRAINED.get(train_world) or Path(tmp) / "model"
        if train_world not in TRAINED:
            run_isolated("train_model", _world(train_world), model)
        for n in sizes:
            results = {e: run_isolated("score_world", e, _world(n), model, Path(tmp) / f"{e}_{n}") for e in ("duckdb", "spark")}
            local = pd.read_parquet(Path(tmp) / f"duckdb_{n}.parquet", columns=["customer_id", "warning_level", "primary_cause"])
            remote = pd.read_parquet(Path(tmp) / f"spark_{n}", columns=["customer_id", "warning_level", "primary_cause"])
            same = "yes" if local.fillna("-").astype(str).equals(remote.fillna("-").astype(str)) else "no"
            for engine, r in results.items():
                lines.append(
                    f"| {n:,} | {engine} | {r['compute_s']:.1f} | {r['customers'] / r['compute_s']:,.0f} | {r['startup_s']:.1f} | "
                    f"{r['peak_gb']:.2f} | {r['compute_s'] / results['duckdb']['compute_s']:.1f}x | {'reference' if engine == 'duckdb' else same} |"
                )
    lines += [
        "",
        "Same list: the same customers in the same order with the same levels and primary causes.",
        "Spark's executors run in the JVM and in Python workers outside the measured process.",
        "",
    ]
    return lines


def cost(scale: int) -> list[str]:
    n = 10_000 // scale
    r = run_isolated("fit_against_hand", n)
    return [
        "## Cost against a hand-made pipeline",
        "",
        f"One process, a fresh {n:,}-customer, 24-month world (`make_synthetic(seed=11)`). **Default fit**:",
        "`ChurnModel({'tracking': {'enabled': False}}).fit(world)`: indicators and labels for every labelled month and the",
        "lapsed snapshots, the rule scorecard, LightGBM, the hazard model, the return model, RFM logistic regression, BG/NBD",
        "and Pareto/NBD, calibration, selection, warning policies, values and the scored test slice. **Hand-made**: churnml's own",
        "`make_training_frame` for the same snapshot dates, one early-stopped `LGBMClassifier` (the default hyper-parameters,",
        "LightGBM's own threading) and isotonic `CalibratedClassifierCV(FrozenEstimator(...))`. **One customer**: p50 of 200",
        "random rows of the test snapshot through `churnml.ops.serving.warning_columns` (probability, health, level, values,",
        "survival curve; causes and reasons for the warned), against the hand-made booster's `predict` plus the",
        "`shap_values` of a `shap.TreeExplainer(booster)` built once, on the same row (an explained score written by hand);",
        "and the same for 10 random sets of 1,000 rows.",
        "",
        "| | churnml | hand-made | ratio |",
        "|---|---:|---:|---:|",
        f"| default fit (s) | {r['fit_s']:.1f} | {r['hand_s']:.1f} | {r['fit_s'] / r['hand_s']:.2f}x |",
        f"| one customer, p50 (ms) | {r['one_ms']:.1f} | {r['one_hand_ms']:.1f} | {r['one_ms'] / r['one_hand_ms']:.2f}x |",
        f"| one warned customer (explained), p50 (ms) | {r['one_warned_ms']:.1f} | {r['one_hand_ms']:.1f} | {r['one_warned_ms'] / r['one_hand_ms']:.2f}x |",
        f"| 1,000 customers, p50 (ms) | {r['batch_ms']:.0f} | {r['batch_hand_ms']:.0f} | {r['batch_ms'] / r['batch_hand_ms']:.2f}x |",
        "",
        f"The fit chose `{r['chosen']}` for `churn_probability`; {r['warned_share']:.0%} of the test snapshot is warned.",
        "",
    ]


def end_to_end(scale: int) -> list[str]:
    import tempfile

    train_customers = 20_000 // scale
    lines = [
        "## End to end: raw Parquet to both lists",
        "",
        "`python -m benchmarks.cases end_to_end WORLD OUT 20000`, one process per size: `from_directory` (load and validate",
        f"the 24-month world's Parquet), the default fit on a sample of {train_customers:,} customers drawn by",
        "`Tables.sample_customers` on the engine (MLflow off), `churnml.score` of every customer as of the month after the",
        "data (indicators then and 3 months earlier, statuses, probabilities, values, TreeSHAP causes and reasons for the",
        "warned), `churnml.winback` (every lapsed customer explained at its loss date, return probability, value), both",
        "written with `write_outputs` (Parquet and the people's CSV). Peak RSS is the whole process.",
        "",
        "| customers | wall (s) | peak RSS (GiB) | warned | lapsed | load and validate | fit | warning list | win-back list | writing |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in (10_000 // scale, 100_000 // scale, 1_000_000 // scale):
        with tempfile.TemporaryDirectory() as tmp:
            lines.append(end_to_end_row(run_isolated("end_to_end", _world(n), tmp, train_customers)))
    return lines + [""]


def end_to_end_row(r: dict) -> str:
    """One size's row of the end-to-end table, from the ``end_to_end`` case's result."""
    st = r["stages"]
    share = lambda *names: f"{sum(st[k] for k in names):.0f} s ({sum(st[k] for k in names) / r['wall_s']:.0%})"  # noqa: E731
    return (
        f"| {r['customers']:,} | {r['wall_s']:.0f} | {r['peak_gb']:.2f} | {r['warned']:,} | {r['lapsed']:,} | {share('load and validate')} | "
        f"{share('fit')} | {share('warning list')} | {share('win-back list')} | {share('write warning list', 'write win-back list')} |"
    )


SUITES = {
    "cost": cost, "end_to_end": end_to_end, "generator": generator, "indicators": indicators, "training": training, "causes": causes,
    "serving": serving, "engines": engines,
}
TITLES = {
    "cost": "## Cost against a hand-made pipeline",
    "end_to_end": "## End to end: raw Parquet to both lists",
    "generator": "## Synthetic world generator",
    "indicators": "## Indicator engine",
    "training": "## Model training",
    "causes": "## Cause attribution",
    "serving": "## Scoring latency",
    "engines": "## Warning list: DuckDB vs Spark",
}


def _sections(text: str) -> dict[str, list[str]]:
    """The existing file's suite sections, by title, to keep those not run this time."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line if line in TITLES.values() else None
            if current:
                out[current] = []
        if current:
            out[current].append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x smaller worlds; writes RESULTS.quick.md")
    parser.add_argument("--only", choices=sorted(SUITES), action="append", help="run only these suites")
    parser.add_argument(
        "--runs", type=int, default=1, help="runs per indicator case at 100k and of churnml's cause shares (median reported; 1M runs once)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    scale = 10 if args.quick else 1
    command = (
        "python -m benchmarks" + (" --quick" if args.quick else "") + (f" --runs {args.runs}" if args.runs != 1 else "")
        + "".join(f" --only {s}" for s in args.only or [])
    )
    lines = [
        "# Benchmark results",
        "",
        f"Last written by `{command}` on {dt.date.today()} at commit {_commit()}; with `--only`, the other",
        "sections are kept from earlier runs and each says how it was measured.",
        "",
        f"Machine: {_machine()}.",
        "",
        f"Load average when the command started: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores; above about 0.5,",
        "other work shared the machine, which slows LightGBM's multi-threaded peers more than churnml's single thread.",
        "",
        "Wall time and peak resident memory are measured per case in a fresh process.",
        "The machine is shared: compare the ratios within one run, not absolute",
        "seconds across runs.",
        "",
    ]
    target = HERE / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    kept = _sections(target.read_text()) if target.exists() and args.only else {}
    for name in SUITES:
        if lines[-1] != "":
            lines.append("")
        if args.only and name not in args.only:
            if TITLES[name] in kept:
                lines += kept[TITLES[name]]
            continue
        section = SUITES[name](scale, args.runs) if name in ("indicators", "causes") else SUITES[name](scale)
        lines += [section[0], "", f"Measured by `{command}` on {dt.date.today()}.", *section[1:]]
    minutes = (time.perf_counter() - started) / 60
    lines.insert(5, f"The whole command took {minutes:.1f} minutes{' (only ' + ', '.join(args.only) + ')' if args.only else ''}.\n")
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(target)
    print(target.read_text())


if __name__ == "__main__":
    main()
