"""Layering, read from the source with ``ast``: symbolic knows trees only, and the objective package sits on it,
below the search, training and command-line layers, with no import cycle among its modules.

Every import counts: at the top of a module, inside a function (lazy) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symmpo"
# What symbolic may import from symmpo besides itself: the error types and the trusted-file helpers.
SYMBOLIC_MAY_IMPORT = {"symmpo.errors", "symmpo.files"}
ABOVE_OBJECTIVE = ("search", "train", "neural", "commands", "suite", "text", "llm", "integrations", "cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for every import in the source; ``from m import a`` gives ``m.a`` when m is a package
    (``a`` may be a submodule) and m itself otherwise; relative imports are resolved against ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _file_imports(path: Path) -> list[tuple[int, str]]:
    return imports(path.read_text(), _module_name(path), path.name == "__init__.py")


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel).is_dir()


def symbolic_violations(found: list[tuple[int, str]]) -> list[str]:
    """Imports of symmpo outside symbolic and the allowed shared modules (the package ``symmpo`` itself too:
    ``from symmpo import Objective`` reaches the objective layer)."""
    bad = []
    for line, name in found:
        if name == "symmpo" or not name.startswith("symmpo."):
            continue
        if name == "symmpo.symbolic" or name.startswith("symmpo.symbolic."):
            continue
        if not any(name == ok or name.startswith(ok + ".") for ok in SYMBOLIC_MAY_IMPORT):
            bad.append(f"line {line}: {name}")
    return bad


def objective_violations(found: list[tuple[int, str]]) -> list[str]:
    bad = []
    for line, name in found:
        if name == "symmpo.named" or any(
            name == f"symmpo.{up}" or name.startswith(f"symmpo.{up}.") for up in ABOVE_OBJECTIVE
        ):
            bad.append(f"line {line}: {name}")
    return bad


def objective_edges(path: Path) -> tuple[set[str], list[str]]:
    """(objective submodules this module imports, imports of the package façade or of ``symmpo`` itself).

    A submodule importing a name from ``symmpo.objective`` (the package ``__init__``, which re-exports
    everything) or ``from symmpo import Objective`` would depend on every module of the package."""
    edges, facade = set(), []
    for line, name in _file_imports(path):
        if name.startswith("symmpo.objective."):
            sub = name.split(".")[2]
            if _is_module(f"symmpo.objective.{sub}"):
                edges.add(sub)
            elif name.count(".") == 2:  # from symmpo.objective import <not a module>
                facade.append(f"line {line}: {name}")
        elif name.startswith("symmpo.") and name.count(".") == 1 and not _is_module(name):
            facade.append(f"line {line}: {name}")  # from symmpo import <not a module>
    return edges, facade


SYMBOLIC_FILES = sorted((PACKAGE / "symbolic").rglob("*.py"))
OBJECTIVE_FILES = sorted((PACKAGE / "objective").rglob("*.py"))


def test_the_checks_see_every_kind_of_import():
    """The checks below are not vacuous: each kind of forbidden import is reported."""
    source = """
from typing import TYPE_CHECKING
import symmpo.search.gp
from symmpo import Objective
from symmpo.errors import SymmpoError
from symmpo.symbolic.expr import Var
from ..objective import core
from .. import named
if TYPE_CHECKING:
    from symmpo.objective import Objective
def lazy():
    from symmpo.train.trainer import train_population
"""
    found = imports(source, "symmpo.symbolic.example")
    assert [v.split(": ")[1] for v in symbolic_violations(found)] == [
        "symmpo.search.gp",
        "symmpo.Objective",
        "symmpo.objective",
        "symmpo.objective.core",
        "symmpo.named",
        "symmpo.objective",
        "symmpo.objective.Objective",
        "symmpo.train.trainer",
        "symmpo.train.trainer.train_population",
    ]
    assert [v.split(": ")[1] for v in objective_violations(found)] == [
        "symmpo.search.gp",
        "symmpo.named",
        "symmpo.train.trainer",
        "symmpo.train.trainer.train_population",
    ]


def test_files_are_where_the_layers_say():
    assert SYMBOLIC_FILES and OBJECTIVE_FILES
    assert not (PACKAGE / "objective.py").exists() and not (PACKAGE / "named.py").exists()


@pytest.mark.parametrize("path", SYMBOLIC_FILES, ids=lambda p: p.name)
def test_symbolic_imports_nothing_above_it(path):
    bad = symbolic_violations(_file_imports(path))
    assert not bad, f"{path.relative_to(ROOT)} imports above symbolic: {', '.join(bad)}"


@pytest.mark.parametrize("path", OBJECTIVE_FILES, ids=lambda p: p.name)
def test_objective_imports_nothing_above_it(path):
    bad = objective_violations(_file_imports(path))
    assert not bad, f"{path.relative_to(ROOT)} imports search/train/neural/commands/...: {', '.join(bad)}"


def test_objective_modules_have_no_import_cycle():
    graph = {}
    for path in OBJECTIVE_FILES:
        if path.name == "__init__.py":
            continue
        edges, facade = objective_edges(path)
        assert not facade, f"{path.relative_to(ROOT)} imports the package façade: {', '.join(facade)}"
        graph[path.stem] = edges - {path.stem}
    assert "core" in graph and "loss" in graph["core"]  # the graph is read, not empty
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle among symmpo.objective modules: {' -> '.join(err.args[1])}")
    assert order.index("types") < order.index("core")
