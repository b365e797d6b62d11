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
    return Rows(out_dir, kind, config_hash(config))


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
) -> None:
    """Train ``members`` (a list, or a function of the task) together on every (task, seed) not yet in
    ``<kind>.jsonl``; append their rows after each cell."""
    import torch
    from tqdm import tqdm

    from symmpo.train import fitness
    from symmpo.train.trainer import train_population

    torch.set_num_threads(1)
    store = rows_of(out_dir, kind, config)
    done = store.done()
    cells = [(t, s) for t in tasks for s in seeds]
    bar = tqdm(cells, desc=kind, disable=not progress)
    for task, seed in bar:
        t0 = time.perf_counter()
        dataset = fitness.load_dataset(task, config, seed, cache_dir)
        data = dataset.meta.get("sha256")
        task_members = members(task) if callable(members) else members
        todo = [m for m in task_members if ident(task, seed, m.label, m.params, m.lr, data) not in done]
        need_sft = with_sft and ident(task, seed, SFT, {}, None, data) not in done
        if not todo and not need_sft:
            continue
        bar.set_postfix_str(f"{task} seed {seed}: {len(todo)} members")
        reference = fitness.get_reference(dataset, seed, config, cache_dir=cache_dir)
        t_prep = time.perf_counter() - t0
        evaluator = fitness.make_evaluator(task, config)
        results = []
        if todo:
            results = train_population(
                [m.objective() for m in todo],
                dataset,
                reference,
                config,
                seed,
                evaluator=evaluator,
                names=[m.label for m in todo],
                lrs=[config.lr if m.lr is None else m.lr for m in todo],
            )
        cell = {"kind": kind, "task": task, "seed": seed}
        rows = [
            {
                **cell,
                "label": m.label,
                "objective": m.name,
                "params": m.params,
                "lr": m.lr,
                "config": store.config_hash,
                "dataset": data,
                **_result_fields(r),
            }
            for m, r in zip(todo, results, strict=True)
        ]
        if need_sft:
            r = fitness.evaluate_reference(reference, evaluator)
            rows.append(
                {
                    **cell,
                    "label": SFT,
                    "objective": SFT,
                    "params": {},
                    "lr": None,
                    "config": store.config_hash,
                    "dataset": data,
                    "bc_loss": reference.bc_loss,
                    **_result_fields(r),
                }
            )
        store.append(rows)
        secs = time.perf_counter() - t0
        log(
            f"{kind} {task} seed {seed}: {len(rows)} rows in {secs:.0f} s (data+reference {t_prep:.0f} s, "
            f"train {results[0].train_seconds if results else 0:.0f} s, eval "
            f"{results[0].eval_seconds if results else 0:.0f} s)"
        )


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
