"""Preference optimization of many objectives at once on stacked policies.

All P members see the same minibatches (common random numbers), their log-probs come from one batched
forward pass, each member's own objective is applied to its own slice, the P losses are summed and a single
backward pass yields every member's gradient (members share no parameters, so the gradients are independent).
Adam is elementwise, so one hand-written Adam over the stacked tensors is P independent Adams; gradient-norm
clipping is done per member. A member whose loss or gradient goes non-finite is frozen and reported with
fitness −inf and the reason; the others carry on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from symmpo.suite.types import PreferenceDataset
from symmpo.train.config import TrainConfig
from symmpo.train.policy import PolicyPopulation, make_batch, response_logps, response_token_logps
from symmpo.train.reference import Reference


class LossObjective(Protocol):
    """What the trainer needs from an objective (``symmpo.Objective`` satisfies it): ``loss`` taking the
    arguments of :class:`~symmpo.objective.types.LossArgs` and returning one loss per example."""

    loss: Callable[..., Tensor]


@dataclass
class TrainResult:
    """One member's outcome. ``score`` is the mean normalized return, −inf when the run died."""

    name: str
    score: float = float("-inf")
    score_se: float = float("nan")
    returns: list[float] = field(default_factory=list)
    normalized: list[float] = field(default_factory=list)
    alive: bool = True
    reason: str | None = None  # why the run died
    died_at_step: int | None = None
    loss_curve: list[tuple[int, float, float]] = field(default_factory=list)  # (step, loss, reward accuracy)
    eval_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, mean normalized score)
    train_seconds: float = 0.0  # shared by the whole population
    eval_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


# An evaluator maps (policies, step) -> (returns [P, E], normalized [P, E]); see make_evaluator.
Evaluator = Callable[[PolicyPopulation], tuple[np.ndarray, np.ndarray]]


def objective_name(obj: Any, i: int) -> str:
    return str(getattr(obj, "name", None) or f"objective{i}")


