"""Fitness jobs: (objectives, task, seed, config) → scores, the entry point a search calls.

Each call is a pure function of its arguments: the dataset is deterministic from (task, dataset seed), π_ref from
(dataset hash, seed, reference config) and is cached on disk, the minibatches and evaluation seeds from ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.train.config import TrainConfig
from symmpo.train.policy import PolicyPopulation
from symmpo.train.reference import Reference, get_reference
from symmpo.train.trainer import Evaluator, LossObjective, TrainResult, train_population


def as_config(config: TrainConfig | dict[str, Any] | None) -> TrainConfig:
    if config is None:
        return TrainConfig()
    return config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)


def task_env(task: str) -> str:
    from symmpo.suite.tasks import parse_task

    return parse_task(task).env


def make_evaluator(task: str, config: TrainConfig, workers: int = 1) -> Evaluator:
    """Greedy full-episode returns on the held-out reset seeds, all members in one batched rollout.

    Every member and every training seed is scored on the same reset seeds (common random numbers), so
    differences between objectives are not differences between start states.
    """
    from symmpo.suite.evaluator import eval_seeds, evaluate

    env = task_env(task)
    seeds = eval_seeds(config.eval_episodes, offset=config.eval_reset_offset)

    def run(policy: PolicyPopulation) -> tuple[np.ndarray, np.ndarray]:
        res = evaluate(
            env,
            policy.act_greedy,
            policy.size,
            seeds,
            max_steps=config.eval_max_steps,
            workers=workers,
            n_bins=policy.spec.n_bins,
        )
        return res.returns, res.normalized

    return run


def load_dataset(
    task: str, config: TrainConfig, seed: int, cache_dir: str | Path | None = None, progress: bool = False
):
    """The task's dataset for this seed (``progress``: a bar while a response pool is simulated)."""
    from symmpo.suite.datasets import load_task

    return load_task(task, cache_dir=cache_dir, seed=config.dataset_seed_of(seed), progress=progress)


def prepare(
    task: str, seed: int, config: TrainConfig, cache_dir: str | Path | None = None, progress: bool = False
):
    """Dataset and cached π_ref for one (task, seed); ``progress`` shows a pool being simulated (minutes)."""
    dataset = load_dataset(task, config, seed, cache_dir, progress)
    return dataset, get_reference(dataset, seed, config, cache_dir=cache_dir)


def evaluate_reference(reference: Reference, evaluator: Evaluator) -> TrainResult:
    """The SFT-only baseline: π_ref itself, scored like a trained member."""
    returns, normalized = evaluator(reference.policy)
    norm = np.asarray(normalized, dtype=np.float64)[0]
    se = float(norm.std(ddof=1) / np.sqrt(len(norm))) if len(norm) > 1 else float("nan")
    return TrainResult(
        name="sft",
        score=float(norm.mean()),
        score_se=se,
        returns=np.asarray(returns, dtype=np.float64)[0].tolist(),
        normalized=norm.tolist(),
    )


def run_task(
    objectives: Sequence[LossObjective],
    task: str,
    seed: int,
    config: TrainConfig | dict | None = None,
    *,
    cache_dir: str | Path | None = None,
    names: Sequence[str] | None = None,
    lrs: Sequence[float] | None = None,
    progress_bar: bool = False,
    include_reference: bool = False,
) -> list[TrainResult]:
    """Train and evaluate ``objectives`` together on one (task, seed); optionally append the SFT-only result."""
    config = as_config(config)
    dataset, reference = prepare(task, seed, config, cache_dir)
    evaluator = make_evaluator(task, config)
    results = train_population(
        objectives,
        dataset,
        reference,
        config,
        seed,
        evaluator=evaluator,
        names=names,
        lrs=lrs,
        progress_bar=progress_bar,
    )
    if include_reference:
        results.append(evaluate_reference(reference, evaluator))
    return results


def fitness_records(
    objectives: Sequence[LossObjective],
    task: str,
    seed: int,
    config: TrainConfig | dict | None = None,
    cache_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """One dict per objective: ``score`` (mean normalized return, −inf if the run died), ``reason``, timings,
    and ``occurring``: the sketch of the log-probabilities it saw (:mod:`symmpo.train.occurring`; None if it died)."""
    from symmpo.train.occurring import occurring_sketches

    config = as_config(config)
    dataset, reference = prepare(task, seed, config, cache_dir)
    results, policy = train_population(
        objectives,
        dataset,
        reference,
        config,
        seed,
        evaluator=make_evaluator(task, config),
        return_policy=True,
    )
    sketches = occurring_sketches(policy, reference, objectives, [r.alive for r in results])
    return [
        {
            "score": r.score,
            "score_se": r.score_se,
            "reason": r.reason,
            "train_seconds": r.train_seconds,
            "eval_seconds": r.eval_seconds,
            "occurring": s,
        }
        for r, s in zip(results, sketches, strict=True)
    ]


def fitness(
    objectives: Sequence[LossObjective],
    task: str,
    seed: int,
    config: TrainConfig | dict | None = None,
    cache_dir: str | Path | None = None,
) -> list[float]:
    """Normalized scores of ``objectives`` trained together on (task, seed); −inf for a run that died."""
    return [r["score"] for r in fitness_records(objectives, task, seed, config, cache_dir)]
