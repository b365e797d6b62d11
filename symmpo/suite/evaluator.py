"""Full-episode returns of many categorical policies at once, on held-out reset seeds.

``policy_fn(obs float32 [P, E, obs_dim]) -> int bins [P, E, act_dim]`` is called once per time step for all
P policies x E seeds together (one batched forward pass); the P*E simulators (one ``BatchSim``, see sim.py) are stepped together. Finished
episodes keep their last observation and are no longer stepped. Greedy-per-dimension categorical policies pass
``greedy(logits)`` as the last step of their ``policy_fn``.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool

import numpy as np

from symmpo.suite.sim import batch_sim
from symmpo.suite.tasks import N_BINS, from_bins, get_env_spec, normalized_score

EVAL_SEED_BASE = 0  # evaluation reset seeds: [0, 10**5); dataset contexts use >= 10**6, see datasets.py
PolicyFn = Callable[[np.ndarray], np.ndarray]


def eval_seeds(n: int, offset: int = 0) -> np.ndarray:
    """Held-out reset seeds, disjoint from every dataset context seed."""
    if offset + n > 10**5:
        raise ValueError("evaluation seeds must stay below 10**5 (dataset contexts start at 10**6)")
    return np.arange(EVAL_SEED_BASE + offset, EVAL_SEED_BASE + offset + n, dtype=np.int64)


def greedy(logits: np.ndarray) -> np.ndarray:
    """Greedy bins per action dimension from logits [..., act_dim, K] (numpy or torch)."""
    return logits.argmax(-1)


@dataclass
class EvalResult:
    env: str
    seeds: np.ndarray  # [E]
    returns: np.ndarray  # float64 [P, E]
    lengths: np.ndarray  # int64 [P, E]

    @property
    def normalized(self) -> np.ndarray:
        """D4RL-style normalized score [P, E]."""
        return normalized_score(self.env, self.returns)


def _run(
    env: str, policy_fn: PolicyFn, n_policies: int, seeds: np.ndarray, max_steps: int, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    spec = get_env_spec(env)
    p, e = n_policies, len(seeds)
    sim = batch_sim(env, p * e)
    obs = sim.reset(np.arange(p * e), np.tile(seeds, p))
    returns = np.zeros(p * e, dtype=np.float64)
    lengths = np.zeros(p * e, dtype=np.int64)
    alive = np.ones(p * e, dtype=bool)
    for _ in range(max_steps):
        bins = np.asarray(policy_fn(obs.reshape(p, e, spec.obs_dim))).reshape(p * e, spec.act_dim)
        idx = np.flatnonzero(alive)
        o, r, terminated = sim.step(idx, from_bins(bins[idx], n_bins))
        obs[idx] = o
        returns[idx] += r
        lengths[idx] += 1
        alive[idx[terminated]] = False
        if not alive.any():
            break
    return returns.reshape(p, e), lengths.reshape(p, e)


_WORKER_ARGS: tuple | None = None  # inherited by forked workers: policy_fn need not be picklable


def _sigterm_kills() -> None:
    """Worker initializer (when the pool is built outside the main thread): SIGTERM ends the worker again."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def fork_pool(processes: int) -> Pool:
    """A ``fork`` process pool whose workers die on SIGTERM, whatever handler this process holds.

    A parent may hold a Python-level SIGTERM handler (Ray installs ``sys.exit`` in its driver and its
    workers, and keeps it after ``ray.shutdown``). Inherited, it turns the SIGTERM that ends a pool into a
    SystemExit that can block on the pool's queue locks, and leaving the ``with`` block waits forever. The
    workers are therefore forked with SIGTERM at its default. Resetting it in a worker initializer instead
    is racy: a worker that has not reached the initializer when the pool ends swallows the SIGTERM.
    """
    context = mp.get_context("fork")
    if threading.current_thread() is not threading.main_thread():  # signal.signal works in the main thread
        return context.Pool(processes, initializer=_sigterm_kills)
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        return context.Pool(processes)  # forks every worker now, with SIGTERM at its default
    finally:
        if previous is not None:  # None: a handler set outside Python, which signal cannot put back
            signal.signal(signal.SIGTERM, previous)


def _worker(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        import torch

        torch.set_num_threads(1)
    except ModuleNotFoundError:
        pass
    env, policy_fn, n_policies, max_steps, n_bins, all_seeds = _WORKER_ARGS
    e = len(all_seeds)

    def sub_fn(obs: np.ndarray) -> np.ndarray:
        # the policy sees a [P, E_chunk] block; pad to the full E so stateful/shape-checking fns still work
        full = np.zeros((n_policies, e, obs.shape[-1]), dtype=np.float32)
        full[:, chunk] = obs
        return np.asarray(policy_fn(full))[:, chunk]

    return _run(env, sub_fn, n_policies, all_seeds[chunk], max_steps, n_bins)


def evaluate(
    env: str,
    policy_fn: PolicyFn,
    n_policies: int,
    seeds: Sequence[int] | np.ndarray,
    max_steps: int = 1000,
    workers: int = 1,
    n_bins: int = N_BINS,
) -> EvalResult:
    """Greedy full-episode returns [P, E] of P policies on E reset seeds (``workers`` > 1: forked processes
    each stepping a slice of the seeds; the policy is then called once per worker per step)."""
    seeds = np.asarray(seeds, dtype=np.int64)
    if workers <= 1 or len(seeds) < 2:
        returns, lengths = _run(env, policy_fn, n_policies, seeds, max_steps, n_bins)
        return EvalResult(env, seeds, returns, lengths)
    global _WORKER_ARGS
    _WORKER_ARGS = (env, policy_fn, n_policies, max_steps, n_bins, seeds)
    chunks = np.array_split(np.arange(len(seeds)), min(workers, len(seeds)))
    try:
        with fork_pool(len(chunks)) as pool:
            parts = pool.map(_worker, chunks)
    finally:
        _WORKER_ARGS = None
    returns = np.concatenate([r for r, _ in parts], axis=1)
    lengths = np.concatenate([n for _, n in parts], axis=1)
    return EvalResult(env, seeds, returns, lengths)
