"""Typed genetic programming: selection, elitism, variation, parsimony.

The tree surgery itself (which subtree may replace which) lives in :mod:`symmpo.search.space`, which
knows the grammar's types; this module only decides *who* breeds and *how* (crossover, subtree /
point / hoist mutation, constant jitter), and re-checks every child with the validity checker before
it may enter the population. Fitness is maximized; selection ranks by fitness minus a size penalty
and breaks exact ties by size (smaller first), then by canonical key so ranking is deterministic.

Screening a child (the validity checker and the canonical key, both symbolic algebra: a tenth of a
second each) costs far more than proposing it, so proposals can be *screened ahead* in batches by the
executor's workers (:func:`executor_screen`): a batch is drawn from the random generator, screened in
parallel, consumed in order exactly as one-at-a-time breeding would, and the generator is put back to
just after the last proposal used. Drawing a proposal never depends on an earlier verdict, so the
population, the counters and the generator's state are the same for every batch size and worker count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
        """From :meth:`state` (a pruned form saved beside it by earlier versions is ignored)."""
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


# -- screening: the checker's verdict and the canonical key, here or in the workers -----------------------
@dataclass(frozen=True)
class Screened:
    """A proposal's verdict: ``reason`` None when valid; then its canonical ``key`` and ``size``."""

    reason: str | None
    key: str | None = None
    size: int | None = None


Screen = Callable[[Sequence[Any]], list[Screened]]


def screen_one(space: Space, genome: Any, check: bool = True) -> Screened:
    """Check ``genome`` (unless ``check`` is off) and, when valid, compute its key and size."""
    reason = space.check(genome) if check else None
    if reason is not None:
        return Screened(reason)
    return Screened(None, space.key(genome), space.size(genome))


def screen_here(space: Space) -> Screen:
    """Screen in this process, one genome after the other."""
    return lambda genomes: [screen_one(space, g) for g in genomes]


@dataclass(frozen=True)
class ScreenJob:
    """Genomes (as the space's exact dicts) to screen in a worker; the space travels along (a few kB)."""

    space: Any
    genomes: tuple[dict[str, Any], ...]
    check: bool = True


def screen_job(job: ScreenJob) -> list[Screened]:
    """Worker side of :func:`executor_screen` (module level, so it pickles by name)."""
    return [screen_one(job.space, job.space.from_dict(d), job.check) for d in job.genomes]


