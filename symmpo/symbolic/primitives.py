"""The one primitive registry: every operator symmpo knows, with all its faces.

Each :class:`Primitive` carries its sympy form (canonical keys, symbolic checks), a numerically safe torch
form (compiler), a source template (code export), a LaTeX template (printing), its monotonicity per
argument and its domain (documentation, mutation), and its abstract typing rule (grammar checks).
Adding an operator means adding one entry here; nothing else keeps a list of operators.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy
import torch
import torch.nn.functional as F

from symmpo.symbolic import props as P

# Numerical guards of the safe torch forms (see docs/symbolic.md, "Stability").
TINY = 1e-30  # log/sqrt/pow arguments are clamped to at least this
EXP_MAX = 40.0  # exp arguments are clamped to at most this (e^40 ~ 2.4e17, its square fits float32)


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(torch.clamp(x, min=TINY))


def _exp(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(torch.clamp(x, max=EXP_MAX))


def _pow(x: Any, c: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):  # a constant base, a tensor exponent
        x = torch.full_like(c, float(x))
    if isinstance(c, float) and c == int(c):
        return torch.pow(x, c)
    return torch.pow(torch.clamp(x, min=TINY), c)


def _expm1(x: torch.Tensor) -> torch.Tensor:
    return torch.expm1(torch.clamp(x, max=EXP_MAX))


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - e^x) for x < 0, accurate at both ends (Maechler 2012)."""
    x = torch.clamp(x, max=-TINY)
    near = x > -0.6931471805599453
    # each branch sees only inputs where it is finite, so torch.where's unused branch cannot leak NaN grads
    a = torch.log(-torch.expm1(torch.where(near, x, -1.0)))
    b = torch.log1p(-torch.exp(torch.where(near, -1.0, x)))
    return torch.where(near, a, b)


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(x, min=TINY))


def _min(a: Any, b: Any) -> Any:
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    if not isinstance(b, torch.Tensor):
        return torch.clamp(a, max=b)
    return torch.minimum(a, b)


def _max(a: Any, b: Any) -> Any:
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    if not isinstance(b, torch.Tensor):
        return torch.clamp(a, min=b)
    return torch.maximum(a, b)


def _sym_sigmoid(x: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + sympy.exp(-x))


@dataclass(frozen=True)
class Primitive:
    """One operator. ``mono`` gives per argument +1 (increasing), -1 (decreasing) or 0 (depends on signs)."""

    name: str
    arity: int
    sympy_fn: Callable[..., sympy.Expr]
    torch_fn: Callable[..., Any]
    source: str  # export template, {0}, {1} are argument sources; helpers are named _symmpo_*
    latex: str  # LaTeX template
    mono: tuple[int, ...]
    domain: str
    absint: Callable[..., P.Props]
    infix: str | None = None  # formula-syntax infix operator, for printing formulas back
    precedence: int = 100


def _p(name: str, arity: int, sym, tfn, src: str, tex: str, mono, domain: str, absint, infix=None, prec=100):
    return Primitive(name, arity, sym, tfn, src, tex, tuple(mono), domain, absint, infix, prec)


_ALL = [
    _p(
        "add",
        2,
        lambda a, b: a + b,
        lambda a, b: a + b,
        "({0} + {1})",
        "{0} + {1}",
        (1, 1),
        "R x R",
        P.add,
        "+",
        1,
    ),
    _p(
        "sub",
        2,
        lambda a, b: a - b,
        lambda a, b: a - b,
        "({0} - {1})",
        "{0} - {1}",
        (1, -1),
        "R x R",
        P.sub,
        "-",
        1,
    ),
    _p(
        "mul",
        2,
        lambda a, b: a * b,
        lambda a, b: a * b,
        "({0} * {1})",
        "{0} {1}",
        (0, 0),
        "R x R",
        P.mul,
        "*",
        2,
    ),
    _p(
        "div",
        2,
        lambda a, b: a / b,
        lambda a, b: a / b,
        "({0} / {1})",
        r"\frac{{{0}}}{{{1}}}",
        (0, 0),
        "R x (R \\ 0)",
        P.div,
        "/",
        2,
    ),
    _p("neg", 1, lambda a: -a, lambda a: -a, "(-{0})", "-{0}", (-1,), "R", P.neg, None, 3),
    _p(
        "pow",
        2,
        lambda a, b: a**b,
        _pow,
        "_symmpo_pow({0}, {1})",
        "{0}^{{{1}}}",
        (0, 0),
        "base >= 0 unless the exponent is an integer",
        P.pow_,
        "**",
        4,
    ),
    _p("log", 1, sympy.log, _log, "_symmpo_log({0})", r"\log\left({0}\right)", (1,), "(0, inf)", P.log),
    _p("exp", 1, sympy.exp, _exp, "_symmpo_exp({0})", r"e^{{{0}}}", (1,), "R", P.exp),
    _p(
        "sigmoid",
        1,
        _sym_sigmoid,
        torch.sigmoid,
        "torch.sigmoid({0})",
        r"\sigma\left({0}\right)",
        (1,),
        "R",
        P.sigmoid,
    ),
    _p(
        "logsigmoid",
        1,
        lambda a: sympy.log(_sym_sigmoid(a)),
        F.logsigmoid,
        "F.logsigmoid({0})",
        r"\log\sigma\left({0}\right)",
        (1,),
        "R",
        P.logsigmoid,
    ),
    _p(
        "softplus",
        1,
        lambda a: sympy.log(1 + sympy.exp(a)),
        F.softplus,
        "F.softplus({0})",
        r"\operatorname{{softplus}}\left({0}\right)",
        (1,),
        "R",
        P.softplus,
    ),
    _p("tanh", 1, sympy.tanh, torch.tanh, "torch.tanh({0})", r"\tanh\left({0}\right)", (1,), "R", P.tanh),
    _p(
        "min",
        2,
        sympy.Min,
        _min,
        "_symmpo_min({0}, {1})",
        r"\min\left({0}, {1}\right)",
        (1, 1),
        "R x R",
        P.minimum,
    ),
    _p(
        "max",
        2,
        sympy.Max,
        _max,
        "_symmpo_max({0}, {1})",
        r"\max\left({0}, {1}\right)",
        (1, 1),
        "R x R",
        P.maximum,
    ),
    _p(
        "log1p",
        1,
        lambda a: sympy.log(1 + a),
        torch.log1p,
        "torch.log1p({0})",
        r"\log\left(1 + {0}\right)",
        (1,),
        "(-1, inf)",
        P.log1p,
    ),
    _p(
        "expm1",
        1,
        lambda a: sympy.exp(a) - 1,
        _expm1,
        "_symmpo_expm1({0})",
        r"\left(e^{{{0}}} - 1\right)",
        (1,),
        "R",
        P.expm1,
    ),
    _p(
        "log1mexp",
        1,
        lambda a: sympy.log(1 - sympy.exp(a)),
        _log1mexp,
        "_symmpo_log1mexp({0})",
        r"\log\left(1 - e^{{{0}}}\right)",
        (-1,),
        "(-inf, 0)",
        P.log1mexp,
    ),
    _p("sqrt", 1, sympy.sqrt, _sqrt, "_symmpo_sqrt({0})", r"\sqrt{{{0}}}", (1,), "[0, inf)", P.sqrt),
    _p(
        "square",
        1,
        lambda a: a**2,
        torch.square,
        "torch.square({0})",
        r"\left({0}\right)^{{2}}",
        (0,),
        "R",
        P.square,
    ),
    _p("abs", 1, sympy.Abs, torch.abs, "torch.abs({0})", r"\left|{0}\right|", (0,), "R", P.absolute),
    _p("sin", 1, sympy.sin, torch.sin, "torch.sin({0})", r"\sin\left({0}\right)", (0,), "R", P.periodic),
    _p("cos", 1, sympy.cos, torch.cos, "torch.cos({0})", r"\cos\left({0}\right)", (0,), "R", P.periodic),
]

