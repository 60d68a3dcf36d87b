"""The notebooks run top to bottom, and their committed outputs come from their current code."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("notebook_runner", ROOT / "notebooks" / "execute.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
STALE = "its code changed since its outputs were made: run `python notebooks/execute.py {}` and commit the result"

pytestmark = pytest.mark.slow


def test_the_three_notebooks_are_there():
    assert [p.stem for p in NOTEBOOKS] == ["01_quickstart", "02_your_own_tables", "03_retraining_and_serving"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_come_from_the_current_code(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.get("churnml", {}).get("code_sha256") == runner.code_hash(notebook), STALE.format(path.stem)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "every code cell ran"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for cell in code for o in cell.outputs), "a reader sees the plots without running it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path, tmp_path):
    executed = runner.execute(path, tmp_path)  # raises CellExecutionError on the first failing cell
    assert any("image/png" in o.get("data", {}) for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs)
    assert executed.metadata["churnml"]["code_sha256"] == nbformat.read(path, as_version=4).metadata["churnml"]["code_sha256"], STALE.format(path.stem)
