import contextlib
import io
import logging
import os
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

# LightGBM's OpenMP threads spin while idle by default. churnml trains on one thread (model.lightgbm.n_jobs),
# but its large predictions and the tests' own LightGBM and scikit-learn calls use every core; with xdist
# running a worker per core, spinning threads fight for the cores (300 trees took 35 s instead of 5 on a loaded
# 2-core box). Passive threads sleep instead; results do not change. Set before any process here loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def orders_on_days(order_days: dict[str, list[float]], day0: pd.Timestamp):
    """Customers with one 10.0 order on each of the given days after ``day0`` (negative: before it)."""
    import churnml as cm

    customers = pd.DataFrame({"customer_id": list(order_days), "signup_date": day0 - pd.Timedelta(days=400)})
    orders = pd.DataFrame(
        [(cid, day0 + pd.Timedelta(days=day), 10.0) for cid, days in order_days.items() for day in days],
        columns=["customer_id", "order_date", "amount"],
    )
    orders.insert(0, "order_id", [f"o{i}" for i in range(len(orders))])
    return cm.from_pandas({"customers": customers, "orders": orders})


def spark_unavailable() -> str | None:
    """Why Spark cannot start here (pyspark not importable, or no Java), or None when it can: a skip reason."""
    try:
        import pyspark  # noqa: F401
    except Exception as exc:  # not installed, or installed but broken
        return f"pyspark is not importable ({type(exc).__name__}: {exc}): install the spark extra, pip install -e '.[spark]'"
    if shutil.which("java") is None:
        return "Java is not installed: Spark cannot start"
    return None


SPARK_MISSING = spark_unavailable()
needs_spark = pytest.mark.skipif(SPARK_MISSING is not None, reason=SPARK_MISSING or "")


@pytest.fixture
def tiny_frames() -> dict[str, pd.DataFrame]:
    """A small valid world typed by hand: three customers, a few rows per table."""
    ts = pd.Timestamp
    return {
        "customers": pd.DataFrame(
            {
                "customer_id": ["a", "b", "c"],
                "industry": ["retail", "retail", "logistics"],
                "segment": ["small", "large", "medium"],
                "signup_date": [ts("2023-01-05"), ts("2023-03-01"), ts("2023-06-10")],
                "region": ["north", None, "west"],
                "contract_end_date": [pd.NaT, ts("2025-03-01"), pd.NaT],
            }
        ),
        "orders": pd.DataFrame(
            {
                "order_id": [1, 2, 3, 4, 5],
                "customer_id": ["a", "a", "b", "c", "c"],
                "order_date": [ts("2024-01-03"), ts("2024-02-10"), ts("2024-01-20"), ts("2024-03-01"), ts("2024-03-15")],
                "amount": [100.0, 80.0, 5000.0, 300.0, 250.0],
            }
        ),
        "invoices": pd.DataFrame(
            {
                "invoice_id": ["i1", "i2"],
                "customer_id": ["a", "b"],
                "issue_date": [ts("2024-02-01"), ts("2024-02-01")],
                "due_date": [ts("2024-03-02"), ts("2024-03-02")],
                "amount": [180.0, 5000.0],
                "paid_date": [ts("2024-02-04"), pd.NaT],
            }
        ),
        "tickets": pd.DataFrame(
            {
                "ticket_id": [10, 11],
                "customer_id": ["a", "c"],
                "opened_at": [ts("2024-01-10 09:00"), ts("2024-02-01 10:00")],
                "first_response_at": [ts("2024-01-10 10:00"), pd.NaT],
                "resolved_at": [ts("2024-01-11"), pd.NaT],
                "category": ["complaint", "consultation"],
                "severity": ["high", None],
            }
        ),
    }


@pytest.fixture
def quiet_logs(caplog):
    caplog.set_level(logging.WARNING)
    return caplog


SAMPLE_DATES = list(pd.date_range("2024-07-01", "2025-04-01", freq="MS"))


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: object, cwd: Path | None = None) -> CliResult:
    """Run ``churnml ARGS`` in this process through the console script's entry point, capturing its output.

    A subprocess would add only interpreter start-up and imports; the tests that need a fresh
    process (the README's demo, a killed job, the default tracking store) still start one.
    """
    from churnml.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except Exception:  # what the interpreter does with an uncaught error: the traceback, exit code 1
            traceback.print_exc()
            code = 1
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