REGISTRY: dict[str, Primitive] = {prim.name: prim for prim in _ALL}
# Names usable as functions in formula strings (infix operators are written with their symbols).
FUNCTIONS: dict[str, Primitive] = {k: v for k, v in REGISTRY.items() if v.infix is None and k != "neg"}
INFIX: dict[str, Primitive] = {v.infix: v for v in REGISTRY.values() if v.infix}

# Helper definitions the exported source needs (kept in sync with the safe torch forms above).
EXPORT_HELPERS = f"""
_SYMMPO_TINY = {TINY!r}
_SYMMPO_EXP_MAX = {EXP_MAX!r}


def _symmpo_log(x):
    return torch.log(torch.clamp(x, min=_SYMMPO_TINY))


def _symmpo_exp(x):
    return torch.exp(torch.clamp(x, max=_SYMMPO_EXP_MAX))


def _symmpo_expm1(x):
    return torch.expm1(torch.clamp(x, max=_SYMMPO_EXP_MAX))


def _symmpo_sqrt(x):
    return torch.sqrt(torch.clamp(x, min=_SYMMPO_TINY))


def _symmpo_pow(x, c):
    if not isinstance(x, torch.Tensor):
        x = torch.full_like(c, float(x))
    if isinstance(c, float) and c == int(c):
        return torch.pow(x, c)
    return torch.pow(torch.clamp(x, min=_SYMMPO_TINY), c)


def _symmpo_log1mexp(x):
    x = torch.clamp(x, max=-_SYMMPO_TINY)
    near = x > -0.6931471805599453
    a = torch.log(-torch.expm1(torch.where(near, x, -1.0)))
    b = torch.log1p(-torch.exp(torch.where(near, -1.0, x)))
    return torch.where(near, a, b)


def _symmpo_min(a, b):
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    if not isinstance(b, torch.Tensor):
        return torch.clamp(a, max=b)
    return torch.minimum(a, b)


def _symmpo_max(a, b):
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    if not isinstance(b, torch.Tensor):
        return torch.clamp(a, min=b)
    return torch.maximum(a, b)
"""

# Python-float versions for constant folding at compile time.
FLOAT_FNS: dict[str, Callable[..., float]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b if b != 0 else math.copysign(math.inf, a),
    "neg": lambda a: -a,
    "pow": lambda a, b: a**b if (a > 0 or b == int(b)) else math.nan,
    "log": lambda a: math.log(a) if a > 0 else -math.inf,
    "exp": lambda a: math.exp(min(a, EXP_MAX)),
    "sigmoid": lambda a: 1 / (1 + math.exp(-a)) if a > -700 else 0.0,
    "logsigmoid": lambda a: -math.log1p(math.exp(-a)) if a > -30 else a,
    "softplus": lambda a: math.log1p(math.exp(a)) if a < 30 else a,
    "tanh": math.tanh,
    "min": min,
    "max": max,
    "log1p": lambda a: math.log1p(a) if a > -1 else -math.inf,
    "expm1": lambda a: math.expm1(min(a, EXP_MAX)),
    "log1mexp": lambda a: math.log(-math.expm1(a)) if a < 0 else -math.inf,
    "sqrt": lambda a: math.sqrt(max(a, 0.0)),
    "square": lambda a: a * a,
    "abs": abs,
    "sin": math.sin,
    "cos": math.cos,
}
