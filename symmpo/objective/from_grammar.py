"""Objectives over a grammar: a random objective from a grammar's draw, and grammar tags for a read one.

The grammar (:mod:`symmpo.symbolic.grammar`) knows trees only; it draws the component trees, the psi tie,
beta and reduce (:meth:`~symmpo.symbolic.grammar.Grammar.sample`), and this module makes them an objective.
"""

from __future__ import annotations

import numpy as np

from symmpo.errors import GrammarError
from symmpo.objective.core import Objective
from symmpo.objective.types import COMPONENTS
from symmpo.symbolic.grammar import Grammar


def sample_objective(
    grammar: Grammar,
    rng: np.random.Generator,
    max_depth: int | None = None,
    max_size: int | None = None,
    name: str = "sample",
    tries: int = 100,
) -> Objective:
    """A random objective within the grammar's size and depth limits (reproducible from rng)."""
    s = grammar.sample(rng, max_depth, max_size, tries)
    c = s.components
    return Objective(
        *(c[k] for k in COMPONENTS),
        beta=s.beta,
        reduce=s.reduce,
        name=name,
        psi_tied=s.psi_tied,
        granularity=s.granularity,
    )


def annotate_objective(grammar: Grammar, obj: Objective) -> Objective:
    """The objective with tags re-derived for every component; GrammarError names a component outside it."""
    comps = {}
    for comp, n in grammar.start.items():
        if comp == "psi" and obj.psi_tied:
            continue
        m = grammar.annotate(obj.components[comp], n)
        if m is None:
            raise GrammarError(
                f"{grammar.source}: component {comp} of {obj.name!r} is not derivable from {n}"
            )
        comps[comp] = m
    return obj.with_components(**comps)
