"""Limits on untrusted input: every formula, tree, name and file is bounded before any real work.

Formulas, objective files and grammar files come from users (and from other programs), so each way in
checks these limits *before* sympy or torch see anything. The numbers and why they were chosen are in
docs/symbolic.md ("Limits"). The checks here walk trees iteratively, so even a tree built in code that
is far too deep gets a one-line error instead of a RecursionError.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from symmpo.errors import FormulaError, SymmpoError

MAX_FORMULA_CHARS = 10_000  # one formula string
MAX_NODES = 500  # nodes of one component tree
MAX_DEPTH = 64  # depth of one tree, and nesting of parentheses / signs / powers in a formula
MAX_LITERAL = 1e12  # |a number written in a formula| and |a typed constant's value|
MAX_EXPONENT = 1000.0  # |an exponent that is a constant expression|
MAX_NAME_CHARS = 200  # an objective's name
MAX_IDENTIFIER_CHARS = 64  # a constant's or non-terminal's name
MAX_CONSTANTS = 64  # declared constants of one objective
MAX_FILE_BYTES = 1_000_000  # an objective or grammar file
MAX_YAML_DEPTH = 32  # nesting of a YAML document
MAX_YAML_NODES = 100_000  # scalars + collections of a YAML document
SYMPY_SECONDS = 2.0  # CPU-time budget of one sympy computation (then a documented fallback)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shown(value: Any, limit: int = 60) -> str:
    """A short printable rendering of an untrusted value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_identifier(name: Any, what: str) -> str:
    """A constant or non-terminal name: an ASCII identifier of bounded length."""
    if not isinstance(name, str) or len(name) > MAX_IDENTIFIER_CHARS or not _IDENTIFIER.fullmatch(name):
        raise SymmpoError(
            f"{what} name {shown(name)} must be an identifier (letters, digits, _; "
            f"at most {MAX_IDENTIFIER_CHARS} characters)"
        )
    return name


def check_name(name: Any, what: str = "objective") -> str:
    """An objective's (or grammar's) name: one printable line of bounded length.

    Names end up in files, plots and generated source; the exporters still emit them with ``repr``, but a
    name with newlines or control characters is refused here so no consumer has to think about it.
    """
    if isinstance(name, bool) or not isinstance(name, (str, int, float)):
        raise SymmpoError(f"{what} name must be a string, got {type(name).__name__}")
    text = str(name)
    if not text or len(text) > MAX_NAME_CHARS or not text.isprintable():
        raise SymmpoError(
            f"{what} name {shown(text)} must be 1 to {MAX_NAME_CHARS} printable characters on one line"
        )
    return text


def number(value: Any, what: str) -> float:
    """A finite float from untrusted data (int or float, not bool); SymmpoError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SymmpoError(f"{what} must be a number, got {shown(value)}")
    try:
        out = float(value)
    except OverflowError:
        raise SymmpoError(f"{what} is too large: {shown(value)}") from None
    if not math.isfinite(out):
        raise SymmpoError(f"{what} must be finite, got {out}")
    return out


def integer(value: Any, what: str, lo: int, hi: int) -> int:
    """An int in [lo, hi] from untrusted data."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SymmpoError(f"{what} must be an integer in [{lo}, {hi}], got {shown(value)}")
    return int(value)


def check_literal(value: float, formula: str = "", position: int | None = None, token: str = "") -> float:
    """A number written in a formula: finite and at most MAX_LITERAL in magnitude."""
    if not math.isfinite(value) or abs(value) > MAX_LITERAL:
        what = shown(token, 30)[1:-1] if token else f"{value:g}"
        raise FormulaError(f"number {what} is outside [-{MAX_LITERAL:g}, {MAX_LITERAL:g}]", formula, position)
    return value


def tree_shape(e: Any) -> tuple[int, int]:
    """(nodes, depth) of a tree, iteratively; stops counting once a limit is exceeded."""
    nodes, deepest = 0, 0
    stack = [(e, 1)]
    while stack:
        node, d = stack.pop()
        nodes += 1
        deepest = max(deepest, d)
        if nodes > MAX_NODES or deepest > MAX_DEPTH:
            break
        stack.extend((c, d + 1) for c in getattr(node, "args", ()))
    return nodes, deepest


def check_shape(e: Any, what: str = "formula") -> None:
    """Node count and depth within MAX_NODES and MAX_DEPTH (a FormulaError naming which)."""
    nodes, deepest = tree_shape(e)
    if nodes > MAX_NODES:
        raise FormulaError(f"{what} has more than {MAX_NODES} nodes")
    if deepest > MAX_DEPTH:
        raise FormulaError(f"{what} is nested deeper than {MAX_DEPTH} levels")


