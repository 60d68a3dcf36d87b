"""MLflow: a run per fit, models from code, the registry, REST serving, a real tracking server."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import churnml as cm
from churnml.ops.serving import OUTPUT_COLUMNS, RequestError, warning_columns
from churnml.ops.registry import TrackingError
from churnml.ops.tracking import data_fingerprint, flatten

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def _post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _split_payload(rows: pd.DataFrame) -> dict:
    clean = rows.astype(object).where(rows.notna(), None)
    return {"dataframe_split": {"columns": list(clean.columns), "data": clean.to_numpy().tolist()}}


@pytest.fixture(scope="module")
def run(sample_model):
    """The run of the session's fitted sample model, logged as a fit logs it (the fit hook calls log_run(model, tables)).

    The session fits it once with tracking off and shares it between the xdist workers; each worker's
    MLflow store gets this run here. That a fit itself logs its run is tested below (a fit from tables,
    a fit against a real tracking server).
    """
    cm.ops.tracking.log_run(sample_model)  # sets sample_model.run_id_, as the fit hook does
    return mlflow.get_run(sample_model.run_id_)


def test_a_fit_logs_config_data_metrics_plots_and_the_model(run, sample_model):
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["model.lightgbm.num_leaves"] == "15" and params["labels.churn.days"] == "180"
    assert params["churn.kind"] == "inactivity" and params["churn.horizon_days"] == "270"
    assert params["as_of.test"] == "2025-04-01"
    assert metrics["lightgbm.auc_roc"] == pytest.approx(cm.evaluation.report(sample_model).metrics.loc["auc_roc", "lightgbm"])
    assert {"lightgbm.level1.precision", "scorecard.level2.recall", "lightgbm.ece_before", "lightgbm.ece_after"} <= set(metrics)
    # the estimator choice on the calibration slice, and what it was made between
    assert tags["estimator"] == sample_model.fitted_.name
    for name, auc in sample_model.selection_.items():
        assert metrics[f"selection.{name}.calibration_auc_roc"] == pytest.approx(auc)
    assert {"selection.lightgbm.calibration_auc_roc", "selection.bgnbd.calibration_auc_roc", "baseline.bgnbd.auc_roc"} <= set(metrics)
    # the honest number beside the headline: the AUC among customers still active at as_of
    main = sample_model.fitted_.name
    assert metrics[f"{main}.auc_roc_still_active"] == pytest.approx(cm.evaluation.report(sample_model).still_active[main])
    assert tags["churnml_version"] == cm.__version__ and tags["git_commit"]
    client = MlflowClient()
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "split.json", "data_fingerprint.json", "feature_importance.csv", "cause_distribution.csv", "report"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert "report/reliability.png" in plots and "report/report.md" in plots


def test_fit_from_tables_logs_the_data_fingerprint(sample):
    model = cm.ChurnModel({"tracking": {"registered_model": "fingerprint-test"}}).fit(sample, as_of=list(pd.date_range("2024-12-01", "2025-04-01", freq="MS")))
    params = mlflow.get_run(model.run_id_).data.params
    assert params["data.orders.rows"] == "88916"
    assert params["data.orders.range"].startswith("2024-01-01")
    fingerprint = data_fingerprint(sample)
    assert fingerprint["orders"]["content_hash"] == data_fingerprint(cm.datasets.load_sample())["orders"]["content_hash"]
    shuffled = cm.from_pandas({"orders": sample.to_pandas("orders").sample(frac=1, random_state=0)})
    assert data_fingerprint(shuffled)["orders"]["content_hash"] == fingerprint["orders"]["content_hash"]  # order-independent
    changed = sample.to_pandas("orders")
    changed.loc[0, "amount"] += 1
    assert data_fingerprint(cm.from_pandas({"orders": changed}))["orders"]["content_hash"] != fingerprint["orders"]["content_hash"]


def test_flatten_config():
    flat = flatten(cm.Config().model_dump(mode="json"))
    assert flat["levels.strategy"] == "fixed" and json.loads(flat["levels.capacity"]) == [50, 100, 200]


def test_registry_aliases_and_every_way_to_load(run, sample_model, tmp_path):
    client = MlflowClient()
    (version,) = client.search_model_versions(f"run_id='{run.info.run_id}'")  # other fits in the suite register too
    rows = sample_model.holdout_.example
    expected = warning_columns(sample_model, rows)
    cm.ops.registry.promote("churnml", version.version)
    assert client.get_model_version_by_alias("churnml", "champion").version == version.version
    for uri in (f"models:/churnml/{version.version}", f"runs:/{run.info.run_id}/model", "models:/churnml@champion"):
        pd.testing.assert_frame_equal(warning_columns(cm.load_model(uri), rows), expected)
    saved = sample_model.save(tmp_path / "saved")
    pd.testing.assert_frame_equal(warning_columns(cm.load_model(saved), rows), expected)
    with pytest.raises(TrackingError, match="cannot load model models:/churnml/999"):
        cm.load_model("models:/churnml/999")


def test_pyfunc_refuses_absent_indicators_unless_allowed_and_then_names_them(run, sample_model):
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    rows = sample_model.holdout_.example.drop(columns=["as_of", "login_ratio", "csat_3m"])
    with pytest.raises(RequestError, match=r"lack: login_ratio, csat_3m\. Give"):
        pyfunc.predict(rows)
    out = pyfunc.predict(rows, params={"allow_missing": True})
    at = OUTPUT_COLUMNS.index("warning_level") + 1  # the survival model's columns follow the level
    survival = ["p_churn_30d", "p_churn_60d", "p_churn_90d", "survival_curve", "expected_active_months"]
    assert list(out.columns) == OUTPUT_COLUMNS[:at] + survival + OUTPUT_COLUMNS[at:] + ["missing_inputs"] and len(out) == len(rows)
    assert (out.missing_inputs == "login_ratio, csat_3m").all()  # other columns show activity and surveys are there
    pd.testing.assert_frame_equal(out, warning_columns(sample_model, rows, allow_missing=True))
    signature = pyfunc.metadata.signature
    assert signature.inputs is None and signature.params.to_dict() == [{"name": "allow_missing", "default": False, "shape": None, "type": "boolean"}]


def test_embedded_default_is_sqlite_in_the_working_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    code = (
        "import churnml as cm, pandas as pd\n"
        "m = cm.ChurnModel().fit(cm.datasets.load_sample(), as_of=list(pd.date_range('2024-12-01', '2025-04-01', freq='MS')))\n"
        "print(m.run_id_)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "mlflow.db").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert client.get_run(out.stdout.split()[-1]).info.status == "FINISHED"


def _few_customers(frame: pd.DataFrame, n: int = 400) -> pd.DataFrame:
    """The snapshots of the frame's first n customers: a fit to log in seconds (the model's quality is not what is asserted)."""
    return frame[frame.customer_id.isin(frame.customer_id.unique()[:n])]


def test_unreachable_tracking_server_fails_clearly_and_leaves_no_open_run(sample_frame):
    model = cm.ChurnModel({"tracking": {"uri": "http://127.0.0.1:9"}})
    with pytest.raises(TrackingError, match=r"http://127.0.0.1:9 is unreachable"):
        model.fit_frame(_few_customers(sample_frame))
    assert mlflow.active_run() is None


@pytest.fixture(scope="module")
def rest(run, sample_model):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"runs:/{run.info.run_id}/model", "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/ping", process)
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        process.terminate()
        process.wait(30)


def _mixed_rows(model, frame: pd.DataFrame) -> pd.DataFrame:
    """Ten test-slice customers: the five riskiest (warned, with causes and reasons) and five others."""
    test = frame[frame.as_of == model.holdout_.split.test[0]].reset_index(drop=True)
    risk = model.predict_proba(test)[:, 1]
    order = np.argsort(-risk)
    rows = test.iloc[np.r_[order[:5], order[-5:]]]
    return rows[["customer_id", *model.schema_.columns]].reset_index(drop=True)


def _none_for_missing(values: pd.Series) -> list:
    return [None if not isinstance(v, (dict, list)) and pd.isna(v) else v for v in values]


def test_rest_endpoint_equals_in_process_scoring(rest, sample_model, sample_frame):
    rows = _mixed_rows(sample_model, sample_frame)
    status, body = _post(rest, _split_payload(rows))
    assert status == 200, body
    got = pd.DataFrame(body["predictions"])
    expected = warning_columns(sample_model, rows)
    assert got.customer_id.tolist() == expected.customer_id.tolist()
    np.testing.assert_allclose(got.churn_probability, expected.churn_probability, rtol=1e-12)
    np.testing.assert_allclose(got.health_score, expected.health_score, rtol=1e-12)
    assert got.warning_level.tolist() == expected.warning_level.tolist()
    assert (expected.warning_level > 0).sum() >= 5
    for column in ("primary_cause", "cause_shares", "top_indicators", "reasons", "action", "owner", "value_tier", "quadrant"):
        assert _none_for_missing(got[column]) == _none_for_missing(expected[column]), column


def test_rest_rejects_bad_payloads_with_a_clear_4xx(rest, sample_model):
    rows = sample_model.holdout_.example.drop(columns=["as_of"]).head(2).reset_index(drop=True)
    status, body = _post(rest, _split_payload(rows.drop(columns=["customer_id"])))
    assert status == 400 and "every row needs a customer_id" in body["message"] and "Traceback" not in body["message"]
    assert "Failed to predict" not in body["message"] and len(body["message"]) < 400  # churnml's line, not a dump of the request
    wrong = rows.astype(object)
    wrong["amount_ratio"] = "a lot"
    status, body = _post(rest, _split_payload(wrong))
    assert status == 400 and "column 'amount_ratio': expected a number or null, got 'a lot'" in body["message"]


@pytest.mark.parametrize(
    "column, value, said",
    [
        ("amount_ratio", True, "column 'amount_ratio': expected a number or null, got True"),  # MLflow's schema made it 1.0
        ("customer_id", {"a": 1}, "customer_id must be a text or an integer, got {'a': 1}"),
        ("amount_ratio", float("inf"), "column 'amount_ratio': expected a finite number within 1e+15, got inf"),
        ("amount_ratio", 1e308, "column 'amount_ratio': expected a finite number within 1e+15, got 1e+308"),
    ],
)
def test_rest_answers_nonsense_values_with_400_naming_the_column(rest, sample_model, column, value, said):
    # each was scored with 200 (1e308 printed a 300-digit number in a reason)
    rows = sample_model.holdout_.example.drop(columns=["as_of"]).head(2).reset_index(drop=True).astype(object)
    rows.at[1, column] = value
    status, body = _post(rest, _split_payload(rows))
    assert status == 400 and said in body["message"], body


def test_rest_refuses_misspelt_or_absent_indicators_and_oversized_batches(rest, sample_model):
    rows = sample_model.holdout_.example.drop(columns=["as_of"]).head(2).reset_index(drop=True)
    status, body = _post(rest, _split_payload(pd.DataFrame({"customer_id": ["a"], "health": [50], "level": [2]})))
    assert status == 400 and "these inputs lack" in body["message"] and "amount_ratio" in body["message"]  # was health 50, level 2
    misspelt = rows.rename(columns={"amount_ratio": "amount_ration"})
    status, body = _post(rest, _split_payload(misspelt))
    assert status == 400 and "lack: amount_ratio. Give" in body["message"]  # orders are there: the column is what is missing
    status, body = _post(rest, {**_split_payload(misspelt), "params": {"allow_missing": True}})
    assert status == 200 and {p["missing_inputs"] for p in body["predictions"]} == {"amount_ratio"}
    limit = sample_model.config_.serving.max_rows
    many = rows.iloc[[0] * (limit + 1)].reset_index(drop=True)
    status, body = _post(rest, _split_payload(many))
    assert status == 413 and f"more than serving.max_rows ({limit:,})" in body["message"]


def test_a_real_tracking_server_logs_registers_and_loads(tmp_path, sample_frame, sample_model):
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "artifacts"),
            "--workers", "1",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait(f"{uri}/health", process)
        model = cm.ChurnModel({"tracking": {"uri": uri, "experiment": "remote", "registered_model": "remote-churn"}}).fit_frame(_few_customers(sample_frame))
        client = MlflowClient(tracking_uri=uri)
        assert client.get_run(model.run_id_).info.status == "FINISHED"
        # the first version of a name is both challenger and champion
        assert client.get_model_version_by_alias("remote-churn", "champion").run_id == model.run_id_
        assert client.get_model_version_by_alias("remote-churn", "challenger").run_id == model.run_id_
        mlflow.set_tracking_uri(uri)
        loaded = cm.load_model("models:/remote-churn@champion")
        rows = sample_model.holdout_.example
        pd.testing.assert_frame_equal(warning_columns(loaded, rows), warning_columns(model, rows))
        assert any((tmp_path / "artifacts").rglob("model.pickle"))  # artifacts went through the server
    finally:
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        process.terminate()
        process.wait(30)


_KILLED_LOGGER = """
import os, signal, sys
import mlflow
import churnml as cm
from churnml.ops.tracking import log_run

def killed(*args, **kwargs):  # metrics are logged, the report's artifacts not yet: SIGKILL here
    os.kill(os.getpid(), signal.SIGKILL)

mlflow.log_artifacts = killed
log_run(cm.ChurnModel.load(sys.argv[1]), run_name="killed")
"""


def test_a_run_killed_while_logging_is_marked_failed_by_the_next_one(tmp_path, monkeypatch, sample_model):
    # it stayed RUNNING forever
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "killed-runs")
    saved = sample_model.save(tmp_path / "model")
    child = subprocess.run([sys.executable, "-c", _KILLED_LOGGER, str(saved)], capture_output=True, text=True, timeout=600)
    assert child.returncode == -9, child.stderr[-2000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("killed-runs")
    (killed,) = client.search_runs([experiment.experiment_id])
    assert killed.info.status == "RUNNING"
    run_id = cm.ops.tracking.log_run(cm.ChurnModel.load(saved), run_name="next")
    assert client.get_run(killed.info.run_id).info.status == "FAILED"
    assert "ended before the run did" in client.get_run(killed.info.run_id).data.tags["churnml_failure"]
    assert client.get_run(run_id).info.status == "FINISHED"
