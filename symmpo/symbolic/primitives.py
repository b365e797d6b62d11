"""The one primitive registry: every operator symmpo knows, with all its forms.

Each :class:`Primitive` carries

* ``sympy_fn``: the sympy form (canonical keys, symbolic checks);
* ``torch_fn``: the numerically safe torch form the compiler calls (guarded ones live in
  :mod:`symmpo.symbolic.safe_ops`, whose source code export copies);
* ``exact_fn`` / ``mp_fn``: the true function without guard rails, in float64 torch and in mpmath (50
  digits), for the validity checker;
* ``float_fn``: a Python-float form for constant folding (returns inf / nan, never raises on domain errors);
* ``source``: the export template (``{0}``, ``{1}`` are the arguments' sources);
* ``latex``: the LaTeX template, and whether it ends in a closing delimiter (``delimited``);
* its monotonicity per argument, its domain in words and its abstract typing rule (grammar checks);
* for infix operators, the formula-syntax symbol and precedence;
* whether distillation's symbolic-regression backends may use it.

Adding an operator means adding one entry here; a test checks that no other module lists operators.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy
import torch
import torch.nn.functional as F

from symmpo.symbolic import props as P
from symmpo.symbolic import safe_ops as S

EXP_MAX = S.SYMMPO_EXP_MAX
_mp = mpmath.mp


@dataclass(frozen=True)
class Primitive:
    """One operator. ``mono`` gives per argument +1 (increasing), -1 (decreasing) or 0 (depends on signs)."""

    name: str
    arity: int
    sympy_fn: Callable[..., sympy.Expr]
    torch_fn: Callable[..., Any]
    exact_fn: Callable[..., torch.Tensor]
    mp_fn: Callable[..., Any]
    float_fn: Callable[..., float]
    source: str
    latex: str
    mono: tuple[int, ...]
    domain: str
    absint: Callable[..., P.Props]
    infix: str | None = None  # formula-syntax infix operator, for printing formulas back
    precedence: int = 100
    delimited: bool = False  # the LaTeX ends in a closing delimiter: a superscript after it is unambiguous
    regression: bool = (
        False  # offered to distillation's symbolic regression (pyoperon and PySR share the name)
    )


def _sym_sigmoid(x: sympy.Expr) -> sympy.Expr:
    return 1 / (1 + sympy.exp(-x))


def _float_div(a: float, b: float) -> float:
    return a / b if b != 0 else math.copysign(math.inf, a)


_ALL = [
    Primitive(
        "add", 2, operator.add, operator.add, operator.add, operator.add, operator.add,
        source="({0} + {1})", latex="{0} + {1}", mono=(1, 1), domain="R x R", absint=P.add,
        infix="+", precedence=1,
        regression=True,
    ),
    Primitive(
        "sub", 2, operator.sub, operator.sub, operator.sub, operator.sub, operator.sub,
        source="({0} - {1})", latex="{0} - {1}", mono=(1, -1), domain="R x R", absint=P.sub,
        infix="-", precedence=1,
        regression=True,
    ),
    Primitive(
        "mul", 2, operator.mul, operator.mul, operator.mul, operator.mul, operator.mul,
        source="({0} * {1})", latex="{0} {1}", mono=(0, 0), domain="R x R", absint=P.mul,
        infix="*", precedence=2,
        regression=True,
    ),
    Primitive(
        "div", 2, operator.truediv, operator.truediv, operator.truediv, operator.truediv, _float_div,
        source="({0} / {1})", latex=r"\frac{{{0}}}{{{1}}}", mono=(0, 0), domain="R x (R \\ 0)", absint=P.div,
        infix="/", precedence=2,
        regression=True,
    ),
    Primitive(
        "neg", 1, operator.neg, operator.neg, operator.neg, operator.neg, operator.neg,
        source="(-{0})", latex="-{0}", mono=(-1,), domain="R", absint=P.neg, precedence=3,
    ),
    Primitive(
        "pow", 2, operator.pow, S.symmpo_pow, torch.pow, lambda a, b: _mp.power(a, b),
        lambda a, b: a**b if (a > 0 or b == int(b)) else math.nan,
        source="symmpo_pow({0}, {1})", latex="{0}^{{{1}}}", mono=(0, 0),
        domain="base >= 0 unless the exponent is an integer", absint=P.pow_, infix="**", precedence=4,
    ),
    Primitive(
        "log", 1, sympy.log, S.symmpo_log, torch.log, lambda a: _mp.log(a),
        lambda a: math.log(a) if a > 0 else -math.inf,
        source="symmpo_log({0})", latex=r"\log\left({0}\right)", mono=(1,), domain="(0, inf)", absint=P.log,
        delimited=True,
        regression=True,
    ),
    Primitive(
        "exp", 1, sympy.exp, S.symmpo_exp, torch.exp, lambda a: _mp.exp(a),
        lambda a: math.exp(min(a, EXP_MAX)),
        source="symmpo_exp({0})", latex=r"e^{{{0}}}", mono=(1,), domain="R", absint=P.exp,
        regression=True,
    ),
    Primitive(
        "sigmoid", 1, _sym_sigmoid, torch.sigmoid, torch.sigmoid, lambda a: 1 / (1 + _mp.exp(-a)),
        lambda a: 1 / (1 + math.exp(-a)) if a > -700 else 0.0,
        source="torch.sigmoid({0})", latex=r"\sigma\left({0}\right)", mono=(1,), domain="R",
        absint=P.sigmoid, delimited=True,
    ),
    Primitive(
        "logsigmoid", 1, lambda a: sympy.log(_sym_sigmoid(a)), F.logsigmoid, F.logsigmoid,
        lambda a: -_mp.log1p(_mp.exp(-a)),
        lambda a: -math.log1p(math.exp(-a)) if a > -30 else a,
        source="F.logsigmoid({0})", latex=r"\log\sigma\left({0}\right)", mono=(1,), domain="R",
        absint=P.logsigmoid, delimited=True,
    ),
    Primitive(
        "softplus", 1, lambda a: sympy.log(1 + sympy.exp(a)), F.softplus,
        lambda a: F.softplus(a, threshold=30), lambda a: _mp.log1p(_mp.exp(a)),
        lambda a: math.log1p(math.exp(a)) if a < 30 else a,
        source="F.softplus({0})", latex=r"\operatorname{{softplus}}\left({0}\right)", mono=(1,), domain="R",
        absint=P.softplus, delimited=True,
    ),
    Primitive(
        "tanh", 1, sympy.tanh, torch.tanh, torch.tanh, lambda a: _mp.tanh(a), math.tanh,
        source="torch.tanh({0})", latex=r"\tanh\left({0}\right)", mono=(1,), domain="R", absint=P.tanh,
        delimited=True,
        regression=True,
    ),
    Primitive(
        "min", 2, sympy.Min, S.symmpo_min, torch.minimum, min, min,
        source="symmpo_min({0}, {1})", latex=r"\min\left({0}, {1}\right)", mono=(1, 1), domain="R x R",
        absint=P.minimum, delimited=True,
    ),
    Primitive(
        "max", 2, sympy.Max, S.symmpo_max, torch.maximum, max, max,
        source="symmpo_max({0}, {1})", latex=r"\max\left({0}, {1}\right)", mono=(1, 1), domain="R x R",
        absint=P.maximum, delimited=True,
    ),
    Primitive(
        "log1p", 1, lambda a: sympy.log(1 + a), torch.log1p, torch.log1p, lambda a: _mp.log1p(a),
        lambda a: math.log1p(a) if a > -1 else -math.inf,
        source="torch.log1p({0})", latex=r"\log\left(1 + {0}\right)", mono=(1,), domain="(-1, inf)",
        absint=P.log1p, delimited=True,
    ),
    Primitive(
        "expm1", 1, lambda a: sympy.exp(a) - 1, S.symmpo_expm1, torch.expm1, lambda a: _mp.expm1(a),
        lambda a: math.expm1(min(a, EXP_MAX)),
        source="symmpo_expm1({0})", latex=r"\left(e^{{{0}}} - 1\right)", mono=(1,), domain="R",
        absint=P.expm1, delimited=True,
    ),
    Primitive(
        "log1mexp", 1, lambda a: sympy.log(1 - sympy.exp(a)), S.symmpo_log1mexp,
        lambda a: torch.log(-torch.expm1(a)), lambda a: _mp.log(-_mp.expm1(a)),
        lambda a: math.log(-math.expm1(a)) if a < 0 else -math.inf,
        source="symmpo_log1mexp({0})", latex=r"\log\left(1 - e^{{{0}}}\right)", mono=(-1,),
        domain="(-inf, 0)", absint=P.log1mexp, delimited=True,
    ),
    Primitive(
        "sqrt", 1, sympy.sqrt, S.symmpo_sqrt, torch.sqrt, lambda a: _mp.sqrt(a),
        lambda a: math.sqrt(max(a, 0.0)),
        source="symmpo_sqrt({0})", latex=r"\sqrt{{{0}}}", mono=(1,), domain="[0, inf)", absint=P.sqrt,
    ),
    Primitive(
        "square", 1, lambda a: a**2, torch.square, torch.square, lambda a: a * a, lambda a: a * a,
        source="torch.square({0})", latex=r"\left({0}\right)^{{2}}", mono=(0,), domain="R", absint=P.square,
        regression=True,
    ),
    Primitive(
        "abs", 1, sympy.Abs, torch.abs, torch.abs, abs, abs,
        source="torch.abs({0})", latex=r"\left|{0}\right|", mono=(0,), domain="R", absint=P.absolute,
        delimited=True,
    ),
    Primitive(
        "sin", 1, sympy.sin, torch.sin, torch.sin, lambda a: _mp.sin(a), math.sin,
        source="torch.sin({0})", latex=r"\sin\left({0}\right)", mono=(0,), domain="R", absint=P.periodic,
        delimited=True,
    ),
    Primitive(
        "cos", 1, sympy.cos, torch.cos, torch.cos, lambda a: _mp.cos(a), math.cos,
        source="torch.cos({0})", latex=r"\cos\left({0}\right)", mono=(0,), domain="R", absint=P.periodic,
        delimited=True,
    ),
]  # fmt: skip

REGISTRY: dict[str, Primitive] = {prim.name: prim for prim in _ALL}
# Names usable as functions in formula strings (infix operators are written with their symbols).
FUNCTIONS: dict[str, Primitive] = {k: v for k, v in REGISTRY.items() if v.infix is None and k != "neg"}
# What distillation's symbolic regression may build formulas from.
REGRESSION: dict[str, Primitive] = {k: v for k, v in REGISTRY.items() if v.regression}


def export_helpers() -> str:
    """Source of the guarded forms for an exported file: the constants and every helper, copied verbatim."""
    helpers = [p.torch_fn for p in _ALL if getattr(p.torch_fn, "__module__", None) == S.__name__]
    head = f"SYMMPO_TINY = {S.SYMMPO_TINY!r}\nSYMMPO_EXP_MAX = {S.SYMMPO_EXP_MAX!r}\n"
    return "\n\n".join([head, *(inspect.getsource(fn).rstrip("\n") + "\n" for fn in helpers)])
