"""LaTeX, sympy and formula-syntax views of trees (printing never evaluates anything)."""

from __future__ import annotations

import math

import sympy

from symmpo.symbolic.expr import Const, Expr, Hole, Node, Var
from symmpo.symbolic.primitives import REGISTRY

# How variables print; the loss printer adds response-specific names.
VAR_LATEX = {
    "p": "p",
    "z": "z",
    "tau": r"\tau",
    "L": "L",
    "Pc": r"P_\theta(y^+)",
    "Pr": r"P_\theta(y^-)",
    "Rc": r"P_{\mathrm{ref}}(y^+)",
    "Rr": r"P_{\mathrm{ref}}(y^-)",
    "NLL": r"\mathrm{NLL}_\theta(y^+)",
    "Sc": r"S(y^+)",  # granularity=token: the summed (or averaged) per-token log-ratios of a response
    "Sr": r"S(y^-)",
}


_SIMPLE_VARS = {"p", "z", r"\tau", "L"}


def fmt_number(v: float, digits: int = 4) -> str:
    if not math.isfinite(v):
        return r"\mathrm{NaN}" if math.isnan(v) else (r"\infty" if v > 0 else r"-\infty")
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    s = f"{v:.{digits}g}"
    if "e" in s:
        m, ex = s.split("e")
        return rf"{m} \cdot 10^{{{int(ex)}}}"
    return s


def latex(e: Expr) -> str:
    """LaTeX of a tree, constants shown by value (4 significant digits)."""
    return _tex(e)[0]


def _wrap(s: str, p: int, need: int, strict: bool = False) -> str:
    ok = p > need if strict else p >= need
    return s if ok else rf"\left({s}\right)"


def _tex(e: Expr) -> tuple[str, int]:
    if isinstance(e, Var):
        return VAR_LATEX.get(e.name, e.name), 100
    if isinstance(e, Const):
        v = e.value
        return fmt_number(v), (100 if v >= 0 else 3)
    assert isinstance(e, Node)
    prim = REGISTRY[e.op]
    args = [_tex(c) for c in e.args]
    if e.op == "add":
        (a, _), (b, pb) = args
        if b.startswith("-"):
            return f"{a} {_wrap(b, pb, 2)}" if pb >= 2 else f"{a} + {_wrap(b, pb, 2)}", 1
        return f"{a} + {b}", 1
    if e.op == "sub":
        (a, _), (b, pb) = args
        return f"{a} - {_wrap(b, pb, 1, strict=True)}", 1
    if e.op == "mul":
        (a, pa), (b, pb) = args
        a, b = _wrap(a, pa, 2), _wrap(b, pb, 2, strict=True)
        sep = r" \cdot " if (b[:1].isdigit() or b.startswith("-")) else r" \, "
        return f"{a}{sep}{b}", 2
    if e.op == "neg":
        (a, pa) = args[0]
        return f"-{_wrap(a, pa, 3, strict=True)}", 3
    if e.op == "pow":
        (a, pa), (b, _) = args
        base = e.args[0]
        simple = (
            (isinstance(base, Var) and a in _SIMPLE_VARS)
            or (isinstance(base, Const) and a.replace(".", "", 1).isdigit())
            or (isinstance(base, Node) and REGISTRY[base.op].delimited)
        )
        # anything else (e^{x}, x^{2}, 10^{-7}, P_\theta(y^+)) is bracketed: no double superscripts
        base_tex = a if simple else rf"\left({a}\right)"
        return f"{base_tex}^{{{b}}}", 4
    return prim.latex.format(*(a for a, _ in args)), 100


_SYMBOLS = {name: sympy.Symbol(name, real=True) for name in ("z", "tau", "L")}
_SYMBOLS["p"] = sympy.Symbol("p", positive=True)


def symbol(name: str) -> sympy.Symbol:
    if name not in _SYMBOLS:
        _SYMBOLS[name] = sympy.Symbol(name, real=True)
    return _SYMBOLS[name]


MAX_EXACT_EXPONENT = 16  # integer exponents above this go to sympy as Floats: no exact huge powers/expansions


def to_sympy(e: Expr, round_digits: int | None = None, exponent: bool = False) -> sympy.Expr:
    """The sympy expression of a tree (constants as Floats, optionally rounded to significant digits).

    Integer-valued constants become exact Integers (so p*p and p**2 agree), except exponents above
    MAX_EXACT_EXPONENT: sympy would otherwise compute 9**387420489 exactly or expand (1 + p)**10**6.
    """
    if isinstance(e, Var):
        return symbol(e.name)
    if isinstance(e, Const):
        v = e.value
        if math.isfinite(v) and v == int(v) and abs(v) < (MAX_EXACT_EXPONENT + 1 if exponent else 1e9):
            return sympy.Integer(int(v))
        if round_digits is not None and math.isfinite(v):
            v = float(f"{v:.{round_digits}g}")
        return sympy.Float(v, 15)
    assert isinstance(e, Node)
    args = [to_sympy(c, round_digits, exponent=(e.op == "pow" and i == 1)) for i, c in enumerate(e.args)]
    return REGISTRY[e.op].sympy_fn(*args)


def _fmt_num(v: float) -> str:
    r = repr(float(v))
    return r[:-2] if r.endswith(".0") else r


def to_formula(e: Expr, names: bool = True) -> str:
    """Print a tree back in formula syntax (parseable by :func:`parse`); constants by name when named."""
    return _fmt(e, names)[0]


def _fmt(e: Expr, names: bool) -> tuple[str, int]:
    if isinstance(e, Var):
        return e.name, 100
    if isinstance(e, Const):
        if names and e.name:
            return e.name, 100
        s = _fmt_num(e.value)
        return s, (100 if e.value >= 0 else 3)
    if isinstance(e, Hole):  # pragma: no cover - debugging aid
        return e.name, 100
    prim = REGISTRY[e.op]
    if e.op == "neg":
        s, p = _fmt(e.args[0], names)
        return "-" + (s if p > 3 else f"({s})"), 3
    if prim.infix:
        prec = prim.precedence
        (a, pa), (b, pb) = _fmt(e.args[0], names), _fmt(e.args[1], names)
        if e.op == "pow":
            a = a if pa > prec else f"({a})"
            b = b if pb >= 3 else f"({b})"
            return f"{a}**{b}", prec
        a = a if pa >= prec else f"({a})"
        # operators of one precedence group to the left when parsed: a right operand of the same precedence
        # keeps its parentheses even where the value would not change (a + (b + c)), so that reading the
        # formula back gives the same tree, and the same float rounding, canonical key and loss
        b = b if pb > prec else f"({b})"
        return f"{a} {prim.infix} {b}", prec
    return f"{e.op}({', '.join(_fmt(c, names)[0] for c in e.args)})", 100
