"""Layering, read from the source with ``ast``: every package of symmpo sits in a layer (``LAYERS``, as
docs/ARCHITECTURE.md draws them), imports only its own and lower layers, and no two modules import each other,
directly or around a circle.

Every import counts: at the top of a module, inside a function (lazy) and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "symmpo"

# The layers, lowest first (docs/ARCHITECTURE.md, "Layers"). A module may import its own package and the
# packages of lower layers; the packages of one layer do not import each other. A top-level module
# (``symmpo/protocol.py``) is a package of its own; ``symmpo`` is the package façade (``symmpo/__init__.py``:
# ``from symmpo import Objective``), for users: symmpo's own modules import ``symmpo.objective``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("files", "machine"),
    ("symbolic", "stats", "report"),
    ("objective",),
    ("suite",),
    ("protocol",),
    ("train",),
    ("search",),
    ("neural",),
    ("strategies",),
    ("integrations",),
    ("text",),
    ("llm",),
    ("studies",),
    ("commands",),
    ("cli",),
    ("symmpo",),
)
LAYER = {package: i for i, layer in enumerate(LAYERS) for package in layer}

Graph = dict[str, dict[str, int]]  # module -> {imported symmpo module: first line}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """``symmpo.search.loop`` -> ``search``; ``symmpo.protocol`` -> ``protocol``; ``symmpo`` -> ``symmpo``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported_modules(source: str, module: str, is_package: bool, modules: Iterable[str]) -> dict[str, int]:
    """The symmpo modules ``source`` imports, anywhere in it, each with the line of its first import.

    ``from m import a`` imports the module ``m.a`` when there is one, else (a name defined in ``m``) ``m``;
    ``import m.a.b`` imports the longest known prefix; relative imports are resolved against ``module``.
    Importing ``m.a`` also runs ``m/__init__``, but that is Python's doing, not a dependency of the importer."""
    known = set(modules)
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found += [
                (node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in known else base) for a in node.names
            ]
    out: dict[str, int] = {}
    for line, name in sorted(found):
        if name != "symmpo" and not name.startswith("symmpo."):
            continue
        parts = name.split(".")
        target = next(
            (".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in known), None
        )
        assert target is not None, f"{module} line {line}: {name} is no module of symmpo"
        if target != module:
            out.setdefault(target, line)
    return out


def import_graph(sources: Mapping[str, tuple[str, bool]]) -> Graph:
    """{module: (source, is_package)} -> the module-level import graph."""
    return {m: imported_modules(src, m, is_pkg, sources) for m, (src, is_pkg) in sources.items()}


def layer_violations(graph: Graph) -> list[str]:
    """Imports of a higher layer, or of another package of the same layer; packages missing from LAYERS."""
    bad = []
    for module, targets in sorted(graph.items()):
        mine = package_of(module)
        if mine not in LAYER:
            bad.append(f"{module}: package {mine!r} is in no layer of LAYERS (place it, and in the docs)")
            continue
        for target, line in sorted(targets.items(), key=lambda t: t[1]):
            theirs = package_of(target)
            if theirs == mine:
                continue
            if theirs not in LAYER or LAYER[theirs] >= LAYER[mine]:
                bad.append(f"{module} line {line} imports {target} ({mine} may not import {theirs})")
    return bad


def cycles(graph: Graph) -> list[list[str]]:
    """The import circles: each strongly connected component of more than one module, sorted (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def shortest_circle(graph: Graph, component: list[str]) -> list[str]:
    """The shortest circle through a strongly connected component: ``[a, b, ..., a]``."""
    inside = set(component)
    best: list[str] = []
    for start in sorted(component):
        paths, frontier = {start: [start]}, [start]
        while frontier and not (best and len(paths[frontier[0]]) >= len(best)):
            nxt = []
            for v in frontier:
                for w in sorted(graph[v]):
                    if w == start and (not best or len(paths[v]) + 1 < len(best)):
                        best = [*paths[v], start]
                    elif w in inside and w not in paths:
                        paths[w] = [*paths[v], w]
                        nxt.append(w)
            frontier = nxt
    return best


def describe(graph: Graph, component: list[str]) -> str:
    circle = shortest_circle(graph, component)
    steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in pairwise(circle))
    return f"{steps} -> {circle[0]}  [{len(component)} modules in the circle's component]"


FILES = sorted(PACKAGE.rglob("*.py"))
GRAPH = import_graph({module_name(p): (p.read_text(), p.name == "__init__.py") for p in FILES})


def test_the_checks_see_every_kind_of_import():
    """The checks are not vacuous: a forbidden import is reported wherever it stands, and so is a circle that
    closes only inside a function."""
    sources = {
        "symmpo": ("from symmpo.objective import Objective\n", True),
        "symmpo.errors": ("", False),
        "symmpo.objective": ("from symmpo.objective.core import Objective\n", True),
        "symmpo.objective.core": ("from symmpo.errors import SymmpoError\nfrom . import loss\n", False),
        "symmpo.objective.loss": ("import symmpo.errors\n", False),
        "symmpo.search": ("", True),
        "symmpo.search.gp": ("", False),
        "symmpo.symbolic": ("", True),
        "symmpo.symbolic.a": (
            "from typing import TYPE_CHECKING\n"
            "import symmpo.search.gp\n"  # line 2
            "from symmpo import Objective\n"  # line 3: the façade
            "from symmpo.errors import SymmpoError\n"  # allowed
            "from ..objective import core\n"  # line 5, relative
            "if TYPE_CHECKING:\n"
            "    from symmpo.objective import Objective\n"  # line 7
            "def lazy():\n"
            "    from symmpo.symbolic.b import f\n",  # line 9: closes a circle, inside a function
            False,
        ),
        "symmpo.symbolic.b": ("from symmpo.symbolic import a\n", False),
        "symmpo.newpkg": ("", True),
    }
    graph = import_graph(sources)
    assert graph["symmpo.symbolic.a"] == {
        "symmpo.search.gp": 2,
        "symmpo": 3,
        "symmpo.errors": 4,
        "symmpo.objective.core": 5,
        "symmpo.objective": 7,
        "symmpo.symbolic.b": 9,
    }
    assert layer_violations(graph) == [
        "symmpo.newpkg: package 'newpkg' is in no layer of LAYERS (place it, and in the docs)",
        "symmpo.symbolic.a line 2 imports symmpo.search.gp (symbolic may not import search)",
        "symmpo.symbolic.a line 3 imports symmpo (symbolic may not import symmpo)",
        "symmpo.symbolic.a line 5 imports symmpo.objective.core (symbolic may not import objective)",
        "symmpo.symbolic.a line 7 imports symmpo.objective (symbolic may not import objective)",
    ]
    assert cycles(graph) == [["symmpo.symbolic.a", "symmpo.symbolic.b"]]
    assert describe(graph, cycles(graph)[0]) == (
        "symmpo.symbolic.a (line 9) -> symmpo.symbolic.b (line 1) -> symmpo.symbolic.a  [2 modules in the circle's component]"
    )
    # a submodule importing its own package's façade closes a circle through the package's __init__
    sources["symmpo.objective.loss"] = ("def f():\n    from symmpo.objective import Objective\n", False)
    assert cycles(import_graph(sources)) == [
        ["symmpo.objective", "symmpo.objective.core", "symmpo.objective.loss"],
        ["symmpo.symbolic.a", "symmpo.symbolic.b"],
    ]


def test_the_graph_is_read():
    """Every package is seen, function-level imports included (a guard against a vacuous pass)."""
    assert {package_of(m) for m in GRAPH} == set(LAYER)
    assert "symmpo.suite.tasks" in GRAPH["symmpo.suite.datasets"]
    assert "symmpo.symbolic.limits" in GRAPH["symmpo.train.config"]  # imported inside __post_init__
    assert "symmpo.symbolic.printing" in GRAPH["symmpo.symbolic.limits"]  # imported inside check_constants


def test_files_are_where_the_layers_say():
    assert not (PACKAGE / "objective.py").exists() and not (PACKAGE / "named.py").exists()


def test_every_package_imports_only_its_own_and_lower_layers():
    bad = layer_violations(GRAPH)
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_cycle_between_modules():
    found = cycles(GRAPH)
    assert not found, "import cycles:\n" + "\n".join(describe(GRAPH, c) for c in found)
