"""Everything about an objective: the :class:`Objective` and the modules behind its methods.

``core`` (the class), ``loss_tree`` (the one description of the loss, with named parts), ``loss`` (the tree
compiled into the loss and parts closures, and printed as whole-loss LaTeX), ``export`` / ``export_meta``
(the tree printed as standalone torch source, and what that source states about itself), ``canonical`` (the cache and dedupe key),
``files`` (the YAML file format), ``named`` (the named baselines: one table, one lookup), ``plain`` (the
baselines outside MPO as plain torch losses), ``grammar`` (random objectives from a
grammar, grammar tags), ``validity`` (the checker's verdicts per component), ``resolve`` (``NAME | FILE``).
They build on :mod:`symmpo.symbolic`, which knows trees only, and import no module of the search,
training or command-line layers.
"""

from symmpo.objective.component_checks import check_objective
from symmpo.objective.core import Objective
from symmpo.objective.files import FORMAT
from symmpo.objective.from_grammar import annotate_objective, sample_objective
from symmpo.objective.named import ALIASES, NAMED, defaults, lookup
from symmpo.objective.plain import PLAIN, PlainObjective
from symmpo.objective.resolve import named_or_file
from symmpo.objective.types import COMPONENTS, TIED, ObjectiveLike

__all__ = [
    "ALIASES",
    "COMPONENTS",
    "FORMAT",
    "NAMED",
    "TIED",
    "Objective",
    "ObjectiveLike",
    "PLAIN",
    "PlainObjective",
    "annotate_objective",
    "check_objective",
    "defaults",
    "lookup",
    "named_or_file",
    "sample_objective",
]
