"""Saving and loading fitted models: one directory per model, written atomically.

A model directory holds ``model.joblib`` (the fitted objects: load only
files you trust, as with any pickle), ``config.yaml`` and ``metadata.json``
(versions, split dates). The functions know nothing of the model class, so
serving and the registry can load a model without importing the code that
fits one.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib

from churnml.files import atomic_path

__all__ = ["MODEL_FILE", "is_model_directory", "load_directory", "save_directory"]

MODEL_FILE = "model.joblib"


def is_model_directory(path: str | Path) -> bool:
    """Whether ``path`` is a directory written by :func:`save_directory`."""
    return (Path(str(path)) / MODEL_FILE).is_file()


def save_directory(model: object, path: str | Path, *, config_yaml: str, metadata: dict) -> Path:
    """Write ``model`` to directory ``path`` atomically, replacing a model already there."""
    path = Path(path)
    with atomic_path(path, directory=True) as tmp:
        joblib.dump(model, tmp / MODEL_FILE)
        (tmp / "config.yaml").write_text(config_yaml, encoding="utf-8")
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return path


def load_directory(path: str | Path) -> object:
    """The object :func:`save_directory` wrote to ``path``.

    Raises
    ------
    FileNotFoundError
        No model directory at ``path``.
    ValueError
        The file is truncated or not a churnml model.
    """
    file = Path(path) / MODEL_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no churnml model at {path} (expected {file})")
    try:
        return joblib.load(file)
    except Exception as exc:  # a truncated or foreign file: say which, not a pickle traceback
        raise ValueError(f"{file} is not a readable churnml model ({type(exc).__name__}: {exc}); save it again") from None
