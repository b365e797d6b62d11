"""Compile a tree once into a closure of torch ops.

The tree is rewritten for stability (:mod:`symmpo.symbolic.rewrite`), constant subtrees are folded to
Python floats, and each remaining node becomes a small closure that calls its primitive's safe torch
form (the arithmetic ones are the ``operator`` builtins). Calling the result walks no tree and does no
dispatch on node kinds: it is as cheap as the hand-written sequence of torch calls plus one Python call
per node. Closures hold no tensors and use
no data-dependent Python control flow, so they work batched, under autograd and under ``torch.func``
(vmap, grad).

A compiled function has signature ``fn(x, tau)``: x is the component's input (L = log p for phi_inv
and psi, z for g; ignored by weights), tau the training progress.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symmpo.symbolic.expr import Const, Expr, Node, Var
from symmpo.symbolic.primitives import REGISTRY
from symmpo.symbolic.rewrite import fold

Fn = Callable[[Any, Any], Any]


def compile_tree(e: Expr, xvar: str) -> Fn:
    """A closure fn(x, tau) evaluating e with variable xvar bound to x."""
    return _build(fold(e), xvar)


def _build(e: Expr, xvar: str) -> Fn:
    if isinstance(e, Const):
        v = e.value
        return lambda x, t: v
    if isinstance(e, Var):
        if e.name == xvar:
            return lambda x, t: x
        if e.name == "tau":
            return lambda x, t: t
        raise ValueError(f"variable {e.name!r} is not available here (input is {xvar!r})")
    assert isinstance(e, Node)
    f = REGISTRY[e.op].torch_fn
    if len(e.args) == 1:
        a = _build(e.args[0], xvar)
        return lambda x, t: f(a(x, t))
    left, right = e.args
    # a constant operand is captured as a float: one closure call fewer per node
    if isinstance(right, Const):
        a, c = _build(left, xvar), right.value
        return lambda x, t: f(a(x, t), c)
    if isinstance(left, Const):
        c, b = left.value, _build(right, xvar)
        return lambda x, t: f(c, b(x, t))
    a, b = _build(left, xvar), _build(right, xvar)
    return lambda x, t: f(a(x, t), b(x, t))