def executor_screen(space: Space, executor: Any, check: bool = True) -> Screen:
    """Screen through ``executor``: the genomes split into one nearly equal chunk per worker. Verdicts are
    pure functions of the genome, so they are the same wherever they are computed; with one worker the
    screening stays in this process."""
    workers = int(getattr(executor, "workers", 1))

    def screen(genomes: Sequence[Any]) -> list[Screened]:
        if workers <= 1 or len(genomes) <= 1:
            return [screen_one(space, g, check) for g in genomes]
        pieces = min(workers, len(genomes))
        bounds = [round(i * len(genomes) / pieces) for i in range(pieces + 1)]
        jobs = [
            ScreenJob(space, tuple(space.to_dict(g) for g in genomes[lo:hi]), check)
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return [v for verdicts in executor.imap(screen_job, jobs) for v in verdicts]

    return screen


class Lookahead:
    """Proposals drawn from ``rng`` ahead of need, in batches screened together, and consumed in order.

    ``draw(rng)`` returns ``(label, genome or None)`` and may use only ``rng``; ``batch(remaining)`` says
    how many to draw when the batch runs out. :meth:`close` puts ``rng`` back to the state right after the
    last proposal consumed, so the caller continues exactly as if it had drawn one at a time.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        draw: Callable[[np.random.Generator], tuple[str, Any]],
        screen: Screen,
        batch: Callable[[], int],
    ):
        self.rng = rng
        self.draw = draw
        self.screen = screen
        self.batch = batch
        self.consumed_state = rng.bit_generator.state
        self.consumed = 0  # proposals handed out so far
        self.items: list[tuple[str, Any, Screened | None]] = []
        self.states: list[dict[str, Any]] = []
        self.pos = 0

    def next(self) -> tuple[str, Any, Screened | None]:
        """The next proposal: (label, genome or None, its verdict or None when there is no genome)."""
        if self.pos == len(self.items):
            self._fill(max(1, self.batch()))
        item = self.items[self.pos]
        self.consumed_state = self.states[self.pos]
        self.pos += 1
        self.consumed += 1
        return item

    def _fill(self, k: int) -> None:
        drawn, self.states = [], []
        for _ in range(k):
            drawn.append(self.draw(self.rng))
            self.states.append(self.rng.bit_generator.state)
        verdicts = iter(self.screen([g for _, g in drawn if g is not None]))
        self.items = [(label, g, None if g is None else next(verdicts)) for label, g in drawn]
        self.pos = 0

    def close(self) -> None:
        self.rng.bit_generator.state = self.consumed_state


def ahead(lookahead: int, remaining: int, accepted: int, consumed: int) -> int:
    """How many proposals to screen at once: one without parallel screening; else the individuals still
    missing over the share of proposals accepted so far (all of them before the first batch), and at least
    one per worker. Only the amount of wasted screening depends on this, never the result."""
    if lookahead <= 1:
        return 1
    rate = accepted / consumed if consumed else 1.0
    return max(lookahead, math.ceil(remaining / max(rate, 0.2)))


def initial_population(
    space: Space,
    n: int,
    rng: np.random.Generator,
    max_attempts: int = 50,
    screen: Screen | None = None,
    lookahead: int = 1,
) -> list[Individual]:
    """``n`` valid samples with distinct canonical keys (fewer only if the grammar is that small)."""
    out: list[Individual] = []
    seen: set[str] = set()
    samples = Lookahead(
        rng,
        lambda r: ("sample", space.sample(r)),
        screen or screen_here(space),
        lambda: ahead(lookahead, n - len(out), len(out), samples.consumed),
    )
    for _ in range(n * max_attempts):
        if len(out) == n:
            break
        _, genome, verdict = samples.next()
        if verdict.reason is not None or verdict.key in seen:
            continue
        seen.add(verdict.key)
        out.append(Individual(genome, verdict.key, verdict.size, "sample"))
    samples.close()
    return out


def next_generation(
    space: Space,
    pool: Sequence[Individual],
    n: int,
    config: GPConfig,
    rng: np.random.Generator,
    screen: Screen | None = None,
    lookahead: int = 1,
) -> tuple[list[Individual], dict[str, int]]:
    """Elites plus offspring of tournament-selected parents; every child valid and distinct in the generation.

    Returns the new population and counters (children rejected by the checker, duplicates redrawn).
    ``screen`` checks proposals (default: here, one at a time); ``lookahead`` > 1 screens that many or more
    at once (see the module docstring: the result does not depend on it).
    """
    screen = screen or screen_here(space)
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

    def propose(r: np.random.Generator) -> tuple[str, Any]:
        op = OPERATORS[int(r.choice(len(OPERATORS), p=probs))]
        a = tournament(parents, config.tournament, config.parsimony, r)
        if op == "crossover":
            b = tournament(parents, config.tournament, config.parsimony, r)
            return op, space.crossover(a.genome, b.genome, r)
        return op, space.mutate(a.genome, op, r)

    def offspring() -> Lookahead:
        start = len(new)
        stream = Lookahead(
            rng, propose, screen, lambda: ahead(lookahead, n - len(new), len(new) - start, stream.consumed)
        )
        return stream

    proposals = offspring()
    while len(new) < n:
        child: Individual | None = None
        for _ in range(config.max_attempts):
            op, genome, verdict = proposals.next()
            if genome is None:
                stats["failed"] += 1
                continue
            if verdict.reason is not None:
                stats["invalid"] += 1
                continue
            if verdict.key in seen:
                stats["duplicate"] += 1
                continue
            child = Individual(genome, verdict.key, verdict.size, op)
            break
        if child is None:  # the neighbourhood is exhausted: inject fresh blood instead
            proposals.close()
            fresh = initial_population(space, 1, rng, screen=screen)
            proposals = offspring()
            if not fresh or fresh[0].key in seen:
                stats["failed"] += 1
                if not fresh:
                    break
                continue
            child = fresh[0]
        seen.add(child.key)
        new.append(child)
    proposals.close()
    return new, stats
