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

**Cheaper rungs by PO steps**: ``fidelity: {rungs: [1, 2], promote: 0.33, steps: [250, 1000]}`` also sets each
rung's PO steps (non-decreasing, the last one the run's own ``train`` steps, so the top rung is still the flat
fitness): rung 1 then trains every candidate for 250 steps on one seed, the promoted share trains afresh for the
run's steps on two. A rung below the run's steps keeps its scores under ``task/seed@steps`` (and its log lines
carry ``steps``), apart from the full-step ``task/seed`` ones, so the two never mix and a resumed run finds both.
Without ``steps`` every rung trains at the run's steps and the keys are those above.

Off by default (no ``fidelity`` key): runs, checkpoints and their outputs are exactly those of a flat fitness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Fidelity", "promote", "rekey", "rung_of", "score_key"]


def score_key(task: str, seed: int, steps: int | None = None) -> str:
    """Where a per-seed score is cached: ``task/seed`` at the run's PO steps (``steps`` None), ``task/seed@steps``
    on a cheaper rung."""
    return f"{task}/{seed}" if steps is None else f"{task}/{seed}@{steps}"


def rekey(result: dict[str, Any], steps: int | None) -> dict[str, Any]:
    """A training result of a cheaper rung (``{"scores": {task/seed: ..}, "occurring": .., "reasons": [..]}``)
    under that rung's keys, so that it never stands in for a score at the run's steps."""
    if steps is None:
        return result
    return {
        **result,
        "scores": {f"{k}@{steps}": v for k, v in result["scores"].items()},
        "occurring": {f"{k}@{steps}": v for k, v in (result.get("occurring") or {}).items()},
        "reasons": [r.replace(": ", f"@{steps}: ", 1) for r in result["reasons"]],
    }


@dataclass(frozen=True)
class Fidelity:
    """Seed counts per rung (non-decreasing, the last one every fitness seed), the share promoted per rung and,
    optionally, PO steps per rung (None: the run's own steps)."""

    rungs: tuple[int, ...]
    promote: float
    steps: tuple[int | None, ...] | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], full_steps: int | None = None) -> Fidelity | None:
        """The configuration's ``fidelity`` section (checked by :mod:`symmpo.search.bounds`); None when absent.
        ``full_steps`` is the run's PO steps: the last rung's ``steps`` must be it (the top rung is the flat
        fitness), and a rung at those steps shares the flat fitness's scores."""
        spec = config.get("fidelity")
        if spec is None:
            return None
        steps = None
        if spec.get("steps") is not None:
            from symmpo.search.bounds import ConfigError

            given = [int(s) for s in spec["steps"]]
            if full_steps is None or given[-1] != full_steps:
                raise ConfigError(
                    f"fidelity.steps must end at the run's PO steps ({full_steps}), got {given}"
                )
            steps = tuple(None if s == full_steps else s for s in given)
        return cls(tuple(int(r) for r in spec["rungs"]), float(spec["promote"]), steps)

    def seeds(self, seeds: Sequence[int], rung: int) -> list[int]:
        """The fitness seeds of ``rung`` (0-based): a prefix of the run's seeds."""
        return [int(s) for s in seeds[: self.rungs[rung]]]

    def steps_of(self, rung: int) -> int | None:
        """The PO steps of ``rung`` (0-based) when below the run's own; None at the run's steps."""
        return None if self.steps is None else self.steps[rung]

    def keys(self, tasks: Sequence[str], seeds: Sequence[int], rung: int) -> list[str]:
        """The per-seed score keys ``rung`` (0-based) needs: tasks × its seeds at its steps."""
        return [score_key(t, s, self.steps_of(rung)) for t in tasks for s in self.seeds(seeds, rung)]

    def promoted_count(self, n: int) -> int:
        """How many of ``n`` candidates go on to the next rung: the promoted share, rounded up, at least one."""
        return min(n, max(1, math.ceil(self.promote * n - 1e-9)))

    def expected_trainings(self) -> float:
        """Seed-trainings per candidate in a large generation (a flat fitness: ``rungs[-1]``); a rung at other
        steps than the one before trains all its seeds afresh."""
        total, share = 0.0, 1.0
        previous = 0
        for i, r in enumerate(self.rungs):
            if i and self.steps_of(i) != self.steps_of(i - 1):
                previous = 0
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
        if all(k in scores for k in fidelity.keys(tasks, seeds, i)):
            reached = i
        else:
            break
    return reached


def rung_fitness(
    entry: dict[str, Any], tasks: Sequence[str], seeds: Sequence[int], steps: int | None = None
) -> float:
    """Mean normalized score over tasks × ``seeds`` at ``steps`` (−inf if one of those runs died)."""
    from symmpo.search.jobs import aggregate

    return aggregate([entry["scores"][score_key(t, s, steps)] for t in tasks for s in seeds])


def promote(keys: Sequence[str], score: dict[str, float], size: dict[str, int], count: int) -> list[str]:
    """The ``count`` best of ``keys`` by ``score`` (ties: smaller size, then key, as the hall of fame breaks
    them); a candidate whose run died is never promoted."""
    alive = [k for k in keys if math.isfinite(score[k])]
    return sorted(alive, key=lambda k: (-score[k], size[k], k))[:count]
