"""Evaluator throughput against the physics bound, measured in the same run (printed as ratios).

bound  = raw ``mujoco.mj_step`` rate / frame_skip, measured by replaying the evaluator's own trajectories (same
         initial states, same actions, one mj_step call per substep): env steps/s if nothing but physics ran.
ratio  = evaluator env steps per second (P policies x E seeds, batched policy, BatchSim) / bound.
scale  = (2 worker processes) / (1 process) throughput on the same evaluation.

    python benchmarks/bench_evaluator.py [--envs hopper halfcheetah] [--policies 8] [--seeds 8] [--max-steps 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from symmpo.suite.behaviour import list_levels, load_behaviour
from symmpo.suite.evaluator import eval_seeds, evaluate, greedy
from symmpo.suite.sim import DYNAMICS, BatchSim
from symmpo.suite.tasks import N_BINS, from_bins, get_env_spec


def replay_bound(
    env: str, seeds: np.ndarray, n_policies: int, actions: list[np.ndarray], lengths: np.ndarray
) -> float:
    """Physics-only env steps/s on the evaluator's own trajectories: same initial states, same actions,
    replayed with one raw ``mj_step`` call per substep (falls and contacts cost what they cost there)."""
    import mujoco

    fs = DYNAMICS[env].frame_skip
    sim = BatchSim(env, 1)
    model, data = sim.model, sim.data[0]
    total, elapsed = 0, 0.0
    for p in range(n_policies):
        for e, seed in enumerate(seeds):
            sim.reset(np.array([0]), np.array([seed]))
            n = int(lengths[p, e])
            controls = [from_bins(actions[t][p, e]) for t in range(n)]
            start = time.perf_counter()
            for ctrl in controls:
                data.ctrl[:] = ctrl
                for _ in range(fs):
                    mujoco.mj_step(model, data)
            elapsed += time.perf_counter() - start
            total += n
    return total / elapsed


def make_policy(env: str, n_policies: int, kind: str):
    """``random``: uniform bins (stepping cost only); ``behaviour``: shipped best level, greedy; ``mlp``: P categorical MLPs [256, 256] -> act_dim x K, greedy."""
    spec = get_env_spec(env)
    rng = np.random.default_rng(0)
    if kind == "random":
        return lambda obs: rng.integers(0, N_BINS, obs.shape[:2] + (spec.act_dim,))
    if kind == "behaviour":  # the strongest shipped level, greedy: long, realistic episodes
        pol = load_behaviour(env, list_levels(env)[-1])
        return lambda obs: pol.act(obs.reshape(-1, spec.obs_dim)).reshape(obs.shape[:2] + (spec.act_dim,))
    gen = torch.Generator().manual_seed(0)
    w1 = torch.randn(n_policies, spec.obs_dim, 256, generator=gen) / spec.obs_dim**0.5
    w2 = torch.randn(n_policies, 256, 256, generator=gen) / 16
    w3 = torch.randn(n_policies, 256, spec.act_dim * N_BINS, generator=gen) / 16

    def fn(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            h = torch.relu(torch.bmm(torch.from_numpy(obs), w1))
            h = torch.relu(torch.bmm(h, w2))
            logits = torch.bmm(h, w3).view(n_policies, obs.shape[1], spec.act_dim, N_BINS)
        return greedy(logits).numpy()

    return fn


def throughput(
    env: str,
    n_policies: int,
    seeds: np.ndarray,
    max_steps: int,
    kind: str,
    workers: int,
    record: list | None = None,
) -> tuple[float, np.ndarray]:
    fn = make_policy(env, n_policies, kind)
    if record is not None:
        inner = fn

        def fn(obs: np.ndarray) -> np.ndarray:
            bins = np.asarray(inner(obs))
            record.append(bins.copy())
            return bins

    start = time.perf_counter()
    res = evaluate(env, fn, n_policies, seeds, max_steps=max_steps, workers=workers)
    return float(res.lengths.sum()) / (time.perf_counter() - start), res.lengths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", nargs="+", default=["hopper", "halfcheetah"])
    parser.add_argument("--policies", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--policy-kinds", nargs="+", default=["random", "behaviour", "mlp"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = eval_seeds(args.seeds)
    print(f"P={args.policies} policies x E={args.seeds} seeds, up to {args.max_steps} steps; torch threads 1")
    for env in args.envs:
        evaluate(env, make_policy(env, 1, "random"), 1, seeds[:2], max_steps=5)  # warm-up: sims allocated
        for kind in args.policy_kinds:
            actions: list[np.ndarray] = []
            one, lengths = throughput(env, args.policies, seeds, args.max_steps, kind, 1, record=actions)
            bound = replay_bound(env, seeds, args.policies, actions, lengths)
            two, _ = throughput(env, args.policies, seeds, args.max_steps, kind, 2)
            print(
                f"{env:11s} policy {kind:6s}: {lengths.sum():6d} steps (mean episode {lengths.mean():5.0f}); "
                f"bound {bound:7,.0f}/s; 1 process {one:7,.0f}/s = {one / bound:.2f} x bound; "
                f"2 processes {two:7,.0f}/s = {two / one:.2f} x 1 process ({two / bound / 2:.2f} x bound each)"
            )


if __name__ == "__main__":
    main()
