"""The command line: the README's demo in a fresh process, every other command in this one (churnml.cli.main)."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import run_cli as churnml


def test_demo_runs_on_the_bundled_sample(tmp_path):
    # the README's first command, as a user types it: a fresh interpreter through python -m churnml
    out = subprocess.run([sys.executable, "-m", "churnml", "demo"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "orders" in out.stdout and "Out-of-time test slice" in out.stdout
    assert "auc_roc" in out.stdout and "Top 10 warnings as of 2026-01-01" in out.stdout
    assert (tmp_path / "churnml-demo" / "model" / "model.pickle").is_file()
    assert (tmp_path / "churnml-demo" / "report" / "reliability.png").is_file()


@pytest.mark.parametrize("command", ["demo", "train", "retrain", "score", "winback", "report", "validate", "generate", "indicators", "kpis"])
def test_every_command_has_help(command):
    out = churnml(command, "--help")
    assert out.returncode == 0 and f"Usage: churnml {command}" in out.stdout


def test_bad_input_is_one_clear_line_without_traceback(tmp_path):
    pd.DataFrame({"order_id": [1, 2], "customer_id": ["a", "b"], "order_date": ["2024-01-01", "2024-13-02"], "amount": [1.0, 2.0]}).to_parquet(
        tmp_path / "orders.parquet"
    )
    out = churnml("validate", str(tmp_path))
    assert out.returncode == 2  # bad input, like a usage error
    assert "table 'orders', column 'order_date': 1 row(s) could not be read as timestamp" in out.stderr
    assert "Traceback" not in out.stderr
    verbose = churnml("--verbose", "validate", str(tmp_path))
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr

    missing = churnml("validate", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_an_unexpected_failure_is_one_line_with_exit_code_1_and_a_traceback_only_with_debug(tmp_path, monkeypatch):
    from churnml import cli

    def broken(*args, **kwargs):
        raise KeyError("a bug, not the user's input")

    monkeypatch.setattr(cli, "load_tables", broken)
    out = churnml("validate", str(tmp_path))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == ['error: KeyError: "a bug, not the user\'s input" (run with --debug for the traceback)']
    debug = churnml("--debug", "validate", str(tmp_path))
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "KeyError" in debug.stderr


def test_generate_then_validate(tmp_path):
    out = churnml("generate", str(tmp_path / "world"), "--customers", "200", "--months", "6", "--seed", "4", "--interventions")
    assert out.returncode == 0, out.stderr
    out = churnml("validate", str(tmp_path / "world"))
    assert out.returncode == 0, out.stderr
    assert "market_events" in out.stdout and "interventions" in out.stdout


def test_indicators_command_writes_parquet(tmp_path):
    from churnml.datasets import SAMPLE_DIR

    out = churnml("indicators", str(SAMPLE_DIR), "--as-of", "2025-06-01", "--as-of", "2025-07-01", "--out", str(tmp_path / "p.parquet"))
    assert out.returncode == 0, out.stderr
    panel = pd.read_parquet(tmp_path / "p.parquet")
    assert panel.as_of.nunique() == 2 and not panel.duplicated(["customer_id", "as_of"]).any()
    mid = churnml("indicators", str(SAMPLE_DIR), "--as-of", "2025-06-15", "--out", str(tmp_path / "q.parquet"))
    assert mid.returncode == 0, mid.stderr  # any day: the snapshot at the month start on or before it
    assert (pd.read_parquet(tmp_path / "q.parquet").as_of == pd.Timestamp("2025-06-01")).all()
    bad = churnml("indicators", str(SAMPLE_DIR), "--as-of", "mid-June", "--out", str(tmp_path / "r.parquet"))
    assert bad.returncode == 2 and "is not a date" in bad.stderr and not (tmp_path / "r.parquet").exists()


def test_usage_error_exits_non_zero():
    out = churnml("generate")
    assert out.returncode == 2 and "Missing argument" in out.stderr


def test_an_unknown_model_is_bad_input_and_the_lookup_creates_no_store(tmp_path):
    # the lookup created an empty mlflow.db in the working directory, then said the model was not in it
    from churnml.datasets import SAMPLE_DIR

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run(
        [sys.executable, "-m", "churnml", "score", str(SAMPLE_DIR), "--model", "models:/churnml@champion"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert out.returncode == 2 and "there is no tracking store at" in out.stderr and "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_winback_command_writes_the_list_in_the_chosen_language(tmp_path, sample_model):
    from churnml.datasets import SAMPLE_DIR
    from churnml.messages import catalog

    model_dir = sample_model.save(tmp_path / "model")
    out = churnml("winback", str(SAMPLE_DIR), "--model", str(model_dir), "--lookback-months", "12", "--language", "zh", "--out", str(tmp_path / "wb"))
    assert out.returncode == 0, out.stderr
    assert "lapsed customers" in out.stdout
    lost = pd.read_parquet(tmp_path / "wb.parquet")
    assert len(lost) and lost.customer_id.is_unique and (lost.lost_on >= pd.Timestamp("2025-01-01")).all()
    people = pd.read_csv(tmp_path / "wb.csv", encoding="utf-8-sig")
    assert catalog("zh")["column.strategy"] in people.columns and len(people) == len(lost)
    bad = churnml("winback", str(SAMPLE_DIR), "--model", str(model_dir), "--lookback-months", "0")
    assert bad.returncode == 2
