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

**Cheaper rungs by PO steps and learning rate**: ``fidelity: {rungs: [2, 2], promote: 0.125, steps: [250, 1000],
lr: [1e-3, 3e-4]}`` also sets each rung's PO steps (non-decreasing) and learning rate, the last ones the run's own
(its ``train`` steps and lr), so the top rung is still the flat fitness: rung 1 then trains every candidate for 250
steps at lr 1e-3 on two seeds, the promoted share trains afresh as the run trains. A short rung at a higher rate
moves the policy about as far as the run's training and ranks losses far better than a short rung at the run's
rate (``results/multifidelity``). A rung trained otherwise than the run keeps its scores under
``task/seed@250`` (steps only) or ``task/seed@250:0.001`` (with its rate), and its log lines carry ``steps`` and
``lr``, so they never mix with the ``task/seed`` ones and a resumed run finds both. Without ``steps`` and ``lr``
every rung trains as the run does and the keys are those above.

Off by default (no ``fidelity`` key): runs, checkpoints and their outputs are exactly those of a flat fitness.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Fidelity", "promote", "rekey", "rung_of", "score_key"]


def score_key(task: str, seed: int, tag: str | None = None) -> str:
    """Where a per-seed score is cached: ``task/seed`` at the run's training (``tag`` None), ``task/seed@tag`` on a
    rung that trains otherwise (:meth:`Fidelity.tag`: ``250`` or ``250:0.001``)."""
    return f"{task}/{seed}" if tag is None else f"{task}/{seed}@{tag}"


def rekey(result: dict[str, Any], tag: str | None) -> dict[str, Any]:
    """A training result of a cheaper rung (``{"scores": {task/seed: ..}, "occurring": .., "reasons": [..]}``)
    under that rung's keys, so that it never stands in for a score of the run's own training."""
    if tag is None:
        return result
    return {
        **result,
        "scores": {f"{k}@{tag}": v for k, v in result["scores"].items()},
        "occurring": {f"{k}@{tag}": v for k, v in (result.get("occurring") or {}).items()},
        "reasons": [r.replace(": ", f"@{tag}: ", 1) for r in result["reasons"]],
    }


@dataclass(frozen=True)
class Fidelity:
    """Seed counts per rung (non-decreasing, the last one every fitness seed), the share promoted per rung and,
    optionally, PO steps and learning rate per rung as configured; ``full_steps`` and ``full_lr`` are the run's
    own (:meth:`bind`), at which a rung trains as the run does."""

    rungs: tuple[int, ...]
    promote: float
    steps: tuple[int, ...] | None = None
    lr: tuple[float, ...] | None = None
    full_steps: int | None = field(default=None, compare=False)  # derived from the run (bind)
    full_lr: float | None = field(default=None, compare=False)

    def bind(self, steps: int, lr: float) -> Fidelity:
        """This schedule for a run that trains ``steps`` PO steps at ``lr``: the last rung's must be those (the
        top rung is the flat fitness), else a one-line :class:`~symmpo.search.bounds.ConfigError`."""
        from symmpo.search.bounds import ConfigError

        for key, what, given, full in (
            ("steps", "PO steps", self.steps, steps),
            ("lr", "learning rate", self.lr, lr),
        ):
            if given is not None and given[-1] != full:
                raise ConfigError(
                    f"fidelity.{key} must end at the run's {what} ({full:g}), got {list(given)}"
                )
        return dataclasses.replace(self, full_steps=int(steps), full_lr=float(lr))

    def seeds(self, seeds: Sequence[int], rung: int) -> list[int]:
        """The fitness seeds of ``rung`` (0-based): a prefix of the run's seeds."""
        return [int(s) for s in seeds[: self.rungs[rung]]]

    def steps_of(self, rung: int) -> int | None:
        """The PO steps of ``rung`` (0-based) when not the run's own; None at the run's steps."""
        if self.steps is None or self.steps[rung] == self.full_steps:
            return None
        return self.steps[rung]

    def lr_of(self, rung: int) -> float | None:
        """The learning rate of ``rung`` (0-based) when not the run's own; None at the run's."""
        if self.lr is None or self.lr[rung] == self.full_lr:
            return None
        return self.lr[rung]

    def overrides(self, rung: int) -> dict[str, Any]:
        """What ``rung`` (0-based) changes in the run's trainer configuration: ``{}`` when it trains as the run."""
        steps, lr = self.steps_of(rung), self.lr_of(rung)
        return {**({} if steps is None else {"steps": steps}), **({} if lr is None else {"lr": lr})}

    def tag(self, rung: int) -> str | None:
        """The suffix of ``rung``'s score keys: None when it trains as the run, ``250`` with its own steps,
        ``250:0.001`` (``1000:0.001`` at the run's steps) with its own learning rate."""
        steps, lr = self.steps_of(rung), self.lr_of(rung)
        if lr is None:
            return None if steps is None else str(steps)
        return f"{self.full_steps if steps is None else steps}:{lr:g}"

    def keys(self, tasks: Sequence[str], seeds: Sequence[int], rung: int) -> list[str]:
        """The per-seed score keys ``rung`` (0-based) needs: tasks × its seeds, trained as it says."""
        return [score_key(t, s, self.tag(rung)) for t in tasks for s in self.seeds(seeds, rung)]

    def to_mapping(self) -> dict[str, Any]:
        """The ``fidelity`` section as configured (``config.yaml``)."""
        return {
            "rungs": list(self.rungs),
            "promote": self.promote,
            **({} if self.steps is None else {"steps": list(self.steps)}),
            **({} if self.lr is None else {"lr": list(self.lr)}),
        }

    def promoted_count(self, n: int) -> int:
        """How many of ``n`` candidates go on to the next rung: the promoted share, rounded up, at least one."""
        return min(n, max(1, math.ceil(self.promote * n - 1e-9)))

    def expected_trainings(self) -> float:
        """Seed-trainings per candidate in a large generation (a flat fitness: ``rungs[-1]``); a rung trained
        otherwise than the one before (steps, learning rate) trains all its seeds afresh."""
        total, share = 0.0, 1.0
        previous = 0
        for i, r in enumerate(self.rungs):
            if i and self.tag(i) != self.tag(i - 1):
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
    entry: dict[str, Any], tasks: Sequence[str], seeds: Sequence[int], tag: str | None = None
) -> float:
    """Mean normalized score over tasks × ``seeds`` of the rung tagged ``tag`` (−inf if one of those runs died)."""
    from symmpo.search.jobs import aggregate

    return aggregate([entry["scores"][score_key(t, s, tag)] for t in tasks for s in seeds])


def promote(keys: Sequence[str], score: dict[str, float], size: dict[str, int], count: int) -> list[str]:
    """The ``count`` best of ``keys`` by ``score`` (ties: smaller size, then key, as the hall of fame breaks
    them); a candidate whose run died is never promoted."""
    alive = [k for k in keys if math.isfinite(score[k])]
    return sorted(alive, key=lambda k: (-score[k], size[k], k))[:count]
