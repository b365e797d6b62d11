"""Stability rewrites into log space, so p = e^L never underflows or rounds to 1.

Inputs arrive as log-probabilities L; p = e^L is never formed when it can be avoided. ``to_log_space``
substitutes p -> exp(L) and applies exact identities bottom-up until nothing changes:

    log(exp(x)) -> x                 exp(x)**c -> exp(c*x)           log(x**c) -> c*log(x)
    log(a*b) -> log a + log b        log(a/b) -> log a - log b       log(1 - exp(x)) -> log1mexp(x)
    log(1 + exp(x)) -> softplus(x)   log(sigmoid(x)) -> logsigmoid(x) log(1 + x) -> log1p(x)
    exp(x) - 1 -> expm1(x)           sigmoid(a)*exp(b) -> exp(logsigmoid(a) + b)
    1/exp(x) -> exp(-x)              exp(a)*exp(b) -> exp(a + b)      exp(a)/exp(b) -> exp(a - b)

Each rule is an identity on the domain where the original is defined, so a rewritten tree has the same
value; it only stays finite (and keeps finite gradients) where the naive form over/underflows.
"""

from __future__ import annotations

import math

from symmpo.symbolic.expr import Const, Expr, Node, Var, is_const, substitute
from symmpo.symbolic.primitives import REGISTRY


def _N(op: str, *a: Expr) -> Node:
    return Node(op, tuple(a))


def _one(e: Expr) -> bool:
    return is_const(e, 1.0)


def _rule(e: Node) -> Expr | None:
    op, a = e.op, e.args
    if op == "log":
        (x,) = a
        if isinstance(x, Node):
            if x.op == "exp":
                return x.args[0]
            if x.op == "mul":
                return _N("add", _N("log", x.args[0]), _N("log", x.args[1]))
            if x.op == "div":
                return _N("sub", _N("log", x.args[0]), _N("log", x.args[1]))
            if x.op == "pow" and isinstance(x.args[1], Const):
                return _N("mul", x.args[1], _N("log", x.args[0]))
            if x.op == "sigmoid":
                return _N("logsigmoid", x.args[0])
            if x.op == "sub" and _one(x.args[0]):
                y = x.args[1]
                if isinstance(y, Node) and y.op == "exp":
                    return _N("log1mexp", y.args[0])
                return _N("log1p", _N("neg", y))
            if x.op == "add":
                u, r = x.args
                if _one(r):
                    u, r = r, u
                if _one(u):
                    if isinstance(r, Node) and r.op == "exp":
                        return _N("softplus", r.args[0])
                    return _N("log1p", r)
    elif op == "pow":
        base, c = a
        if isinstance(base, Node) and base.op == "exp" and isinstance(c, Const):
            return _N("exp", _N("mul", c, base.args[0]))
    elif op == "sub":
        x, y = a
        if _one(y) and isinstance(x, Node) and x.op == "exp":
            return _N("expm1", x.args[0])
    elif op == "mul":
        x, y = a
        if isinstance(x, Node) and isinstance(y, Node):
            if x.op == "exp" and y.op == "sigmoid":
                x, y = y, x
            if x.op == "sigmoid" and y.op == "exp":
                return _N("exp", _N("add", _N("logsigmoid", x.args[0]), y.args[0]))
            if x.op == "exp" and y.op == "exp":
                return _N("exp", _N("add", x.args[0], y.args[0]))
    elif op == "div":
        x, y = a
        if isinstance(y, Node) and y.op == "exp":
            if _one(x):
                return _N("exp", _N("neg", y.args[0]))
            if isinstance(x, Node) and x.op == "exp":
                return _N("exp", _N("sub", x.args[0], y.args[0]))
    return None


def simplify_stable(e: Expr) -> Expr:
    """Apply the rules bottom-up to a fixed point (tags are dropped: the result is for compiling only)."""
    for _ in range(50):
        new = _pass(e)
        if new == e:
            return new
        e = new
    return e


def _pass(e: Expr) -> Expr:
    if not isinstance(e, Node):
        return e
    e = Node(e.op, tuple(_pass(c) for c in e.args))
    out = _rule(e)
    return _pass(out) if out is not None else e


def to_log_space(e: Expr, var: str = "p") -> Expr:
    """Substitute var -> exp(L) and rewrite for stability; the result reads L (= log var) instead."""
    return fold(simplify_stable(substitute(fold(e), var, _N("exp", Var("L")))))


def fold_value(op: str, args: list[float]) -> float:
    """A primitive on Python floats that never raises: overflow is inf (nan when the sign is unknown)."""
    try:
        return float(REGISTRY[op].float_fn(*args))
    except OverflowError:
        return math.inf if op == "pow" and args[0] > 0 else math.nan
    except (ValueError, ZeroDivisionError):
        return math.nan


def fold(e: Expr) -> Expr:
    """Evaluate variable-free subtrees to fixed constants."""
    if not isinstance(e, Node):
        return e if not isinstance(e, Const) else Const(e.value)
    args = tuple(fold(c) for c in e.args)
    if all(isinstance(a, Const) for a in args):
        return Const(fold_value(e.op, [a.value for a in args]))  # type: ignore[union-attr]
    return Node(e.op, args)
