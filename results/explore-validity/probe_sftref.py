"""Probe: π_ref trained on separate SFT data (a pool of other contexts, chosen behaviour levels), preference
pairs from the suite's dataset, everything judged at the response level on held-out contexts. Exploration only
(fitness split: dataset seed 0, SFT pool seed 5, evaluation contexts from reset seed 20,000)."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from probe_eval import ContinuedSFT  # noqa: E402
from respeval import Member, contexts, rollout  # noqa: E402

from symmpo import Objective
from symmpo.suite import datasets as D
from symmpo.suite.behaviour import list_levels, load_behaviour
from symmpo.suite.types import PreferenceDataset
from symmpo.train.config import TrainConfig
from symmpo.train.policy import PackedResponses
from symmpo.train.reference import Reference, dataset_logps, train_bc
from symmpo.train.trainer import train_population


def sft_dataset(env, levels, seed, n_pairs=2000):
    pool, _ = D.load_pool(D.DatasetConfig(env=env, seed=seed, n_pairs=n_pairs))
    keep = np.isin(pool.level[0], levels)
    obs = pool.obs[:, keep].reshape(-1, *pool.obs.shape[2:])
    bins = pool.bins[:, keep].reshape(-1, *pool.bins.shape[2:]).astype(np.int64)
    length = pool.length[:, keep].reshape(-1)
    n = len(length)
    z = np.zeros(n, dtype=np.float32)
    return PreferenceDataset(
        obs,
        bins,
        length,
        obs,
        bins,
        length,
        z,
        z,
        np.zeros(n, bool),
        np.zeros(n, bool),
        np.zeros(n, np.int64),
        meta={"K": D.N_BINS},
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--setting", default="clean")
    ap.add_argument("--sft-levels", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--bc-steps", type=int, default=2000)
    ap.add_argument("--contexts", type=int, default=100)
    ap.add_argument("--betas", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-5, 3e-4])
    ap.add_argument("--mode", default="greedy")
    a = ap.parse_args()
    env = a.env
    cfg = TrainConfig(steps=a.steps, bc_steps=a.bc_steps)
    objs, names, lrs = [], [], []
    for b in a.betas:
        for lr in a.lrs:
            objs.append(Objective.named("dpo", beta=b)), names.append(f"dpo b={b} lr={lr:g}"), lrs.append(lr)
    for lr in a.lrs:
        objs.append(ContinuedSFT()), names.append(f"sft-cont lr={lr:g}"), lrs.append(lr)
    ccfg, states, _ = contexts(env, a.contexts, offset=20_000)
    lv = list_levels(env)
    anc_pols = [load_behaviour(env, lv[0])] + [load_behaviour(env, x) for x in lv[1:]]
    ret, _ = rollout(env, anc_pols, ccfg, states, samples=2)
    level_means = ret.reshape(len(states), len(lv), 2).mean((0, 2))
    r0, r1 = float(level_means[0]), float(level_means[-1])
    levels_norm = (100 * (level_means - r0) / (r1 - r0)).round(1).tolist()
    print(
        "levels (sampled, response-level normalized):",
        dict(zip(lv, levels_norm, strict=True)),
        file=sys.stderr,
        flush=True,
    )
    sft_data = sft_dataset(env, a.sft_levels, 5)
    task = D.load_task(f"{env}-{a.setting}", seed=0)
    for seed in a.seeds:
        t0 = time.time()
        pol_ref, bc_loss = train_bc(sft_data, seed, cfg)
        mean, std = pol_ref.obs_mean.numpy(), pol_ref.obs_std.numpy()
        ch = PackedResponses.build(task.obs_chosen, task.act_chosen, task.len_chosen, mean, std)
        rj = PackedResponses.build(task.obs_rejected, task.act_rejected, task.len_rejected, mean, std)
        lc, lr_ = dataset_logps(pol_ref, ch, rj)
        ref = Reference(pol_ref, lc, lr_, ch, rj, "probe", bc_loss)
        _, pol = train_population(objs, task, ref, cfg, seed, names=names, lrs=lrs, return_policy=True)
        rr, _ = rollout(
            env,
            [Member(pol_ref, 0, a.mode)] + [Member(pol, i, a.mode) for i in range(pol.size)],
            ccfg,
            states,
        )
        s = 100 * (rr.mean(0) - r0) / (r1 - r0)
        row = {
            "seed": seed,
            "mode": a.mode,
            "sft_levels": a.sft_levels,
            "sft": float(s[0]),
            **{n: float(v) for n, v in zip(names, s[1:], strict=True)},
        }
        print(json.dumps(row), flush=True)
        print(f"seed {seed}: {time.time() - t0:.0f}s (bc loss {bc_loss:.3f})", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
