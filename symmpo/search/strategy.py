"""What a search strategy is, split in two: the optimiser and the representation of its candidates.

In the spirit of pycma and evosax, a :class:`Strategy` only optimises: it proposes candidates (``ask``), learns
from their fitness (``tell``) and hands over what a checkpoint needs to rebuild it (``state`` / ``restore``). How
a candidate travels to a fitness job, is kept in a checkpoint, described in ``hall_of_fame.yaml`` and saved as a
file is its :class:`Representation`'s business. Everything else (the DPO reference, evaluation and its cache,
the hall of fame, dead-term pruning, checkpoints, the fitness plot, the held-out re-score) is the search loop's
(:mod:`symmpo.search.loop`), written once for every strategy. Strategies are looked up by name in
:mod:`symmpo.strategies`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from symmpo.search.config import ReferenceSpec
    from symmpo.search.rundir import RunDir


@dataclass(frozen=True)
class Candidate:
    """One objective to train: ``key`` is its identity in the cache (equal keys train once), ``objective``
    the dict a fitness job rebuilds, ``origin`` what proposed it, ``formula`` its line in the evaluation log;
    ``genome`` is the strategy's own form of it and ``size`` its node count (0 where that means nothing)."""

    key: str
    objective: dict[str, Any]
    origin: str
    formula: str
    genome: Any = field(default=None, compare=False, repr=False)
    size: int = 0


@dataclass(frozen=True)
class Pruned:
    """A candidate without its dead terms (its key is that form's canonical key), and how many additive terms of
    φ⁻¹ and ψ it had, lost, and kept only for validity."""

    candidate: Candidate
    terms: int
    pruned: int
    kept: int = 0
    notes: tuple[str, ...] = ()
    branches: int = 0  # min / max nodes replaced by the argument they always pick

    def fields(self, as_bred: str) -> dict[str, Any]:
        """Its ``pruned`` fields in the hall of fame."""
        out: dict[str, Any] = {"terms": self.terms, "removed": self.pruned, "kept_for_validity": self.kept}
        if self.branches:
            out["settled_branches"] = self.branches
        if self.notes:
            out["notes"] = list(self.notes)
        if self.pruned or self.branches:
            out["as_bred"] = as_bred
        return out


@dataclass
class Leader:
    """A hall-of-fame entry: the candidate as trained, its search fitness, the generation that trained it, and
    its pruned form once its trainings were judged (None: nothing was judged, it is shown as bred). ``rung`` is
    the fidelity rung its fitness was measured at (0-based; always 0 for a flat fitness; the search sets it,
    :mod:`symmpo.search.multifidelity`)."""

    candidate: Candidate
    fitness: float
    generation: int = 0
    pruned: Pruned | None = None
    rung: int = 0

    @property
    def key(self) -> str:
        return self.candidate.key

    @property
    def identity(self) -> str:
        """The canonical key as shown: two entries that act the same share it."""
        return self.pruned.candidate.key if self.pruned is not None else self.candidate.key

    @property
    def shown(self) -> Candidate:
        """The candidate as printed, exported and re-scored (under the key its fitness is cached by)."""
        if self.pruned is None:
            return self.candidate
        s = self.pruned.candidate
        return Candidate(self.key, s.objective, self.candidate.origin, s.formula, s.genome, s.size)


class Strategy(Protocol):
    """The optimiser. ``leaders`` is the search's hall of fame, best first (strategies that keep an archive of
    elites breed from it); ``tell`` gets the fitness of what ``ask`` proposed, in its order (a strategy keeps what
    it asked, as pycma's and the project's own CMA-ES do), and returns extra fields for the generation's history
    record."""

    def restore(self, state: dict[str, Any] | None, rng: np.random.Generator) -> None: ...  # None: a new run
    def state(self) -> dict[str, Any]: ...  # JSON-able; merged into the checkpoint's state
    def ask(
        self, rng: np.random.Generator, generation: int, leaders: Sequence[Leader]
    ) -> list[Candidate]: ...
    def tell(
        self, fitness: list[float], rng: np.random.Generator, leaders: Sequence[Leader]
    ) -> dict[str, Any]: ...


class Representation(Protocol):
    """Candidates outside the optimiser: how jobs rebuild them, how the hall of fame keeps, describes and saves
    them. A representation may also define ``prune(candidate, occurring) -> Pruned | None`` and
    ``count_dead(candidate, occurring) -> (terms, dead)``: the search then prunes dead terms from every
    candidate before it enters the hall of fame (:mod:`symmpo.objective.prune`)."""

    label: str  # progress bar and log prefix, e.g. "evolve"
    load: (
        Callable[[dict[str, Any]], Any] | None
    )  # how a job rebuilds a candidate dict (None: objective files)

    def reference(self, spec: ReferenceSpec) -> Candidate: ...  # the configured reference loss (DPO)
    def leader_state(self, leader: Leader) -> dict[str, Any]: ...  # a hall-of-fame entry in a checkpoint
    def leader_from_state(self, state: dict[str, Any]) -> Leader: ...
    def describe(self, leader: Leader, rank: int) -> dict[str, Any]: ...  # its hall-of-fame fields
    def save(
        self, run: RunDir, leaders: Sequence[Leader], entries: list[dict[str, Any]], finished: bool
    ) -> None:
        """Its own files beside ``hall_of_fame.yaml`` (objective files, networks, their plots), called after every
        generation with the entries just written (``finished``: the run is re-scored). The fitness plot is the
        search's (:meth:`symmpo.search.loop.Search.write_outputs`)."""
