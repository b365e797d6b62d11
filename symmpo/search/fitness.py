"""Fitness jobs: train a chunk of objectives on one (task, seed) and return their normalized scores.

A job is a pure function of (objective dicts, task, seed, training config), so it can run in this
process, a worker process or a Ray task with identical results. Candidates are split into chunks of a
*fixed* size (not one per worker): the trainer trains a chunk as one stacked population, and keeping
the chunking independent of the worker count keeps every executor's numbers identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FitnessJob:
    """Train ``objectives`` (Objective dicts) together on ``task`` with training seed ``seed``."""

    objectives: tuple[dict[str, Any], ...]
    task: str
    seed: int
    train: dict[str, Any]  # TrainConfig.to_dict()


def run_job(job: FitnessJob) -> list[dict[str, Any]]:
    """One record per objective: ``score`` (normalized, −inf when the run died) and ``reason``."""
    from symmpo.objective import Objective
    from symmpo.train.fitness import fitness_records

    t0 = time.perf_counter()
    objectives = [Objective.from_dict(d) for d in job.objectives]
    records = fitness_records(objectives, job.task, job.seed, job.train)
    seconds = time.perf_counter() - t0
    return [
        {"score": float(r["score"]), "reason": r.get("reason"), "seconds": seconds / max(1, len(records))}
        for r in records
    ]


def make_jobs(
    objectives: Sequence[dict[str, Any]],
    tasks: Sequence[str],
    seeds: Sequence[int],
    train: dict[str, Any],
    chunk: int,
) -> list[tuple[FitnessJob, list[int]]]:
    """Jobs covering every objective × task × seed, each with the candidate indices it holds.

    Candidates are split into ``ceil(n / chunk)`` nearly equal chunks (25 with chunk 16 → 13 + 12, not
    16 + 9), so parallel workers finish together; the split depends on n and chunk only.
    """
    n = len(objectives)
    pieces = max(1, math.ceil(n / chunk))
    bounds = [round(i * n / pieces) for i in range(pieces + 1)]
    out: list[tuple[FitnessJob, list[int]]] = []
    for task in tasks:
        for seed in seeds:
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                if hi <= lo:
                    continue
                idx = list(range(lo, hi))
                job = FitnessJob(tuple(objectives[i] for i in idx), task, int(seed), train)
                out.append((job, idx))
    return out


def aggregate(scores: Sequence[float]) -> float:
    """Mean normalized score over tasks × seeds; −inf if any run died (a loss that diverges is unusable)."""
    if not scores or any(not math.isfinite(s) for s in scores):
        return -math.inf
    return float(sum(scores) / len(scores))


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean (nan for fewer than two values or any non-finite value)."""
    n = len(values)
    if n < 2 or any(not math.isfinite(v) for v in values):
        return math.nan
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(var / n)
