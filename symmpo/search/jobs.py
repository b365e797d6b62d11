"""Fitness jobs: train a chunk of objectives on one (task, seed) and return their normalized scores.

A job is a pure function of (objective dicts, task, seed, training config), so it can run in this
process, a worker process or a Ray task with identical results. Candidates are split into chunks of a
*fixed* size (not one per worker): the trainer trains a chunk as one stacked population, and keeping
the chunking independent of the worker count keeps every executor's numbers identical.

Every search strategy, the end-of-run re-score and the distillation refit train through
:func:`run_job` and :func:`train_objectives`; only how a dict becomes an objective differs
(``FitnessJob.load``: formulas by default, networks for the neural search).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from symmpo.stats import standard_error

if TYPE_CHECKING:
    from symmpo.train.config import TrainConfig

JobFn = Callable[["FitnessJob"], list[dict[str, Any]]]


@dataclass(frozen=True)
class FitnessJob:
    """Train ``objectives`` (objective dicts) together on ``task`` with training seed ``seed``.

    ``load`` rebuilds one dict in the worker (a module-level function, so it pickles by name); ``None``
    reads the objective-file format (``Objective.from_dict``).
    """

    objectives: tuple[dict[str, Any], ...]
    task: str
    seed: int
    train: TrainConfig
    load: Callable[[dict[str, Any]], Any] | None = None


def run_job(job: FitnessJob) -> list[dict[str, Any]]:
    """One record per objective: ``score`` (normalized, −inf when the run died), ``reason`` and ``seconds``."""
    from symmpo.train.fitness import fitness_records

    if job.load is None:
        from symmpo.objective import Objective

        load: Callable[[dict[str, Any]], Any] = Objective.from_dict
    else:
        load = job.load
    t0 = time.perf_counter()
    objectives = [load(d) for d in job.objectives]
    records = fitness_records(objectives, job.task, job.seed, job.train)
    seconds = time.perf_counter() - t0
    return [
        {
            "score": float(r["score"]),
            "reason": r.get("reason"),
            "seconds": seconds / max(1, len(records)),
            "occurring": r.get("occurring"),
        }
        for r in records
    ]


def make_jobs(
    objectives: Sequence[dict[str, Any]],
    tasks: Sequence[str],
    seeds: Sequence[int],
    train: TrainConfig,
    chunk: int,
    load: Callable[[dict[str, Any]], Any] | None = None,
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
                job = FitnessJob(tuple(objectives[i] for i in idx), task, int(seed), train, load)
                out.append((job, idx))
    return out


JobLog = Callable[[FitnessJob, list[int], list[dict[str, Any]]], None]


def train_objectives(
    executor: Any,
    objectives: Sequence[dict[str, Any]],
    tasks: Sequence[str],
    seeds: Sequence[int],
    train: TrainConfig,
    chunk: int,
    *,
    job_fn: JobFn = run_job,
    load: Callable[[dict[str, Any]], Any] | None = None,
    on_job: JobLog | None = None,
) -> list[dict[str, Any]]:
    """Train every objective on tasks × seeds through ``executor``; per objective
    ``{"scores": {"task/seed": score}, "reasons": ["task/seed: why", ...], "occurring": {"task/seed": sketch}}``
    (``occurring``: the log-probabilities each training saw, for dead-term pruning, when the job reports them).
    ``on_job(job, indices, records)`` sees each job's records as they arrive, in job order (the search logs them)."""
    out: list[dict[str, Any]] = [{"scores": {}, "reasons": [], "occurring": {}} for _ in objectives]
    if not objectives:
        return out
    jobs = make_jobs(objectives, tasks, seeds, train, chunk, load)
    for (job, idx), records in zip(jobs, executor.imap(job_fn, [j for j, _ in jobs]), strict=True):
        for i, rec in zip(idx, records, strict=True):
            out[i]["scores"][f"{job.task}/{job.seed}"] = rec["score"]
            if rec.get("occurring"):
                out[i]["occurring"][f"{job.task}/{job.seed}"] = rec["occurring"]
            if rec.get("reason"):
                out[i]["reasons"].append(f"{job.task}/{job.seed}: {rec['reason']}")
        if on_job is not None:
            on_job(job, idx, records)
    return out


def aggregate(scores: Sequence[float]) -> float:
    """Mean normalized score over tasks × seeds; −inf if any run died (a loss that diverges is unusable)."""
    if not scores or any(not math.isfinite(s) for s in scores):
        return -math.inf
    return float(sum(scores) / len(scores))


def seed_summary(result: dict[str, Any], tasks: Sequence[str], seeds: Sequence[int]) -> dict[str, Any]:
    """One objective's scores over tasks × ``seeds`` as the mean over tasks per seed, then mean ± s.e. over
    seeds (the unit of replication is the training seed); the failure reasons travel along."""
    seeds = [int(s) for s in seeds]
    per_seed = [aggregate([result["scores"][f"{t}/{s}"] for t in tasks]) for s in seeds]
    return {
        "mean": aggregate(per_seed),
        "se": standard_error(per_seed),
        "per_seed": per_seed,
        "seeds": seeds,
        "reasons": result["reasons"],
    }
