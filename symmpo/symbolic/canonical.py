"""Canonical form of a tree: equal for trees that are the same function up to rewriting and constant noise.

A tree goes to sympy with constants rounded to 4 significant digits, is simplified (cheaply for large
trees), and printed with ``srepr``. Objective keys (fitness caching, dedupe) hash these forms, so a form
must be stable across runs (no object ids).
"""

from __future__ import annotations

from functools import lru_cache

import sympy

from symmpo.symbolic.budget import within
from symmpo.symbolic.expr import Const, Expr, map_consts, size
from symmpo.symbolic.limits import SYMPY_SECONDS
from symmpo.symbolic.parser import to_formula
from symmpo.symbolic.printing import to_sympy


@lru_cache(maxsize=65536)
def canonical_component(tree: Expr) -> str:
    """sympy's simplified form (``srepr``); within the sympy budget, else the tree's own rounded formula.

    The fallback is deterministic but coarser (equivalent spellings get different keys): only trees that
    sympy cannot simplify within ``SYMPY_SECONDS`` use it.
    """

    def simplified() -> str:
        e = to_sympy(tree, round_digits=4)
        try:
            e = sympy.simplify(e) if size(tree) <= 25 else sympy.expand(e)
        except Exception:  # simplify can fail on exotic forms; the unsimplified form is still a stable key
            pass
        return sympy.srepr(e)

    return within(SYMPY_SECONDS, simplified, None) or "tree:" + to_formula(_rounded(tree), names=False)


def _rounded(tree: Expr) -> Expr:
    return map_consts(tree, lambda c: Const(float(f"{c.value:.4g}")))