def train_population(
    objectives: Sequence[LossObjective],
    dataset: PreferenceDataset,
    reference: Reference,
    config: TrainConfig,
    seed: int,
    *,
    evaluator: Evaluator | None = None,
    names: Sequence[str] | None = None,
    lrs: Sequence[float] | None = None,
    progress_bar: bool = False,
    return_policy: bool = False,
) -> list[TrainResult] | tuple[list[TrainResult], PolicyPopulation]:
    """Train one policy per objective, all from π_ref, on the same minibatches; evaluate the survivors.

    ``lrs`` gives each member its own learning rate (a sweep over lr inside one population); ``evaluator``
    scores policies (``make_evaluator``); without one, results carry training curves only.
    Pure: the same arguments give the same numbers.
    """
    n = len(objectives)
    names = list(names) if names is not None else [objective_name(o, i) for i, o in enumerate(objectives)]
    results = [TrainResult(name=nm) for nm in names]
    policy = reference.policy.replicate(n)
    params = policy.params
    for p in params:
        p.requires_grad_(True)
    lr = torch.tensor(list(lrs) if lrs is not None else [config.lr] * n, dtype=torch.float32)
    b1, b2 = config.adam_betas
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    alive = [True] * n
    rng = np.random.default_rng(seed)
    n_pairs = dataset.n_pairs
    eval_at = _eval_steps(config)
    # granularity=token objectives read per-token log-probs [B, T] (lengths in tokens give the masks); the
    # summed path below is untouched for populations without one
    token = [getattr(o, "granularity", "sequence") == "token" for o in objectives]

    t0 = time.perf_counter()
    eval_time = 0.0
    steps = range(config.steps)
    if progress_bar:
        from tqdm import tqdm

        steps = tqdm(steps, desc=f"train P={n}", leave=False)
    for step in steps:
        if step in eval_at and evaluator is not None:
            t1 = time.perf_counter()
            _curve_eval(evaluator, policy, results, alive, step)
            eval_time += time.perf_counter() - t1
        idx = rng.integers(0, n_pairs, size=min(config.batch_size, n_pairs))
        batch = make_batch(reference.chosen, reference.rejected, idx)
        ref_c, ref_r = reference.logps_chosen[idx], reference.logps_rejected[idx]
        if any(token):
            tok = response_token_logps(policy, batch)
            pol_c, pol_r = tok.sum_chosen, tok.sum_rejected
            with torch.no_grad():
                ref_tok = response_token_logps(reference.policy, batch)
        else:
            pol_c, pol_r = response_logps(policy, batch, config.compile)
        progress = step / config.steps
        losses: list[Tensor] = []
        live: list[int] = []
        for i, obj in enumerate(objectives):
            if not alive[i]:
                continue
            try:
                if token[i]:
                    li = obj.loss(
                        tok.chosen[i],
                        tok.rejected[i],
                        ref_tok.chosen[0],
                        ref_tok.rejected[0],
                        tok.len_chosen,
                        tok.len_rejected,
                        progress=progress,
                    ).mean()
                else:
                    li = obj.loss(
                        pol_c[i],
                        pol_r[i],
                        ref_c,
                        ref_r,
                        batch.len_chosen,
                        batch.len_rejected,
                        progress=progress,
                    ).mean()
            except Exception as err:  # a broken candidate must not stop the population
                _kill(results, alive, i, step, f"objective raised {type(err).__name__}: {err}")
                continue
            losses.append(li)
            live.append(i)
        if not live:
            break
        loss_vals = torch.stack([li.detach() for li in losses]).tolist()
        keep = []
        for j, i in enumerate(live):
            if math.isfinite(loss_vals[j]):
                keep.append(j)
            else:
                _kill(results, alive, i, step, f"non-finite loss ({loss_vals[j]}) at step {step}")
        if not keep:
            break
        total = sum(losses[j] for j in keep)
        if total.requires_grad:
            grads = torch.autograd.grad(total, params, allow_unused=True)
            grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params, strict=True)]
        else:  # every live loss is constant in the policy (a degenerate candidate): nothing to learn
            grads = [torch.zeros_like(p) for p in params]
        with torch.no_grad():
            sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)
            norms = sq.sqrt().tolist()
            for i in range(n):
                if alive[i] and not math.isfinite(norms[i]):
                    _kill(results, alive, i, step, f"non-finite gradient at step {step}")
            mask = torch.tensor(alive, dtype=torch.bool)
            # per-member clipping, same formula as torch.nn.utils.clip_grad_norm_
            coef = torch.clamp(config.clip_grad_norm / (sq.sqrt() + 1e-6), max=1.0)
            coef = torch.where(mask, coef, torch.zeros_like(coef))
            t = step + 1
            bc1, bc2 = 1 - b1**t, 1 - b2**t
            step_size = (lr / bc1) * mask
            for p, g, mi, vi in zip(params, grads, m, v, strict=True):
                shape = (n,) + (1,) * (p.dim() - 1)
                g = torch.where(mask.view(shape), g, torch.zeros_like(g)) * coef.view(shape)
                mi.mul_(b1).add_(g, alpha=1 - b1)
                vi.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (vi.sqrt() / math.sqrt(bc2)).add_(config.adam_eps)
                p.sub_(step_size.view(shape) * mi / denom)
        if step % config.log_every == 0 or step == config.steps - 1:
            with torch.no_grad():
                acc = ((pol_c - ref_c) > (pol_r - ref_r)).float().mean(1).tolist()
            for j in keep:
                i = live[j]
                results[i].loss_curve.append((step, loss_vals[j], acc[i]))
    train_time = time.perf_counter() - t0 - eval_time

    for p in params:
        p.requires_grad_(False)
    if evaluator is not None:
        t1 = time.perf_counter()
        _final_eval(evaluator, policy, results, alive, config.steps)
        eval_time += time.perf_counter() - t1
    for r in results:
        r.train_seconds, r.eval_seconds = train_time, eval_time
    return (results, policy) if return_policy else results


def _kill(results: list[TrainResult], alive: list[bool], i: int, step: int, reason: str) -> None:
    alive[i] = False
    results[i].alive = False
    results[i].reason = reason
    results[i].died_at_step = step
    results[i].score = float("-inf")


def _eval_steps(config: TrainConfig) -> set[int]:
    if config.eval_points <= 0:
        return set()
    return {int(round(k * config.steps / (config.eval_points + 1))) for k in range(config.eval_points + 1)}


def _evaluate_alive(evaluator: Evaluator, policy: PolicyPopulation, alive: list[bool]):
    idx = [i for i, a in enumerate(alive) if a]
    if not idx:
        return idx, None, None
    sub = policy if len(idx) == policy.size else policy.select(idx)
    returns, normalized = evaluator(sub)
    return idx, np.asarray(returns, dtype=np.float64), np.asarray(normalized, dtype=np.float64)


def _curve_eval(evaluator, policy, results, alive, step) -> None:
    idx, _, norm = _evaluate_alive(evaluator, policy, alive)
    for j, i in enumerate(idx):
        results[i].eval_curve.append((step, float(norm[j].mean())))


def _final_eval(evaluator, policy, results, alive, step) -> None:
    idx, ret, norm = _evaluate_alive(evaluator, policy, alive)
    for j, i in enumerate(idx):
        r = results[i]
        r.returns, r.normalized = ret[j].tolist(), norm[j].tolist()
        r.score = float(norm[j].mean())
        r.score_se = (
            float(norm[j].std(ddof=1) / math.sqrt(len(norm[j]))) if len(norm[j]) > 1 else float("nan")
        )
        r.eval_curve.append((step, r.score))
