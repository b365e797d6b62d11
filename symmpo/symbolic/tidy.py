"""Printing-only cleanup of trees: constant products folded, signs pulled out, double negations dropped.

The LaTeX of a loss substitutes components into each other, which leaves products of constants and stacked
signs that a reader would simplify by hand; :func:`tidy` does that without changing the function.
"""

from __future__ import annotations

import math

from symmpo.symbolic.expr import Const, Expr, Node
from symmpo.symbolic.rewrite import fold


def _const(e: Expr) -> float | None:
    return e.value if isinstance(e, Const) else None


def _scaled(e: Expr) -> tuple[float, Expr]:
    """(c, x) with e = c * x, pulling constant factors (and signs) out of products, negations and divisions."""
    if isinstance(e, Node):
        if e.op == "neg":
            c, x = _scaled(e.args[0])
            return -c, x
        if e.op == "mul":
            a, b = _const(e.args[0]), _const(e.args[1])
            if a is not None:
                c, x = _scaled(e.args[1])
                return a * c, x
            if b is not None:
                c, x = _scaled(e.args[0])
                return b * c, x
        if e.op == "div":
            b = _const(e.args[1])
            if b is not None and b != 0:
                c, x = _scaled(e.args[0])
                return c / b, x
    return 1.0, e


def tidy(e: Expr) -> Expr:
    """Printing-only cleanup: fold constant subtrees and constant products (0.1225 (0.1966 x) -> 0.02408 x),
    drop double negations."""
    e = fold(e)
    if not isinstance(e, Node):
        return e
    e = Node(e.op, tuple(tidy(c) for c in e.args))
    c, x = _scaled(e)  # (1, e) unless e is a product, negation or division with a constant factor
    if x is not e and not isinstance(x, Const) and math.isfinite(c):
        if c == 1.0:
            return x
        if c == -1.0:
            return Node("neg", (x,))
        return Node("mul", (Const(c), x))
    if e.op == "neg" and isinstance(e.args[0], Node) and e.args[0].op == "neg":
        return e.args[0].args[0]
    if e.op in ("add", "sub"):  # a - (-2 x) -> a + 2 x, a + (-2 x) -> a - 2 x
        b = e.args[1]
        if isinstance(b, Node) and b.op == "mul" and isinstance(b.args[0], Const) and b.args[0].value < 0:
            flipped = Node("mul", (Const(-b.args[0].value), b.args[1]))
            return Node("sub" if e.op == "add" else "add", (e.args[0], flipped))
    if e.op == "sub" and isinstance(e.args[1], Node) and e.args[1].op == "neg":
        return Node("add", (e.args[0], e.args[1].args[0]))
    if e.op == "add" and isinstance(e.args[1], Node) and e.args[1].op == "neg":
        return Node("sub", (e.args[0], e.args[1].args[0]))
    return e
