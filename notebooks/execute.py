"""Execute the notebooks in place, so that they are committed with fresh outputs.

    python notebooks/execute.py                 # every notebook
    python notebooks/execute.py 01_quickstart   # one

Each notebook runs top to bottom in a fresh kernel, in a temporary working
directory (its MLflow store and files stay out of the repository). The hash
of its code cells is stamped into the notebook's metadata: the test suite
executes every notebook again and fails when a committed notebook's code no
longer matches the code that produced its outputs.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
TIMEOUT = 900  # seconds per cell


def code_hash(notebook: nbformat.NotebookNode) -> str:
    """SHA-256 of the code cells' sources, in order."""
    code = "\n# ---- cell\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()


def execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel with ``workdir`` as its working directory; raise on the first error."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    backend = os.environ.pop("MPLBACKEND", None)  # CI sets Agg; the kernel must keep its inline backend to show plots
    try:
        client.execute()
    finally:
        if backend is not None:
            os.environ["MPLBACKEND"] = backend
    notebook.metadata["churnml"] = {"code_sha256": code_hash(notebook)}
    return notebook


def main(names: list[str]) -> None:
    paths = [HERE / f"{n.removesuffix('.ipynb')}.ipynb" for n in names] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        with tempfile.TemporaryDirectory() as workdir:
            notebook = execute(path, Path(workdir))
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(notebook, tmp)
        tmp.replace(path)
        print(f"executed {path.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
