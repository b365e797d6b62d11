"""Validity verdicts of an objective: the checker (:mod:`symmpo.symbolic.validity`) on each of its trees."""

from __future__ import annotations

from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.expr import is_tree
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.validity import Verdict, check_tree, proved_by_grammar


def check_objective(
    obj: ObjectiveLike, grammar: Grammar | None = None, limits: bool = True
) -> dict[str, Verdict]:
    """Verdicts of every symbolic component of an objective (psi once when tied).

    With a grammar, a component derivable from it is proved by its typing; the others are checked
    (``limits`` as in :func:`~symmpo.symbolic.validity.check_tree`).
    """
    out = {}
    for comp, tree in obj.components.items():
        if comp == "psi" and obj.psi_tied:
            continue
        if is_tree(tree):
            proved = proved_by_grammar(tree, comp, grammar) if grammar is not None else None
            out[comp] = proved if proved is not None else check_tree(tree, comp, limits)
    return out
