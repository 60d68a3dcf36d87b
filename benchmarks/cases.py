"""Benchmark cases; each runs in its own process (see _measure.py)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from benchmarks._measure import case, run_here


def latencies(fn, calls: list) -> dict:
    """p50 and p99 in milliseconds of ``fn(call)`` over ``calls``, after one warm-up call."""
    import time

    fn(calls[0])
    seconds = []
    for call in calls:
        start = time.perf_counter()
        fn(call)
        seconds.append(time.perf_counter() - start)
    return {"p50_ms": float(np.percentile(seconds, 50) * 1e3), "p99_ms": float(np.percentile(seconds, 99) * 1e3)}


@case
def generate_to_parquet(n: str) -> dict:
    """write_synthetic: generate chunk by chunk straight to Parquet."""
    from churnml.datasets import write_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        write_synthetic(tmp, int(n), months=24, seed=11)
        rows = sum(pq.ParquetFile(p).metadata.num_rows for p in Path(tmp).rglob("*.parquet") if "truth" not in p.parts)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet"))
    return {"rows": int(rows), "parquet_gb": size / 2**30}


@case
def parquet_write_floor(rows: str) -> dict:
    """Reference: write the same number of rows of random (id, time stamp, value) to Parquet."""
    rng = np.random.default_rng(0)
    n = int(rows)
    with tempfile.TemporaryDirectory() as tmp:
        for i, lo in enumerate(range(0, n, 5_000_000)):
            k = min(5_000_000, n - lo)
            pd.DataFrame(
                {
                    "customer_id": pd.Categorical.from_codes(rng.integers(0, 50_000, k), [f"C{j:07d}" for j in range(50_000)]),
                    "timestamp": (rng.integers(1.70e9, 1.77e9, k)).astype("datetime64[s]"),
                    "value": rng.random(k),
                }
            ).to_parquet(Path(tmp) / f"{i}.parquet", compression="zstd")
    return {"rows": n}


@case
def indicators_subset(engine: str, world: str, out: str) -> dict:
    """The reference subset by one engine; the panel is written to ``out`` after timing, for the equality check.

    The clock starts once the engine's library is imported (a once-per-process cost, reported as ``import_s``).
    """
    import importlib
    import time

    from benchmarks import peers

    fn = {"churnml": peers.churnml_subset, "pandas": peers.pandas_subset, "polars": peers.polars_subset, "floor": peers.duckdb_floor, "scan": peers.duckdb_scan}[engine]
    start = time.perf_counter()
    importlib.import_module({"churnml": "churnml", "pandas": "pandas", "polars": "polars"}.get(engine, "duckdb"))
    imported = time.perf_counter() - start
    seconds = {}
    start = time.perf_counter()
    panel = fn(Path(world), peers.snapshot_dates(), seconds) if engine == "churnml" else fn(Path(world), peers.snapshot_dates())
    compute = time.perf_counter() - start
    panel.to_parquet(out)
    return {"compute_s": compute, "import_s": imported, "validation_s": seconds.get("validation"), "rows": len(panel)}


@case
def same_panel(reference: str, other: str) -> dict:
    """'yes' when two panels agree to 1e-9 with NaN in the same places, else what differs."""
    from benchmarks.peers import SUBSET

    a = pd.read_parquet(reference).sort_values(["as_of", "customer_id"], ignore_index=True)
    b = pd.read_parquet(other).sort_values(["as_of", "customer_id"], ignore_index=True)
    if len(a) != len(b) or not (a.customer_id.astype(str).to_numpy() == b.customer_id.astype(str).to_numpy()).all():
        return {"same": f"rows differ ({len(a)} vs {len(b)})"}
    bad = []
    for col in SUBSET:
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        if not ((np.isnan(x) & np.isnan(y)) | np.isclose(x, y, rtol=1e-9, atol=1e-9)).all():
            bad.append(col)
    return {"same": "yes" if not bad else "differs in " + ", ".join(bad)}


@case
def indicators_full(world: str, out: str, memory_limit: str) -> dict:
    """Every default indicator, 12 snapshots, streamed to Parquet by DuckDB under a memory limit."""
    import time

    import ibis

    import churnml as cm
    from benchmarks import peers

    con = ibis.duckdb.connect(memory_limit=memory_limit)
    con.raw_sql("SET TimeZone = 'UTC'")
    start = time.perf_counter()
    tables = cm.from_directory(world, con=con)
    cm.build_indicators(tables, peers.snapshot_dates(), path=out)
    compute = time.perf_counter() - start
    raw_rows = sum(tables.report.rows_in.values())
    return {"compute_s": compute, "raw_rows": raw_rows, "rows": pq.ParquetFile(out).metadata.num_rows, "columns": pq.ParquetFile(out).metadata.num_columns}


@case
def explain_causes(world: str, runs: str) -> dict:
    """Train the default model on a world, then cause shares for every customer: churnml vs shap.TreeExplainer.

    The survival model is off: it plays no part in the causes, and its fit would only lengthen the suite.
    """
    import time

    import shap

    import churnml as cm
    from churnml.models.treeshap import FastTreeShap
    from churnml.scoring.causes import cause_shares
    from churnml.data.calendar import latest_month_start

    tables = cm.from_directory(world)
    start = time.perf_counter()
    model = cm.ChurnModel({"survival": {"enabled": False}}).fit(tables)
    fit_s = time.perf_counter() - start
    rows = cm.build_indicators(tables, latest_month_start(tables))
    X = model.schema_.transform(rows)
    booster = model.fitted_.explained_by.estimator.booster_
    causes = model.config_.causes.indicator_causes
    names = booster.feature_name()

    def shares(phi: np.ndarray) -> pd.DataFrame:  # the same grouping for both, as ChurnModel.predict_frame does it
        contributions = pd.DataFrame(phi[:, : len(names)], columns=names)
        return cause_shares(contributions.where(X[names].notna().to_numpy(), 0.0), causes)

    timings = {"churnml": [], "shap": []}
    for _ in range(int(runs)):
        start = time.perf_counter()
        ours = shares(FastTreeShap(booster).contributions(X))  # includes parsing the trees
        timings["churnml"].append(time.perf_counter() - start)
    # shap's time varies less than ours (one long run) and is the dearest case of the suite: measured once
    start = time.perf_counter()
    theirs = shares(shap.TreeExplainer(model.fitted_.explained_by.estimator).shap_values(X))
    timings["shap"].append(time.perf_counter() - start)
    return {
        "rows": len(X),
        "trees": booster.num_trees(),
        "features": len(names),
        "fit_s": fit_s,
        "churnml_s": float(np.median(timings["churnml"])),
        "shap_s": float(np.median(timings["shap"])),
        "max_abs_diff": float(np.abs(ours.to_numpy() - theirs.to_numpy()).max()),
    }


@case
def serving_latency(customers: str, repeats: str) -> dict:
    """p50/p99 latency of scoring indicator rows in-process and over REST (mlflow models serve)."""
    import json
    import os
    import socket
    import subprocess
    import time
    import urllib.request

    import churnml as cm
    from churnml.ops.serving import warning_columns

    tmp = Path(tempfile.mkdtemp())
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    world, _ = cm.datasets.make_synthetic(int(customers), months=24, seed=11)
    model = cm.ChurnModel().fit(world)
    rows = cm.build_indicators(world, model.holdout_.split.test[0])[["customer_id", *model.schema_.columns]]
    rng = np.random.default_rng(0)
    n = int(repeats)

    def payload(frame: pd.DataFrame) -> bytes:
        clean = frame.astype(object).where(frame.notna(), None)
        return json.dumps({"dataframe_split": {"columns": list(clean.columns), "data": clean.to_numpy().tolist()}}).encode()

    singles = [rows.iloc[[i]] for i in rng.integers(0, len(rows), n)]
    batches = [rows.iloc[rng.choice(len(rows), 1000, replace=False)] for _ in range(max(5, n // 10))]
    out = {
        "warned_share": float((model.predict_frame(rows).warning_level > 0).mean()),
        "in_process_1": latencies(lambda b: warning_columns(model, b), singles),
        "in_process_1000": latencies(lambda b: warning_columns(model, b), batches),
    }
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"runs:/{model.run_id_}/model", "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{url}/ping", timeout=1)
                break
            except OSError:
                time.sleep(0.5)

        def post(frame: pd.DataFrame) -> None:
            request = urllib.request.Request(f"{url}/invocations", payload(frame), {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()

        out["rest_1"] = latencies(post, singles)
        out["rest_1000"] = latencies(post, batches)
    finally:
        server.terminate()
        server.wait(30)
    return out


@case
def train_model(world: str, save: str = "", fraction: str = "1") -> dict:
    """The default model on every labelled month of a world (or of a share of its customers): training frame, then fit (MLflow off)."""
    import time

    import churnml as cm
    from churnml.labels import labelled_dates

    config = {"tracking": {"enabled": False}}
    tables = cm.from_directory(world)
    if float(fraction) < 1:
        tables = tables.sample_customers(float(fraction), seed=0)
    start = time.perf_counter()
    frame = cm.make_training_frame(tables, labelled_dates(tables, config=config), config=config)
    frame_s = time.perf_counter() - start
    start = time.perf_counter()
    model = cm.ChurnModel(config).fit_frame(frame)
    fit_s = time.perf_counter() - start
    if save:
        model.save(save)
    return {
        "rows": len(frame), "churners": int(frame.churned.sum()), "snapshots": frame.as_of.nunique(),
        "features": len(model.schema_.columns), "trees": model.fitted_.explained_by.estimator.booster_.num_trees(),
        "frame_s": frame_s, "fit_s": fit_s,
    }


def _spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "8g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.codegen.wholeStage", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


@case
def score_world(engine: str, world: str, model_dir: str, out: str) -> dict:
    """The warning list of every customer of a world from its raw Parquet tables, on DuckDB or on Spark (local mode)."""
    import time

    import churnml as cm

    model = cm.ChurnModel.load(model_dir)
    startup_s = 0.0
    if engine == "duckdb":
        start = time.perf_counter()
        warnings = cm.score(cm.from_directory(world), model)
        cm.write_outputs(warnings, Path(out))
    else:
        import ibis

        from churnml.ops.spark import score_spark, write_spark

        start = time.perf_counter()
        spark = _spark()
        startup_s = time.perf_counter() - start
        start = time.perf_counter()
        tables = cm.from_directory(world, con=ibis.pyspark.connect(spark))
        write_spark(score_spark(tables, model), out)
    compute_s = time.perf_counter() - start
    written = pd.read_parquet(out if engine == "spark" else f"{out}.parquet", columns=["customer_id", "warning_level"])
    return {"customers": len(written), "warned": int((written.warning_level > 0).sum()), "compute_s": compute_s, "startup_s": startup_s}


@case
def end_to_end(world: str, out: str, train_customers: str) -> dict:
    """Raw Parquet to both lists on disk, each stage timed: load and validate, fit (on a sample of at most
    ``train_customers`` customers), the warning list (indicators, scores, causes) and the win-back list, written."""
    import time

    import churnml as cm
    from churnml.data.calendar import latest_month_start

    config = {"tracking": {"enabled": False}}
    seconds, clock = {}, time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    tables = cm.from_directory(world, config)
    customers = int(tables["customers"].count().execute())
    lap("load and validate")
    fraction = min(1.0, int(train_customers) / customers)
    model = cm.ChurnModel(config).fit(tables.sample_customers(fraction, seed=0) if fraction < 1 else tables)
    lap("fit")
    when = latest_month_start(tables)
    warnings = cm.score(tables, model, when)
    lap("warning list")
    cm.write_outputs(warnings, Path(out) / "warnings")
    lap("write warning list")
    lost = cm.winback(tables, model, when)
    lap("win-back list")
    cm.write_outputs(lost, Path(out) / "winback")
    lap("write win-back list")
    return {
        "customers": customers, "trained_on": int(round(fraction * customers)), "warned": int((warnings.warning_level > 0).sum()),
        "listed": len(warnings), "lapsed": len(lost), "stages": seconds,
    }


@case
def fit_against_hand(customers: str) -> dict:
    """The default fit and a hand-made pipeline on the same fresh world and snapshot dates, in one process.

    Hand-made: churnml's own ``make_training_frame`` for the fit's dates, one early-stopped ``LGBMClassifier``
    with the default hyper-parameters and LightGBM's own threading, isotonic ``CalibratedClassifierCV``.
    Then one customer's score: ``warning_columns`` against the hand-made booster's ``predict`` plus the
    ``shap_values`` of a ``shap.TreeExplainer(booster)`` built once, on the same row; and 1,000 customers against the
    same hand path.
    """
    import time
    import warnings as python_warnings

    import lightgbm as lgb
    import shap
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    import churnml as cm
    from churnml.ops.serving import warning_columns

    python_warnings.filterwarnings("ignore", category=UserWarning)
    world, _ = cm.datasets.make_synthetic(int(customers), months=24, seed=11)
    config = {"tracking": {"enabled": False}}
    start = time.perf_counter()
    model = cm.ChurnModel(config).fit(world)
    fit_s = time.perf_counter() - start
    split = model.holdout_.split
    start = time.perf_counter()
    frame = cm.make_training_frame(world, sorted({*split.train, *split.calibration, *split.test}), config=config)
    features = model.schema_.columns
    train, cal = (model.schema_.transform(split.slice(frame, part)) for part in ("train", "calibration"))
    y_train, y_cal = (split.slice(frame, part).churned for part in ("train", "calibration"))
    hand = lgb.LGBMClassifier(
        n_estimators=2000, learning_rate=0.03, num_leaves=15, min_child_samples=50, subsample=0.8, subsample_freq=1,
        colsample_bytree=0.8, reg_lambda=1.0, class_weight="balanced", random_state=0, verbose=-1,
    )
    hand.fit(train, y_train, eval_X=(cal,), eval_y=(y_cal,), eval_metric="auc", callbacks=[lgb.early_stopping(100, verbose=False)])
    CalibratedClassifierCV(FrozenEstimator(hand), method="isotonic").fit(cal, y_cal)
    hand_s = time.perf_counter() - start

    rows = cm.build_indicators(world, split.test[0])[["customer_id", *features]]
    X = model.schema_.transform(rows)
    booster = hand.booster_
    rng = np.random.default_rng(0)

    explainer = shap.TreeExplainer(booster)  # built once, as a hand-written service would

    def by_hand(pick) -> None:
        x = X.iloc[pick]
        booster.predict(x)
        explainer.shap_values(x)

    singles = [[int(i)] for i in rng.integers(0, len(rows), 200)]
    warned = np.flatnonzero(model.predict_frame(rows).warning_level.to_numpy() > 0)
    warned_singles = [[int(i)] for i in rng.choice(warned, 200)]
    batches = [rng.choice(len(rows), 1000, replace=False) for _ in range(10)]
    return {
        "customers": int(customers), "fit_s": fit_s, "hand_s": hand_s, "chosen": model.fitted_.name,
        "one_hand_ms": latencies(by_hand, singles)["p50_ms"],
        "one_ms": latencies(lambda pick: warning_columns(model, rows.iloc[pick]), singles)["p50_ms"],
        "one_warned_ms": latencies(lambda pick: warning_columns(model, rows.iloc[pick]), warned_singles)["p50_ms"],
        "batch_hand_ms": latencies(by_hand, batches)["p50_ms"],
        "batch_ms": latencies(lambda pick: warning_columns(model, rows.iloc[pick]), batches)["p50_ms"],
        "warned_share": float(len(warned) / len(rows)),
    }


if __name__ == "__main__":
    run_here(sys.argv[1], *sys.argv[2:])
