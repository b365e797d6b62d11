"""Validity verdicts of an objective: the checker (:mod:`symmpo.symbolic.tree_checks`) on each of its trees."""

from __future__ import annotations

from functools import lru_cache

from symmpo.errors import ObjectiveError
from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.expr import is_tree
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.tree_checks import Verdict, check_tree, proved_by_grammar


def check_objective(
    obj: ObjectiveLike, grammar: Grammar | None = None, limits: bool = True
) -> dict[str, Verdict]:
    """Verdicts of every symbolic component of an objective (psi once when tied).

    With a grammar, a component derivable from it is proved by its typing; the others are checked
    (``limits`` as in :func:`~symmpo.symbolic.tree_checks.check_tree`).
    """
    out = {}
    for comp, tree in obj.components.items():
        if comp == "psi" and obj.psi_tied:
            continue
        if is_tree(tree):
            proved = proved_by_grammar(tree, comp, grammar) if grammar is not None else None
            out[comp] = proved if proved is not None else check_tree(tree, comp, limits)
    return out


def unproved_components(obj: ObjectiveLike) -> dict[str, str]:
    """component -> verdict ("not disproved" or "invalid") of each component that nothing proves valid.

    A component is proved by the checker or by the typing of a shipped grammar (every objective a search
    over those grammars returns is). A named baseline in its published form is exempt: ipo, cdpo and
    discopop break the MPO conditions by design, and they are the literature's losses, not candidates.
    """
    from symmpo.objective import named
    from symmpo.objective.core import Objective

    if not getattr(obj, "is_symbolic", True):  # a plain baseline: TRL's published loss, no MPO components
        return {}
    key = named.lookup(obj.name)
    if key is not None and isinstance(obj, Objective):
        try:
            if obj == Objective.named(key, **obj.params):
                return {}
        except ObjectiveError:  # parameters the baseline does not have: a custom objective under that name
            pass
    verdicts = check_objective(obj)
    if all(v.status == "proved" for v in verdicts.values()):
        return {}
    for grammar in _shipped_grammars():
        by_grammar = check_objective(obj, grammar)
        verdicts = {k: v if v.status == "proved" else by_grammar[k] for k, v in verdicts.items()}
    return {k: v.status for k, v in verdicts.items() if v.status != "proved"}


def require_proved(obj: ObjectiveLike, override: str) -> None:
    """ObjectiveError naming the first unproved component, unless every component is proved.

    ``override`` names the explicit opt-in the caller offers (an argument or a command-line flag).
    """
    gaps = unproved_components(obj)
    if gaps:
        comp, status = next(iter(gaps.items()))
        more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
        raise ObjectiveError(
            f"objective {obj.name!r}: component {comp} is {status}{more}, not proved valid "
            f"(symmpo check shows why); pass {override} to use it anyway"
        )


@lru_cache(maxsize=1)
def _shipped_grammars() -> tuple[Grammar, ...]:
    from symmpo.symbolic.grammar import shipped_names

    return tuple(Grammar.load(name) for name in shipped_names())
