"""The search's hall of fame: the best distinct candidates ever trained, whatever the strategy.

Ranked by raw fitness (after the fidelity rung reached, when the search promotes candidates through rungs of
seeds: :mod:`symmpo.search.multifidelity`); exact ties go to the smaller candidate, then the canonical key, so the order is
deterministic. Distinct means distinct as printed: a candidate whose dead terms were pruned
(:mod:`symmpo.objective.prune`) is shown, exported and re-scored in its pruned form, and of two entries that act
the same the better one stays. Breeding and the fitness cache keep the candidate as bred (``Leader.candidate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from symmpo.search.strategy import Leader

PRUNING_ZERO = {"candidates": 0, "terms": 0, "dead": 0}  # counters over every trained candidate


def rank_key(leader: Leader) -> tuple[int, float, int, str]:
    """Best first: the fidelity rung reached (all 0 for a flat fitness, :mod:`symmpo.search.multifidelity`),
    fitness, then size and key."""
    f = leader.fitness if not math.isnan(leader.fitness) else -math.inf
    return (-leader.rung, -f, leader.candidate.size, leader.key)


@dataclass
class HallOfFame:
    """The best ``capacity`` distinct leaders, best first."""

    capacity: int
    leaders: list[Leader] = field(default_factory=list)

    def update(self, entering: Sequence[Leader]) -> None:
        by_key = {e.key: e for e in self.leaders}
        for c in entering:
            if c.key in by_key and c.rung > by_key[c.key].rung:
                del by_key[
                    c.key
                ]  # promoted: its cheaper score is void (and it leaves if it died on a new seed)
            if math.isfinite(c.fitness) and c.key not in by_key:
                by_key[c.key] = c
        distinct: dict[str, Leader] = {}
        for leader in sorted(by_key.values(), key=rank_key):
            distinct.setdefault(leader.identity, leader)
        self.leaders = list(distinct.values())[: self.capacity]

    def admits(self, fitness: float, rung: int = 0) -> bool:
        """Whether an entry with this fitness at this fidelity rung could enter now (the only candidates worth
        pruning)."""
        if not math.isfinite(fitness):
            return False
        if len(self.leaders) < self.capacity:
            return True
        last = self.leaders[-1]
        return (rung, fitness) >= (last.rung, last.fitness)


def pruning_summary(counters: dict[str, int], leaders: Sequence[Leader], threshold: float) -> dict[str, Any]:
    """The share of dead terms: over every trained candidate, and over the hall of fame as printed."""
    shown = [e.pruned for e in leaders if e.pruned is not None]
    terms = sum(s.terms for s in shown)
    removed = sum(s.pruned for s in shown)
    c = counters
    return {
        "threshold": threshold,
        "candidates": {**c, "dead_share": round(c["dead"] / c["terms"], 4) if c["terms"] else 0.0},
        "hall_of_fame": {
            "entries": len(shown),
            "terms": terms,
            "pruned": removed,
            "kept_for_validity": sum(s.kept for s in shown),
            "pruned_share": round(removed / terms, 4) if terms else 0.0,
        },
    }
