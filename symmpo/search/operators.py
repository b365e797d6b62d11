"""Type-safe tree surgery on expression trees (``symmpo.symbolic.expr``).

Every subtree a grammar produces carries ``nt``, the non-terminal it was derived from. An operator
only ever puts a subtree where a subtree of the *same non-terminal* stood, so the grammar's typing
argument (monotone, −∞ limit, integrable, ...) still holds for the child. Untagged subtrees (literals
inside a production) are never cut out. Point mutation is the one operator that steps outside the
grammar (it swaps an operator for another of the same arity and monotonicity signature); its children
are kept only when the validity checker accepts them, like every other child.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from symmpo.symbolic import expr as E
from symmpo.symbolic.primitives import REGISTRY

Expand = Callable[[str, np.random.Generator, int], E.Expr]  # (non-terminal, rng, max depth) -> subtree


def typed_positions(tree: E.Expr) -> list[tuple[E.Path, str]]:
    """Paths of every subtree a grammar non-terminal produced, with that non-terminal."""
    return [(path, sub.nt) for path, sub in E.subtrees(tree) if sub.nt is not None]


def _pick(items: list, rng: np.random.Generator):
    return items[int(rng.integers(len(items)))] if items else None


def subtree_mutation(tree: E.Expr, expand: Expand, rng: np.random.Generator, max_depth: int) -> E.Expr | None:
    """Replace a random typed subtree by a fresh expansion of its non-terminal."""
    choice = _pick(typed_positions(tree), rng)
    if choice is None:
        return None
    path, nt = choice
    budget = max(1, max_depth - len(path))
    new = E.with_nt(expand(nt, rng, budget), nt)
    return E.replace_at(tree, path, new)


def hoist_mutation(tree: E.Expr, rng: np.random.Generator) -> E.Expr | None:
    """Replace a typed subtree by one of its own typed descendants of the same non-terminal (shrinks)."""
    pairs = []
    for path, nt in typed_positions(tree):
        sub = E.get_at(tree, path)
        for inner, inner_nt in typed_positions(sub):
            if inner and inner_nt == nt:
                pairs.append((path, path + inner))
    choice = _pick(pairs, rng)
    if choice is None:
        return None
    outer, inner = choice
    return E.replace_at(tree, outer, E.get_at(tree, inner))


def _point_alternatives(op: str) -> list[str]:
    prim = REGISTRY[op]
    return sorted(
        name
        for name, other in REGISTRY.items()
        if name != op and other.arity == prim.arity and other.mono == prim.mono and 0 not in other.mono
    )


def point_mutation(tree: E.Expr, rng: np.random.Generator) -> E.Expr | None:
    """Swap one operator for another with the same arity and monotonicity (e.g. tanh ↔ logsigmoid)."""
    nodes = [
        (path, sub)
        for path, sub in E.subtrees(tree)
        if isinstance(sub, E.Node) and sub.op in REGISTRY and _point_alternatives(sub.op)
    ]
    choice = _pick(nodes, rng)
    if choice is None:
        return None
    path, node = choice
    op = _pick(_point_alternatives(node.op), rng)
    return E.replace_at(tree, path, E.Node(op, node.args, node.nt))


def crossover(a: E.Expr, b: E.Expr, rng: np.random.Generator) -> E.Expr | None:
    """A copy of ``a`` with one typed subtree replaced by a subtree of ``b`` of the same non-terminal."""
    donors: dict[str, list[E.Path]] = {}
    for path, nt in typed_positions(b):
        donors.setdefault(nt, []).append(path)
    sites = [(path, nt) for path, nt in typed_positions(a) if nt in donors]
    choice = _pick(sites, rng)
    if choice is None:
        return None
    path, nt = choice
    donor = _pick(donors[nt], rng)
    return E.replace_at(a, path, E.get_at(b, donor))
