"""Canonical keys: equal for objectives that are the same loss up to rewriting and constant noise.

Each component goes to sympy with constants rounded to 4 significant digits, is simplified (cheaply for
large trees), and printed with ``srepr``; the key hashes these with beta (rounded), reduce and whether
psi cancels. Used for fitness caching and dedupe, so it must be stable across runs (no object ids).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sympy

from symmpo.symbolic.budget import within
from symmpo.symbolic.expr import Const, Expr, Node, Var, map_consts, size
from symmpo.symbolic.limits import SYMPY_SECONDS
from symmpo.symbolic.parser import to_formula
from symmpo.symbolic.printing import to_sympy

if TYPE_CHECKING:
    from symmpo.objective import Objective


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


def canonical_key(obj: Objective) -> str:
    parts: list[Any] = [f"beta={float(f'{obj.beta:.4g}')!r}", f"reduce={obj.reduce}"]
    for k in ("phi_inv", "psi", "g", "w_po", "w_sft"):
        c = obj.components[k]
        if isinstance(c, (Var, Const, Node)):
            parts.append(f"{k}={canonical_component(c)}")
        else:
            parts.append(f"{k}=<{type(c).__name__}:{id(c)}>")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]
