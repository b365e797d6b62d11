"""The MuJoCo adapter of the study runner: which columns there are, the fitness and held-out configurations, and
how one (task, seed) cell is trained: every member together in one population, plus the SFT reference row.

Rows keep the format the tables have always had (``sweep.jsonl``, ``bench.jsonl``, ``compare.jsonl``,
``tune.jsonl``), so studies started by older code resume and report with the same numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from symmpo import protocol
from symmpo.errors import SymmpoError
from symmpo.studies.members import SFT, Member
from symmpo.studies.rows import Rows, ident
from symmpo.train.config import TrainConfig

ENVS = ("hopper", "halfcheetah", "walker2d")
FITNESS_ENVS = ("hopper", "halfcheetah")
SETTINGS = ("clean", "noisy-0.2", "noisy-0.4", "mixed-0.5")
# transfer environments take their hyperparameters from the matching column of another environment
TRANSFER_SOURCE = {"walker2d": "hopper"}


def tuned_on(task: str) -> str:
    """The column whose fitness split chose ``task``'s hyperparameters (itself, or its transfer source)."""
    env, _, setting = task.partition("-")
    return f"{TRANSFER_SOURCE[env]}-{setting}" if env in TRANSFER_SOURCE else task


def sweep_tasks(envs: Sequence[str], settings: Sequence[str]) -> list[str]:
    """The columns a sweep tunes on: every setting of every environment that is not a transfer environment."""
    bad = [e for e in envs if e in TRANSFER_SOURCE]
    if bad:
        raise SymmpoError(
            f"{', '.join(bad)} is a transfer environment and is never tuned on; its columns use "
            f"{', '.join(TRANSFER_SOURCE[e] for e in bad)}'s choices"
        )
    return [f"{e}-{s}" for e in envs for s in settings]


def ordered_tasks(tasks: set[str]) -> list[str]:
    """Columns in table order: environment, then setting, then name."""

    def key(t: str):
        env, _, setting = t.partition("-")
        return (
            ENVS.index(env) if env in ENVS else 99,
            SETTINGS.index(setting) if setting in SETTINGS else 99,
            t,
        )

    return sorted(tasks, key=key)


# ------------------------------------------------------------------------------------------------ splits
def fitness_config(config: TrainConfig) -> TrainConfig:
    """The configuration on the fitness split (what sweeps and searches tune on)."""
    return dataclasses.replace(config, dataset_seed=protocol.FITNESS_DATASET_SEED, eval_reset_offset=0)


def heldout_config(config: TrainConfig) -> TrainConfig:
    """The configuration on the held-out split (what tables and comparisons report)."""
    return dataclasses.replace(
        config,
        dataset_seed=protocol.HELDOUT_DATASET_SEED,
        dataset_seeds=(),
        eval_reset_offset=protocol.HELDOUT_RESET_OFFSET,
    )


def split(config: TrainConfig, seeds: Sequence[int]) -> protocol.Split:
    """The data, training seeds and evaluation resets ``config`` measures on with ``seeds``."""
    return protocol.Split.of(config, seeds)


def config_hash(config: TrainConfig) -> str:
    """The key of a configuration's rows (unchanged since the first tables: their rows stay readable)."""
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def rows_of(out_dir: Path, kind: str, config: TrainConfig) -> Rows:
    return Rows(out_dir, kind, config_hash(config), config.dataset_seed_of)


