"""The retraining job killed with SIGKILL at each step, in a real subprocess: what survives, and what the next run does.

One job's life: a first run promotes a champion and writes the 2025-12-01
list; then the 2026-01-01 run is killed while it fits, logs, registers,
promotes and writes, one kill per attempt (lenient promotion rules make
every challenger win, so promotion is reached); after each, the champion, its
aliases and the previous list must be as they were (after promotion, the
new champion stays, with no list yet), and the lock must be free. Each run
closes the MLflow runs of earlier killed ones; the next run, untouched,
finishes the month.
"""

import hashlib
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

import churnml as cm
from churnml.ops.retrain import retrain

# each step: where the child kills itself, by the name the job calls
KILL_AT = {
    "fit": ("churnml.ops.retrain", "ChurnModel.fit"),
    "logging": ("mlflow", "log_metrics"),
    "registration": ("churnml.ops.tracking", "alias_new_version"),
    "promotion": ("churnml.ops.retrain", "promote"),
    "writing": ("churnml.ops.retrain", "write_outputs"),
}

_CHILD = """
import importlib, os, signal, sys
import churnml.ops.retrain, churnml.ops.tracking
from churnml.ops.retrain import retrain

module, attribute = sys.argv[2], sys.argv[3]
owner = importlib.import_module(module)
*path, name = attribute.split(".")
for part in path:
    owner = getattr(owner, part)

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

setattr(owner, name, killed)
retrain(sys.argv[1], None, "2026-01-01")
"""


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_job_killed_at_each_step_keeps_champion_aliases_and_list_and_the_next_run_finishes(tmp_path):
    cm.datasets.write_synthetic(tmp_path / "world", 400, 24, 3)  # small: seven runs fit on it
    cfg = {
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "registered_model": "faults", "experiment": "faults"},
        # every challenger is promoted: the kills must reach promotion and writing
        "retrain": {"output_dir": str(tmp_path / "out"), "tables": str(tmp_path / "world"), "tolerance": 1.0, "max_ece": 1.0, "min_auc": 0.5},
    }
    config_file = tmp_path / "retrain.yaml"
    config_file.write_text(yaml.safe_dump(cfg))
    first = retrain(cfg, None, "2025-12-01")
    assert first.decision == "promoted"
    client = MlflowClient(tracking_uri=cfg["tracking"]["uri"])
    previous = tmp_path / "out" / "warnings_2025-12-01.parquet"
    digest, people = _digest(previous), _digest(previous.with_suffix(".csv"))
    champion = str(first.challenger_version)

    for step, (module, attribute) in KILL_AT.items():
        child = subprocess.run([sys.executable, "-c", _CHILD, str(config_file), module, attribute], capture_output=True, text=True, timeout=900)
        assert child.returncode == -9, f"{step}: {child.stderr[-3000:]}"
        aliases = {k: str(v) for k, v in client.get_registered_model("faults").aliases.items()}
        if step == "writing":  # killed after promotion: the new champion stands, its list is not written yet
            assert aliases["champion"] != champion
            champion = aliases["champion"]
        else:
            assert aliases["champion"] == champion, step
        assert _digest(previous) == digest and _digest(previous.with_suffix(".csv")) == people, step
        assert not (tmp_path / "out" / "warnings_2026-01-01.parquet").exists(), step

    experiment = client.get_experiment_by_name("faults")
    after = retrain(cfg, None, "2026-01-01")  # the lock is free; the month was promoted by the run killed while writing
    assert after.decision == "already_done" and after.champion_version == champion
    listing = pd.read_parquet(tmp_path / "out" / "warnings_2026-01-01.parquet")
    assert len(listing) == 400 and listing.customer_id.is_unique
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".") and p.name != ".retrain.lock"]
    # the runs killed while logging and registering were left RUNNING; each later run closes them
    statuses = {r.info.run_id: r.info.status for r in client.search_runs([experiment.experiment_id])}
    assert "RUNNING" not in statuses.values() and list(statuses.values()).count("FAILED") >= 2, statuses
    assert str(client.get_registered_model("faults").aliases["champion"]) == champion
