"""Multi-fidelity selection (successive halving over fitness seeds): more candidates per hour at equal fidelity.

A flat fitness trains every candidate on every fitness seed. With ``fidelity: {rungs: [1, 3], promote: 0.33}``
in a search's configuration, a generation's distinct candidates are trained on the first ``rungs[0]`` fitness
seeds (rung 1); the best ``promote`` share of them (at least one, ranked by their rung-1 score) go on to the first
``rungs[1]`` seeds, and so on; the last rung is every fitness seed, so a promoted candidate's fitness is the very
number a flat run gives it. Seeds are a prefix of the run's ``seeds``, so a candidate promoted later (an elite
re-asked by the strategy) trains only the seeds it lacks: its per-seed scores are cached under ``task/seed``.

**The rule** that keeps a cheap score from outranking a dear one: every candidate carries the rung it reached,
and the hall of fame ranks by rung first, then fitness (:func:`symmpo.search.halloffame.rank_key`). An entry
scored on fewer seeds therefore never ranks above one scored on all of them, is marked in ``hall_of_fame.yaml``
(``search_fitness.rung``, ``seeds``), and is never re-scored ahead of a promoted one. The strategy is told each
candidate's mean over the seeds it has; a strategy's elites are re-asked, compete for promotion again and so
reach the full fidelity when they keep winning.

Off by default (no ``fidelity`` key): runs, checkpoints and their outputs are exactly those of a flat fitness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Fidelity", "promote", "rung_of"]


@dataclass(frozen=True)
class Fidelity:
    """Seed counts per rung (increasing, the last one every fitness seed) and the share promoted per rung."""

    rungs: tuple[int, ...]
    promote: float

    def seeds(self, seeds: Sequence[int], rung: int) -> list[int]:
        """The fitness seeds of ``rung`` (0-based): a prefix of the run's seeds."""
        return [int(s) for s in seeds[: self.rungs[rung]]]

    def promoted_count(self, n: int) -> int:
        """How many of ``n`` candidates go on to the next rung: the promoted share, rounded up, at least one."""
        return min(n, max(1, math.ceil(self.promote * n - 1e-9)))

    def expected_trainings(self) -> float:
        """Seed-trainings per candidate in a large generation (a flat fitness: ``rungs[-1]``)."""
        total, share = 0.0, 1.0
        previous = 0
        for r in self.rungs:
            total += share * (r - previous)
            previous = r
            share *= self.promote
        return total


def rung_of(
    entry: dict[str, Any], tasks: Sequence[str], seeds: Sequence[int], fidelity: Fidelity | None
) -> int:
    """The highest rung (0-based) whose seeds ``entry["scores"]`` holds for every task; 0 without fidelity
    (every candidate then has the same single rung, so ranks are those of a flat fitness)."""
    if fidelity is None:
        return 0
    scores = entry.get("scores", {})
    reached = 0
    for i in range(len(fidelity.rungs)):
        if all(f"{t}/{s}" in scores for t in tasks for s in fidelity.seeds(seeds, i)):
            reached = i
        else:
            break
    return reached


def rung_fitness(entry: dict[str, Any], tasks: Sequence[str], seeds: Sequence[int]) -> float:
    """Mean normalized score over tasks × ``seeds`` (−inf if one of those runs died)."""
    from symmpo.search.jobs import aggregate

    return aggregate([entry["scores"][f"{t}/{s}"] for t in tasks for s in seeds])


def promote(keys: Sequence[str], score: dict[str, float], size: dict[str, int], count: int) -> list[str]:
    """The ``count`` best of ``keys`` by ``score`` (ties: smaller size, then key, as the hall of fame breaks
    them); a candidate whose run died is never promoted."""
    alive = [k for k in keys if math.isfinite(score[k])]
    return sorted(alive, key=lambda k: (-score[k], size[k], k))[:count]
