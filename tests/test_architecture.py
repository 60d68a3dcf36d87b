"""The package's shape: an acyclic import graph, small functions and classes, a fast import, sklearn estimators."""

import ast
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

import churnml as cm
from churnml.models.scorecard import RuleScorecard

PACKAGE = Path(cm.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """churnml modules a module imports, at any depth of its code, except type-checking-only imports."""
    tree = ast.parse(path.read_text())
    found = set()
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        edges = _imports(path, set(paths))
        # importing a.b.c runs a/__init__ and a/b/__init__ first (unless the importer is inside them)
        for target in list(edges):
            parts = target.split(".")
            edges |= {p for p in (".".join(parts[:i]) for i in range(2, len(parts))) if not name.startswith(p + ".")}
        graph[name] = {e for e in edges if e != name and not name.startswith(e + ".")}  # a package's own modules run inside it
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt == "churnml":  # the package root imports nothing at run time (lazy names)
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle_even_through_function_level_imports():
    graph = _graph()
    assert len(graph) > 40 and "churnml.model" in graph["churnml.ops.tracking"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    # the model does not depend on tracking: fits are tracked through the churnml.fit_hooks entry point
    assert not any(target.startswith("churnml.ops") for target in graph["churnml.model"])


def test_a_planted_cycle_is_found():
    assert _cycle({"churnml.a": {"churnml.b"}, "churnml.b": {"churnml.c"}, "churnml.c": {"churnml.a"}}) == ["churnml.a", "churnml.b", "churnml.c", "churnml.a"]


def test_no_function_over_120_lines_and_no_class_over_300():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            limit = 120 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else 300 if isinstance(node, ast.ClassDef) else None
            if limit and node.end_lineno - node.lineno + 1 > limit:
                long.append(f"{_module_name(path)}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long


def test_import_churnml_loads_no_heavy_dependency():
    code = "import sys, churnml; print(sorted(m for m in ('mlflow', 'sklearn', 'ibis', 'lightgbm', 'duckdb', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert cm.ChurnModel.__name__ == "ChurnModel" and "ChurnModel" in dir(cm)  # loaded on first use
    for name in cm.__all__:
        assert getattr(cm, name) is not None, name  # every public name resolves
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        cm.nothing


def test_churn_model_is_a_scikit_learn_estimator():
    model = cm.ChurnModel({"model": {"seed": 3}})
    assert model.get_params() == {"config": {"model": {"seed": 3}}}
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert cm.ChurnModel("no/such.yaml").config == "no/such.yaml"  # __init__ only stores: the file is read by fit
    with pytest.raises(cm.ConfigError, match="does not exist"):
        cm.ChurnModel("no/such.yaml").fit(cm.datasets.load_sample())


def test_a_fitted_model_predicts_two_columns_and_clones_unfitted(sample_model, sample_frame):
    rows = sample_frame.head(7)
    proba = sample_model.predict_proba(rows)
    assert proba.shape == (7, 2) and (abs(proba.sum(axis=1) - 1) < 1e-12).all()
    assert not hasattr(clone(sample_model), "fitted_")


# Checks a rule scorecard cannot pass by design: it is not learned from y (fixed classes 0/1, it
# cannot fit the checks' random labels), and a missing indicator value is data (it never fires a rule).
SCORECARD_FAILS = {
    "check_classifiers_train": "the rules are fixed: random labels are not learned",
    "check_classifiers_classes": "the classes are 0 (stays) and 1 (churns), whatever y holds",
    "check_classifiers_one_label": "the rules are not learned from y",
    "check_supervised_y_2d": "y is not learned, so a 2-D y is not converted",
    "check_estimators_nan_inf": "a missing indicator is data: it never fires a rule",
    "check_dtype_object": "object columns are indicator values (industry), not an error",
    "check_n_features_in_after_fitting": "columns are matched by name, so a frame may carry more or fewer",
}


@parametrize_with_checks([RuleScorecard()], expected_failed_checks=lambda estimator: SCORECARD_FAILS)
def test_rule_scorecard_passes_the_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_rule_scorecard_reads_indicators_by_name():
    X = pd.DataFrame({"complaints_3m": [0.0, 4.0], "other": ["a", "b"]})
    card = RuleScorecard().fit(X, [0, 1])
    assert list(card.feature_names_in_) == ["complaints_3m", "other"] and card.health_score(X).tolist() == [100.0, 95.0]
    assert card.fit(X.to_numpy()[:, :1].astype(float)).rules_ == []  # an array has no indicator names
