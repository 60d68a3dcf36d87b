"""The command line: the README's demo in a fresh process, every other command in this one (churnml.cli.main)."""

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
    assert (tmp_path / "churnml-demo" / "model" / "model.joblib").is_file()
    assert (tmp_path / "churnml-demo" / "report" / "reliability.png").is_file()


@pytest.mark.parametrize("command", ["demo", "train", "retrain", "score", "report", "validate", "generate", "indicators", "kpis"])
def test_every_command_has_help(command):
    out = churnml(command, "--help")
    assert out.returncode == 0 and f"Usage: churnml {command}" in out.stdout


def test_bad_input_is_one_clear_line_without_traceback(tmp_path):
    pd.DataFrame({"order_id": [1, 2], "customer_id": ["a", "b"], "order_date": ["2024-01-01", "2024-13-02"], "amount": [1.0, 2.0]}).to_parquet(
        tmp_path / "orders.parquet"
    )
    out = churnml("validate", str(tmp_path))
    assert out.returncode == 1
    assert "table 'orders', column 'order_date': 1 row(s) could not be read as timestamp" in out.stderr
    assert "Traceback" not in out.stderr
    verbose = churnml("--verbose", "validate", str(tmp_path))
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr

    missing = churnml("validate", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


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
    bad = churnml("indicators", str(SAMPLE_DIR), "--as-of", "2025-06-15", "--out", str(tmp_path / "q.parquet"))
    assert bad.returncode == 1 and "not the first day of a month" in bad.stderr and not (tmp_path / "q.parquet").exists()


def test_usage_error_exits_non_zero():
    out = churnml("generate")
    assert out.returncode == 2 and "Missing argument" in out.stderr
