"""Saving and loading fitted models: one directory per model, written atomically; loading runs no code of the file's choosing.

A model directory holds ``model.pickle`` (the fitted objects), ``config.yaml``
and ``metadata.json`` (versions, split dates, the file format).

A plain pickle runs whatever its file names (``os.system`` included) as it
loads. :func:`load_directory` reads ``model.pickle`` with an unpickler that
resolves only the classes and reconstruction helpers of :data:`ALLOWED` (the
ones churnml's models are made of: churnml's own classes, NumPy arrays,
pandas frames, scikit-learn calibrators and scalers, LightGBM boosters, which
restore from their text model); a file naming anything else is refused before
any of it runs. ``trusted=True`` loads any pickle, including a ``model.joblib``
written by an earlier churnml: only for files you made.

skops would be the library for this, but it cannot save the pandas frames a
fitted model keeps (``BlockValuesRefs`` has no ``__reduce__``, measured with
skops 0.16), and the Python documentation's "restricting globals" is the same
idea on the standard library.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
from pathlib import Path

from churnml._version import __version__
from churnml.files import atomic_path

__all__ = ["ALLOWED", "MODEL_FILE", "is_model_directory", "load_directory", "save_directory"]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pickle"
LEGACY_FILE = "model.joblib"  # earlier churnml: a joblib pickle, loaded only with trusted=True
FORMAT = 2  # metadata.json's "format": what this churnml reads without trusting the file

# (module, name) an allowed model file may reference; the churnml classes are matched by package below.
ALLOWED = frozenset(
    {
        ("builtins", "slice"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "timedelta"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        *((f"numpy.{core}.multiarray", f) for core in ("core", "_core") for f in ("_reconstruct", "scalar")),
        *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
        *(("numpy", t) for t in ("float64", "float32", "int64", "int32", "bool_", "str_", "datetime64", "timedelta64")),
        *(("numpy.dtypes", t) for t in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType", "ObjectDType", "StrDType")),
        *(("pandas", t) for t in ("DataFrame", "Series", "Index", "MultiIndex", "RangeIndex", "DatetimeIndex", "CategoricalIndex", "Timestamp", "Timedelta", "StringDtype", "CategoricalDtype", "Categorical", "DatetimeTZDtype")),
        *(("pandas.arrays", t) for t in ("ArrowStringArray", "DatetimeArray", "StringArray", "Categorical", "TimedeltaArray", "BooleanArray", "IntegerArray", "FloatingArray")),
        ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
        ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"),
        ("pandas.core.arrays.categorical", "Categorical"),
        ("pandas.core.dtypes.dtypes", "CategoricalDtype"),
        ("pyarrow.lib", "_restore_array"),
        ("pyarrow.lib", "py_buffer"),
        ("pyarrow.lib", "type_for_alias"),
        ("lightgbm.basic", "Booster"),
        ("lightgbm.sklearn", "LGBMClassifier"),
        ("sklearn.calibration", "CalibratedClassifierCV"),
        ("sklearn.calibration", "_CalibratedClassifier"),
        ("sklearn.calibration", "_SigmoidCalibration"),
        ("sklearn.frozen._frozen", "FrozenEstimator"),
        ("sklearn.isotonic", "IsotonicRegression"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.pipeline", "Pipeline"),
        ("sklearn.preprocessing._data", "StandardScaler"),
        ("sklearn.preprocessing._label", "LabelEncoder"),
    }
)


class _AllowedUnpickler(pickle.Unpickler):
    """Resolves only :data:`ALLOWED` names and churnml's own classes; anything else is refused before it is called."""

    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED or (module.split(".")[0] == "churnml" and _is_class(module, name)):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it references {module}.{name}, which no churnml model holds")


def _is_class(module: str, name: str) -> bool:
    """Whether ``module.name`` is a class defined by churnml (not one it imports): churnml's functions are never part of a model."""
    import importlib

    obj = getattr(importlib.import_module(module), name, None)
    return isinstance(obj, type) and obj.__module__.split(".")[0] == "churnml"


def is_model_directory(path: str | Path) -> bool:
    """Whether ``path`` is a directory written by :func:`save_directory` (or by an earlier churnml)."""
    path = Path(str(path))
    return (path / MODEL_FILE).is_file() or (path / LEGACY_FILE).is_file()


def save_directory(model: object, path: str | Path, *, config_yaml: str, metadata: dict) -> Path:
    """Write ``model`` to directory ``path`` atomically, replacing a model already there."""
    path = Path(path)
    with atomic_path(path, directory=True) as tmp:
        (tmp / MODEL_FILE).write_bytes(pickle.dumps(model, protocol=5))
        (tmp / "config.yaml").write_text(config_yaml, encoding="utf-8")
        (tmp / "metadata.json").write_text(json.dumps({**metadata, "format": FORMAT}, indent=2), encoding="utf-8")
    return path


def load_directory(path: str | Path, trusted: bool = False) -> object:
    """The object :func:`save_directory` wrote to ``path``, loaded without running code the file names.

    Parameters
    ----------
    path : str or Path
    trusted : bool
        Load any pickle, as Python would (running whatever it names): for a
        model you made with an earlier churnml (``model.joblib``), or one
        holding classes of your own.

    Raises
    ------
    FileNotFoundError
        No model directory at ``path``.
    ValueError
        The file is truncated, not a churnml model, references a name
        outside :data:`ALLOWED`, or is an old pickle and ``trusted`` is False.
    """
    path = Path(path)
    file, legacy = path / MODEL_FILE, path / LEGACY_FILE
    if not file.is_file() and not legacy.is_file():
        raise FileNotFoundError(f"no churnml model at {path} (expected {file})")
    if not file.is_file():
        if not trusted:
            raise ValueError(
                f"{legacy} is a model saved by an earlier churnml, a pickle that runs any code it holds when loaded; "
                "if you made it yourself, load it with trusted=True and save it again"
            )
        return _load(legacy, trusted=True)
    _check_format(path)
    return _load(file, trusted)


def _load(file: Path, trusted: bool) -> object:
    try:
        if trusted:
            import joblib  # reads both joblib's files and plain pickles

            return joblib.load(file)
        return _AllowedUnpickler(io.BytesIO(file.read_bytes())).load()
    except Exception as exc:  # a truncated, foreign or planted file: say which, not a pickle traceback
        raise ValueError(f"{file} is not a readable churnml model ({type(exc).__name__}: {exc})") from None


def _check_format(path: Path) -> None:
    meta_file = path / "metadata.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} holds model format {meta.get('format')!r}; churnml {__version__} reads format {FORMAT}: save the model again")
    if meta.get("churnml_version") != __version__:
        logger.warning("%s was saved by churnml %s, this is %s: refit it if scoring fails", path, meta.get("churnml_version"), __version__)