# ------------------------------------------------------------------------------------------------ cells
def run_populations(
    out_dir: Path,
    kind: str,
    tasks: Sequence[str],
    seeds: Sequence[int],
    members: list[Member] | Callable[[str], list[Member]],
    config: TrainConfig,
    *,
    with_sft: bool,
    cache_dir: str | None = None,
    progress: bool = True,
    log=print,
    executor: Any = None,
) -> None:
    """Train ``members`` (a list, or a function of the task) together on every (task, seed) not yet in
    ``<kind>.jsonl``; append each cell's rows as it finishes.

    The cells fan out to ``executor`` (default: in this process, one after another). Each cell is one
    population trained by :func:`train_cell`, which reads only the cached dataset and the cell's own π_ref, so
    its rows do not depend on the worker that ran it or on what ran before: two workers give the rows one
    gives, in another order (rows are keyed, never read by position). The datasets are built here first, once
    each (cells of a column share one); π_ref is the cell's own and is built by its worker.
    """
    from tqdm import tqdm

    from symmpo.search.executors import InlineExecutor
    from symmpo.train import fitness

    store = rows_of(out_dir, kind, config)
    done = store.done()
    jobs: list[CellJob] = []
    for task in tasks:
        task_members = members(task) if callable(members) else members
        for seed in seeds:
            # built here the first time (a response pool: minutes), cached for the cell's worker
            data = fitness.load_dataset(task, config, seed, cache_dir).meta.get("sha256")
            todo = [m for m in task_members if ident(task, seed, m.label, m.params, m.lr, data) not in done]
            need_sft = with_sft and ident(task, seed, SFT, {}, None, data) not in done
            if todo or need_sft:
                jobs.append(
                    CellJob(kind, task, seed, tuple(todo), need_sft, config, store.config_hash, cache_dir)
                )
    if not jobs:
        return
    executor = executor or InlineExecutor()
    bar = tqdm(total=len(jobs), desc=kind, disable=not progress)
    for i, (rows, secs) in executor.imap_unordered(train_cell, jobs):
        job = jobs[i]
        store.append(rows)
        log(
            f"{kind} {job.task} seed {job.seed}: {len(rows)} rows in {secs['total']:.0f} s (data+reference "
            f"{secs['reference']:.0f} s, train {secs['train']:.0f} s, eval {secs['eval']:.0f} s)"
        )
        bar.update()
    bar.close()


@dataclasses.dataclass(frozen=True)
class CellJob:
    """One population of a study: ``members`` (and SFT when ``need_sft``) trained on ``task`` with ``seed``."""

    kind: str
    task: str
    seed: int
    members: tuple[Member, ...]
    need_sft: bool
    config: TrainConfig
    config_hash: str
    cache_dir: str | None


def train_cell(job: CellJob) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """A cell's rows (a process-pool job: module level, single-threaded torch) and where its seconds went."""
    import torch

    from symmpo.train import fitness
    from symmpo.train.trainer import train_population

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    dataset = fitness.load_dataset(job.task, job.config, job.seed, job.cache_dir)
    data = dataset.meta.get("sha256")
    reference = fitness.get_reference(dataset, job.seed, job.config, cache_dir=job.cache_dir)
    t_prep = time.perf_counter() - t0
    evaluator = fitness.make_evaluator(job.task, job.config)
    results = []
    if job.members:
        results = train_population(
            [m.objective() for m in job.members],
            dataset,
            reference,
            job.config,
            job.seed,
            evaluator=evaluator,
            names=[m.label for m in job.members],
            lrs=[job.config.lr if m.lr is None else m.lr for m in job.members],
        )
    cell = {"kind": job.kind, "task": job.task, "seed": job.seed}
    rows = [
        {
            **cell,
            "label": m.label,
            "objective": m.name,
            "params": m.params,
            "lr": m.lr,
            "config": job.config_hash,
            "dataset": data,
            **_result_fields(r),
        }
        for m, r in zip(job.members, results, strict=True)
    ]
    if job.need_sft:
        r = fitness.evaluate_reference(reference, evaluator)
        rows.append(
            {
                **cell,
                "label": SFT,
                "objective": SFT,
                "params": {},
                "lr": None,
                "config": job.config_hash,
                "dataset": data,
                "bc_loss": reference.bc_loss,
                **_result_fields(r),
            }
        )
    secs = {
        "total": time.perf_counter() - t0,
        "reference": t_prep,
        "train": results[0].train_seconds if results else 0.0,
        "eval": results[0].eval_seconds if results else 0.0,
    }
    return rows, secs


def _result_fields(r) -> dict[str, Any]:
    return {
        "score": r.score,
        "score_se": r.score_se,
        "returns": r.returns,
        "alive": r.alive,
        "reason": r.reason,
        "eval_curve": r.eval_curve,
        "train_seconds": r.train_seconds,
        "eval_seconds": r.eval_seconds,
    }
