"""Typed genetic programming: selection, elitism, variation, parsimony, hall of fame.

The tree surgery itself (which subtree may replace which) lives in :mod:`symmpo.search.space`, which
knows the grammar's types; this module only decides *who* breeds and *how* (crossover, subtree /
point / hoist mutation, constant jitter), and re-checks every child with the validity checker before
it may enter the population. Fitness is maximized; selection ranks by fitness minus a size penalty
and breaks exact ties by size (smaller first), then by canonical key so ranking is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

OPERATORS = ("crossover", "subtree", "point", "hoist", "jitter")


class Space(Protocol):
    """What GP needs from a search space of objectives (implemented by ``space.ObjectiveSpace``)."""

    def sample(self, rng: np.random.Generator) -> Any: ...
    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> Any | None: ...
    def mutate(self, genome: Any, kind: str, rng: np.random.Generator) -> Any | None: ...
    def check(self, genome: Any) -> str | None: ...  # None when valid, else the reason
    def key(self, genome: Any) -> str: ...
    def size(self, genome: Any) -> int: ...
    def to_dict(self, genome: Any) -> dict[str, Any]: ...
    def from_dict(self, data: dict[str, Any]) -> Any: ...
    def objective_dict(self, genome: Any) -> dict[str, Any]: ...


@dataclass
class Individual:
    """One evaluated (or about to be evaluated) objective; ``genome`` is the space's own representation."""

    genome: Any
    key: str
    size: int
    origin: str  # sample, elite, crossover, subtree, point, hoist, jitter, cmaes, reference
    fitness: float = math.nan

    def state(self, space: Space) -> dict[str, Any]:
        return {
            "objective": space.to_dict(self.genome),
            "key": self.key,
            "size": self.size,
            "origin": self.origin,
            "fitness": self.fitness,
        }

    @classmethod
    def from_state(cls, space: Space, st: dict[str, Any]) -> Individual:
        return cls(
            space.from_dict(st["objective"]), st["key"], int(st["size"]), st["origin"], float(st["fitness"])
        )


@dataclass(frozen=True)
class GPConfig:
    """Knobs of the GP step; operator probabilities are renormalized."""

    tournament: int = 3
    elitism: int = 2
    p_crossover: float = 0.35
    p_subtree: float = 0.25
    p_point: float = 0.15
    p_hoist: float = 0.05
    p_jitter: float = 0.20
    parsimony: float = 0.05  # fitness points per node: pressure toward readable formulas
    max_attempts: int = 20  # per child, to find a valid child not seen in this generation

    def operator_probs(self) -> np.ndarray:
        p = np.array([self.p_crossover, self.p_subtree, self.p_point, self.p_hoist, self.p_jitter], float)
        if p.sum() <= 0:
            raise ValueError("at least one variation operator needs a positive probability")
        return p / p.sum()


def rank_key(ind: Individual, parsimony: float) -> tuple[float, int, str]:
    """Sort key, best first: penalized fitness, then size, then canonical key (determinism)."""
    f = ind.fitness if not math.isnan(ind.fitness) else -math.inf
    return (-(f - parsimony * ind.size), ind.size, ind.key)


def ranked(pool: Sequence[Individual], parsimony: float) -> list[Individual]:
    return sorted(pool, key=lambda ind: rank_key(ind, parsimony))


def tournament(pool: Sequence[Individual], k: int, parsimony: float, rng: np.random.Generator) -> Individual:
    """Best of ``k`` drawn with replacement."""
    picks = [pool[int(i)] for i in rng.integers(0, len(pool), size=max(1, k))]
    return min(picks, key=lambda ind: rank_key(ind, parsimony))


def make_individual(space: Space, genome: Any, origin: str) -> Individual:
    return Individual(genome, space.key(genome), space.size(genome), origin)


def initial_population(
    space: Space, n: int, rng: np.random.Generator, max_attempts: int = 50
) -> list[Individual]:
    """``n`` valid samples with distinct canonical keys (fewer only if the grammar is that small)."""
    out: list[Individual] = []
    seen: set[str] = set()
    for _ in range(n * max_attempts):
        if len(out) == n:
            break
        genome = space.sample(rng)
        if space.check(genome) is not None:
            continue
        ind = make_individual(space, genome, "sample")
        if ind.key in seen:
            continue
        seen.add(ind.key)
        out.append(ind)
    return out


def next_generation(
    space: Space, pool: Sequence[Individual], n: int, config: GPConfig, rng: np.random.Generator
) -> tuple[list[Individual], dict[str, int]]:
    """Elites plus offspring of tournament-selected parents; every child valid and distinct in the generation.

    Returns the new population and counters (children rejected by the checker, duplicates redrawn).
    """
    stats = {"invalid": 0, "duplicate": 0, "failed": 0}
    order = ranked([ind for ind in pool if math.isfinite(ind.fitness)] or list(pool), config.parsimony)
    new: list[Individual] = []
    seen: set[str] = set()
    for ind in order[: config.elitism]:
        if ind.key not in seen:
            seen.add(ind.key)
            new.append(Individual(ind.genome, ind.key, ind.size, "elite", ind.fitness))
    probs = config.operator_probs()
    parents = order  # tournament over the finite part (dead runs never breed unless nothing else lives)
    while len(new) < n:
        child: Individual | None = None
        for _ in range(config.max_attempts):
            op = OPERATORS[int(rng.choice(len(OPERATORS), p=probs))]
            a = tournament(parents, config.tournament, config.parsimony, rng)
            if op == "crossover":
                b = tournament(parents, config.tournament, config.parsimony, rng)
                genome = space.crossover(a.genome, b.genome, rng)
            else:
                genome = space.mutate(a.genome, op, rng)
            if genome is None:
                stats["failed"] += 1
                continue
            if space.check(genome) is not None:
                stats["invalid"] += 1
                continue
            cand = make_individual(space, genome, op)
            if cand.key in seen:
                stats["duplicate"] += 1
                continue
            child = cand
            break
        if child is None:  # the neighbourhood is exhausted: inject fresh blood instead
            fresh = initial_population(space, 1, rng)
            if not fresh or fresh[0].key in seen:
                stats["failed"] += 1
                if not fresh:
                    break
                continue
            child = fresh[0]
        seen.add(child.key)
        new.append(child)
    return new, stats


@dataclass
class HallOfFame:
    """The best distinct objectives ever evaluated (by raw fitness; ties → smaller, then key)."""

    capacity: int
    entries: list[Individual] = field(default_factory=list)

    def update(self, candidates: Sequence[Individual]) -> None:
        by_key = {e.key: e for e in self.entries}
        for c in candidates:
            if math.isfinite(c.fitness) and c.key not in by_key:
                by_key[c.key] = c
        self.entries = ranked(list(by_key.values()), 0.0)[: self.capacity]

    def best(self) -> Individual | None:
        return self.entries[0] if self.entries else None

    def state(self, space: Space) -> list[dict[str, Any]]:
        return [e.state(space) for e in self.entries]

    @classmethod
    def from_state(cls, space: Space, capacity: int, st: list[dict[str, Any]]) -> HallOfFame:
        return cls(capacity, [Individual.from_state(space, e) for e in st])