def check_structure(e: Any, variables: tuple[str, ...], what: str = "formula") -> None:
    """A tree built in code is well formed: known operators with their arity, only ``variables``, constants
    of a known type with a finite value of at most MAX_LITERAL, within MAX_NODES and MAX_DEPTH.

    Parsed trees satisfy this by construction; trees built in Python (``Node("log", ())``, ``Var("z")`` as
    phi_inv, a 2,000-deep chain) would otherwise fail later with a KeyError, a RecursionError or a file that
    ``save`` writes and ``load`` refuses. Iterative, so any depth gets a one-line FormulaError.
    """
    from symmpo.symbolic.constants import is_kind
    from symmpo.symbolic.expr import Const, Node, Var
    from symmpo.symbolic.primitives import REGISTRY

    nodes = 0
    stack = [(e, 1)]
    while stack:
        t, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise FormulaError(f"{what} has more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise FormulaError(f"{what} is nested deeper than {MAX_DEPTH} levels")
        if isinstance(t, Var):
            if t.name not in variables:
                raise FormulaError(f"{what} reads variable {shown(t.name)}; allowed: {', '.join(variables)}")
        elif isinstance(t, Const):
            if not is_kind(t.kind):
                raise FormulaError(f"{what}: constant of unknown type {shown(t.kind)}")
            if t.name is not None:
                check_identifier(t.name, "constant")
            raw = t.raw
            if isinstance(raw, bool) or not isinstance(raw, numbers.Real) or not math.isfinite(raw):
                raise FormulaError(f"{what}: constant {t.name or shown(raw)} is not finite (a number is due)")
            if t.kind == "fixed" and abs(raw) > MAX_LITERAL:
                raise FormulaError(f"{what}: constant {raw:g} is outside [-{MAX_LITERAL:g}, {MAX_LITERAL:g}]")
        elif isinstance(t, Node):
            prim = REGISTRY.get(t.op) if isinstance(t.op, str) else None
            if prim is None:
                raise FormulaError(f"{what}: unknown operator {shown(t.op)}")
            if not isinstance(t.args, tuple) or len(t.args) != prim.arity:
                n = len(t.args) if isinstance(t.args, tuple) else shown(t.args)
                raise FormulaError(f"{what}: {t.op} takes {prim.arity} argument(s), got {n}")
            stack.extend((c, depth + 1) for c in t.args)
        else:
            raise FormulaError(f"{what}: {type(t).__name__} is not a tree node (Var, Const or Node)")


def check_constants(e: Any, formula: str = "", exponents: bool = True) -> None:
    """Constant values finite; constant subexpressions finite; constant exponents at most MAX_EXPONENT.

    Runs on trees that already passed :func:`check_shape` (bounded recursion). ``exponents=False`` skips
    the exponent limit (trees built by the search, whose typed exponents may move within their type).
    """
    from symmpo.symbolic.expr import Const, Node
    from symmpo.symbolic.printing import to_formula
    from symmpo.symbolic.rewrite import fold_value

    def value(t: Any) -> float | None:
        if isinstance(t, Const):
            v = t.value
            if not math.isfinite(v):
                raise FormulaError(f"constant {t.name or v} is not finite", formula)
            return v
        if not isinstance(t, Node):
            return None
        vals = [value(c) for c in t.args]
        if t.op == "pow" and exponents and vals[1] is not None and abs(vals[1]) > MAX_EXPONENT:
            raise FormulaError(
                f"exponent {to_formula(t.args[1])} = {vals[1]:.6g} exceeds {MAX_EXPONENT:g} in magnitude",
                formula,
            )
        if any(v is None for v in vals):
            return None
        out = fold_value(t.op, vals)  # type: ignore[arg-type]
        exact = exact_value(t.op, vals)  # type: ignore[arg-type]
        if math.isnan(exact):  # the trainer's guarded primitives would hide it (sqrt(-1) -> 0)
            raise FormulaError(
                f"constant subexpression {to_formula(t)} is undefined (not a real number)", formula
            )
        if not math.isfinite(out) or not math.isfinite(exact):
            raise FormulaError(f"constant subexpression {to_formula(t)} is not finite", formula)
        if abs(out) > MAX_LITERAL:
            raise FormulaError(
                f"constant subexpression {to_formula(t)} = {out:.6g} is outside [-{MAX_LITERAL:g}, {MAX_LITERAL:g}]",
                formula,
            )
        return out

    value(e)


def exact_value(op: str, args: list[float]) -> float:
    """A primitive on constants without the trainer's guard rails (nan where it is undefined)."""
    import torch

    from symmpo.symbolic.primitives import REGISTRY

    with torch.no_grad():
        try:
            out = REGISTRY[op].exact_fn(*(torch.tensor(a, dtype=torch.float64) for a in args))
        except (RuntimeError, ValueError, ZeroDivisionError, OverflowError):
            return math.nan
    return float(out)


def check_tree(e: Any, what: str = "formula", formula: str = "", exponents: bool = True) -> None:
    """All tree limits: shape first (so the rest recurses safely), then constants."""
    check_shape(e, what)
    check_constants(e, formula, exponents)
