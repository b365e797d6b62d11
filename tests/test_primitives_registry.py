"""The primitive registry is the only list of operators, and every form of an operator is the same function."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import mpmath
import pytest
import sympy
import torch

from symmpo.symbolic import safe_ops
from symmpo.symbolic.component import COMPONENTS
from symmpo.symbolic.primitives import REGISTRY, export_helpers

PACKAGE = Path(__file__).resolve().parents[1] / "symmpo"

# Points inside each operator's domain where every form is finite and unclamped.
POINTS = {
    "add": [(0.3, -1.7), (2.5, 4.0)],
    "sub": [(0.3, -1.7), (2.5, 4.0)],
    "mul": [(0.3, -1.7), (-2.5, 4.0)],
    "div": [(0.3, -1.7), (-2.5, 4.0)],
    "neg": [(0.3,), (-2.0,)],
    "pow": [(0.7, 1.5), (2.0, -0.5), (-1.5, 3.0)],
    "log": [(0.2,), (3.0,)],
    "exp": [(-2.0,), (1.5,)],
    "sigmoid": [(-2.0,), (0.7,)],
    "logsigmoid": [(-2.0,), (0.7,)],
    "softplus": [(-2.0,), (0.7,)],
    "tanh": [(-0.4,), (1.2,)],
    "min": [(0.3, -1.7), (2.5, 4.0)],
    "max": [(0.3, -1.7), (2.5, 4.0)],
    "log1p": [(-0.5,), (2.0,)],
    "expm1": [(-2.0,), (0.3,)],
    "log1mexp": [(-0.1,), (-3.0,)],
    "sqrt": [(0.25,), (3.0,)],
    "square": [(-1.5,), (0.3,)],
    "abs": [(-1.5,), (0.3,)],
    "sin": [(-1.5,), (0.3,)],
    "cos": [(-1.5,), (0.3,)],
}


def test_every_primitive_has_test_points():
    assert set(POINTS) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_all_forms_of_an_operator_agree(name):
    """torch (safe), exact float64, mpmath, Python float and sympy forms give the same value."""
    prim = REGISTRY[name]
    for args in POINTS[name]:
        assert len(args) == prim.arity
        want = prim.float_fn(*args)
        t = [torch.tensor(a, dtype=torch.float64) for a in args]
        # the compiler passes a constant operand as a Python float (how the safe pow knows an integer exponent)
        safe = prim.torch_fn(*t) if prim.arity == 1 else prim.torch_fn(t[0], args[1])
        assert safe.item() == pytest.approx(want, rel=1e-12)
        assert prim.exact_fn(*t).item() == pytest.approx(want, rel=1e-12)
        with mpmath.workdps(30):
            assert float(prim.mp_fn(*(mpmath.mpf(a) for a in args))) == pytest.approx(want, rel=1e-12)
        sym = prim.sympy_fn(*(sympy.Float(a, 30) for a in args))
        assert float(sympy.N(sym, 30)) == pytest.approx(want, rel=1e-12)
        assert math.isfinite(want)


def test_exported_helpers_are_the_compiled_safe_forms():
    """Export copies the guarded forms from safe_ops; run the copy and compare bit for bit."""
    namespace: dict = {"torch": torch}
    exec(compile(export_helpers(), "<export>", "exec"), namespace)  # our own source, not user input
    x = torch.linspace(-60.0, 60.0, 241, dtype=torch.float64)
    for prim in REGISTRY.values():
        fn = prim.torch_fn
        if getattr(fn, "__module__", None) != safe_ops.__name__:
            continue
        assert prim.source.startswith(fn.__name__ + "("), prim.name
        copy = namespace[fn.__name__]
        args = (x,) if prim.arity == 1 else (x, torch.flip(x, [0]) / 10)
        assert torch.equal(torch.nan_to_num(copy(*args)), torch.nan_to_num(fn(*args))), prim.name


def _literal_strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Dict):
        elts = node.keys
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        elts = node.elts
    else:
        return []
    return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def test_no_other_module_lists_operators_or_components():
    """A literal collection (or a comma-separated string) naming three or more operators, or a table keyed by
    three or more component names, outside the registry / the component spec, is a second list to keep in sync."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(), rel)
        for node in ast.walk(tree):
            names = _literal_strings(node)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "," in node.value:
                parts = node.value.split(",")  # "add,sub,mul": a list of names in one string
                names = parts if all(p.isidentifier() for p in parts) else []
            if rel != "symbolic/primitives.py" and sum(n in REGISTRY for n in names) >= 3:
                found.append(f"{rel}:{node.lineno} lists operators {names}")
            if (
                rel != "symbolic/component.py"
                and isinstance(node, ast.Dict)
                and sum(n in COMPONENTS for n in names) >= 3
                and all(
                    isinstance(v, ast.Constant) and v.value in ("p", "z", "tau", "L") for v in node.values
                )
            ):
                found.append(f"{rel}:{node.lineno} maps components to variables")
    assert not found, "\n".join(found)