def built_once(tmp_path_factory, worker_id: str, name: str, build):
    """``build()`` once per test run, shared by the pytest-xdist workers through a pickle in the run's temp directory.

    The first worker to ask builds it (the others wait on a lock) and pickles it; the others unpickle it.
    Without xdist (``worker_id == "master"``) it is simply built. What it returns is shared read-only:
    a test that changes it works on a copy.
    """
    if worker_id == "master":
        return build()
    import fcntl
    import pickle

    path = tmp_path_factory.getbasetemp().parent / f"{name}.pickle"  # the run's directory, above each worker's
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return pickle.loads(path.read_bytes())
        value = build()
        path.with_suffix(".tmp").write_bytes(pickle.dumps(value))
        path.with_suffix(".tmp").replace(path)
        return value


@pytest.fixture(scope="session")
def sample():
    import churnml as cm

    return cm.datasets.load_sample()


@pytest.fixture(scope="session")
def sample_frame_with_lapsed(sample, tmp_path_factory, worker_id):
    """The sample's labelled months with their lapsed snapshots (the return model's rows)."""
    import churnml as cm

    return built_once(tmp_path_factory, worker_id, "sample_frame_with_lapsed", lambda: cm.make_training_frame(sample, SAMPLE_DATES, lapsed=SAMPLE_DATES))


@pytest.fixture(scope="session")
def sample_frame(sample_frame_with_lapsed):
    """The sample's eligible snapshots with a complete label, as ``make_training_frame(sample, SAMPLE_DATES)`` gives them."""
    frame = sample_frame_with_lapsed
    return frame[~frame.lapsed].drop(columns="lapsed").astype({"churned": "int64"}).reset_index(drop=True)


@pytest.fixture(scope="session")
def sample_model(sample_frame_with_lapsed, tmp_path_factory, worker_id):
    """The default ChurnModel fitted on the bundled sample's labelled months (and the return model on its lapsed snapshots).

    Fitted once per test run with tracking off (the workers share it); test_tracking logs it to MLflow
    with the fit hook's own call (``log_run``) to read its run.
    """
    import churnml as cm

    return built_once(
        tmp_path_factory, worker_id, "sample_model", lambda: cm.ChurnModel({"tracking": {"enabled": False}}).fit_frame(sample_frame_with_lapsed)
    )


@pytest.fixture(scope="session", autouse=True)
def mlflow_store(tmp_path_factory):
    """Every fit in the suite logs to a throw-away SQLite store, never to ./mlflow.db of the checkout."""
    import os

    path = tmp_path_factory.mktemp("mlflow")
    old = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{path / 'mlflow.db'}"
    os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)
    yield os.environ["MLFLOW_TRACKING_URI"]
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def default_tracking_uri(mlflow_store):
    """churnml points MLflow's global tracking URI at a config's store; give the next test the suite's store."""
    yield
    import mlflow

    mlflow.set_tracking_uri(mlflow_store)


# ------------------------------------------------------------------ running under pytest-xdist
# Modules that take longest, first: with --dist loadgroup (pyproject's addopts) the workers take work
# in collection order, so the long ones start at once and the short ones fill in at the end.
FIRST = (
    "test_notebooks", "test_jobs", "test_faults", "test_quality", "test_tracking", "test_censored", "test_btyd", "test_models",
    "test_docs", "test_cli", "test_labels", "test_subscriptions", "test_returns",
)


def _uses_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(d.scope == "module" for defs in info.name2fixturedefs.values() for d in defs)


@pytest.hookimpl(tryfirst=True)  # before xdist's hook turns the groups into node ids
def pytest_collection_modifyitems(config, items):
    """Group each module whose tests share module-scoped fixtures on one xdist worker, and start the long modules first.

    A module fixture (a drawn world, a fitted model, a server, test_jobs' one job's life in file order)
    is built once per worker that runs the module's tests: under loadgroup they all go to one worker.
    Tests that use no module fixture spread over the workers. The order within a module is kept.
    """
    def module(item: pytest.Item) -> str:  # test_jobs for tests/test_jobs.py::..., doctests too
        return Path(item.nodeid.partition("::")[0]).stem

    for item in items:
        if item.get_closest_marker("xdist_group") is None and _uses_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(module(item)))
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(module(item), len(FIRST)))
