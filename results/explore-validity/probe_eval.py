"""Probe: does DPO beat SFT on clean data under greedy / expected-action / sampled evaluation?

Fitness split only (dataset seed 0, training seeds 0.., resets 0..). Exploration, not a claim.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from symmpo import Objective
from symmpo.suite.evaluator import eval_seeds, evaluate
from symmpo.train.config import TrainConfig
from symmpo.train.fitness import prepare
from symmpo.train.trainer import train_population


class ContinuedSFT:
    name = "sft-cont"

    def loss(self, pc, pr, rc, rr, lc=None, lr=None, progress=0.0):
        return -pc / lc.clamp(min=1).to(pc.dtype)


def policy_fns(policy, mode: str, seed: int):
    if mode == "greedy":
        return policy.act_greedy
    if mode == "mean":
        bins = torch.arange(policy.spec.n_bins, dtype=torch.float32)

        @torch.no_grad()
        def f(obs):
            x = policy.normalize(torch.as_tensor(obs, dtype=torch.float32))
            return (policy.logits(x).softmax(-1) * bins).sum(-1).numpy()

        return f
    if mode == "sample":
        g = torch.Generator().manual_seed(seed)

        @torch.no_grad()
        def f(obs):
            x = policy.normalize(torch.as_tensor(obs, dtype=torch.float32))
            lg = policy.logits(x)
            u = torch.rand(lg.shape[1:], generator=g).clamp_(1e-12, 1 - 1e-7)
            gum = -torch.log(-torch.log(u))  # common random numbers across members
            return (lg + gum).argmax(-1).numpy()

        return f
    raise ValueError(mode)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="hopper-clean")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--modes", nargs="+", default=["greedy", "mean", "sample"])
    ap.add_argument("--betas", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-5, 3e-4])
    ap.add_argument("--bc-steps", type=int, default=2000)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cfg = TrainConfig(steps=a.steps, bc_steps=a.bc_steps)
    objs, names, lrs = [], [], []
    for b in a.betas:
        for lr in a.lrs:
            objs.append(Objective.named("dpo", beta=b))
            names.append(f"dpo b={b} lr={lr:g}")
            lrs.append(lr)
    for lr in a.lrs:
        objs.append(ContinuedSFT())
        names.append(f"sft-cont lr={lr:g}")
        lrs.append(lr)
    rows = []
    env = a.task.split("-")[0]
    for seed in a.seeds:
        t0 = time.time()
        ds, ref = prepare(a.task, seed, cfg)
        _, pol = train_population(objs, ds, ref, cfg, seed, names=names, lrs=lrs, return_policy=True)
        for mode in a.modes:
            seeds = eval_seeds(a.episodes)
            r_ref = evaluate(env, policy_fns(ref.policy, mode, 10_000 + seed), 1, seeds).normalized.mean(1)[0]
            r = evaluate(env, policy_fns(pol, mode, 10_000 + seed), pol.size, seeds).normalized.mean(1)
            row = {
                "seed": seed,
                "mode": mode,
                "sft": float(r_ref),
                **{n: float(v) for n, v in zip(names, r, strict=True)},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(f"seed {seed}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
