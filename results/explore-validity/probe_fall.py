"""Probe: labels that count a fall as the episode it ends (a fallen response loses the healthy reward of the
episode's remaining steps), so a preference says what the 1000-step evaluation says. Fitness split only."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from probe_eval import ContinuedSFT, policy_fns  # noqa: E402

from symmpo import Objective
from symmpo.suite import datasets as D
from symmpo.suite.evaluator import eval_seeds, evaluate
from symmpo.suite.tasks import parse_setting
from symmpo.train.config import TrainConfig
from symmpo.train.reference import get_reference
from symmpo.train.trainer import train_population

HEALTHY = {"hopper": 1.0, "walker2d": 1.0, "halfcheetah": 0.0}


def fall_aware_dataset(env, setting, seed, episode=1000):
    cfg = D.DatasetConfig(env=env, setting=setting, seed=seed)
    pool, psha = D.load_pool(cfg)
    kind, param = parse_setting(setting)
    n, (c_total, m_total) = cfg.n_pairs, pool.length.shape[:2]
    context, a, b, poor = D.draw_pairs(
        seed, n, c_total, m_total, cfg.samples_per_level, cfg.poor_levels, kind, param
    )
    fell = pool.length < cfg.horizon
    remaining = np.maximum(0, episode - pool.prompt_len[:, None] - pool.length)
    score = pool.ret - fell * HEALTHY[env] * remaining
    pairs = D.label_pairs(
        seed, kind, param, context, a, b, poor, score[context, a] >= score[context, b], None
    )
    meta = D._meta(cfg, pool, psha, hashlib.sha256(D.npz_bytes(pairs)).hexdigest())
    meta["sha256"] = hashlib.sha256((meta["sha256"] + "fall-aware").encode()).hexdigest()
    return D.materialize(pool, pairs, meta)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--setting", default="clean")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--modes", nargs="+", default=["greedy", "mean"])
    ap.add_argument("--betas", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-5, 3e-4])
    a = ap.parse_args()
    cfg = TrainConfig(steps=a.steps)
    objs, names, lrs = [], [], []
    for bt in a.betas:
        for lr in a.lrs:
            (
                objs.append(Objective.named("dpo", beta=bt)),
                names.append(f"dpo b={bt} lr={lr:g}"),
                lrs.append(lr),
            )
    for lr in a.lrs:
        objs.append(ContinuedSFT()), names.append(f"sft-cont lr={lr:g}"), lrs.append(lr)
    ds = fall_aware_dataset(a.env, a.setting, 0)
    agree = float(np.mean(ds.ret_chosen >= ds.ret_rejected))
    print(
        f"labels agree with plain return order on {agree:.2f} of pairs; chosen len {ds.len_chosen.mean():.1f}, "
        f"rejected len {ds.len_rejected.mean():.1f}",
        file=sys.stderr,
        flush=True,
    )
    for seed in a.seeds:
        t0 = time.time()
        ref = get_reference(ds, seed, cfg)
        _, pol = train_population(objs, ds, ref, cfg, seed, names=names, lrs=lrs, return_policy=True)
        for mode in a.modes:
            es = eval_seeds(a.episodes)
            r_ref = evaluate(a.env, policy_fns(ref.policy, mode, 10_000 + seed), 1, es).normalized.mean(1)[0]
            r = evaluate(a.env, policy_fns(pol, mode, 10_000 + seed), pol.size, es).normalized.mean(1)
            row = {
                "seed": seed,
                "mode": mode,
                "sft": float(r_ref),
                **{n: float(v) for n, v in zip(names, r, strict=True)},
            }
            print(json.dumps(row), flush=True)
        print(f"seed {seed}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
