"""Probe: the current suite's training (off-policy pairs, π_ref = BC on chosen) judged at the response level."""

from __future__ import annotations

import argparse
import json
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from probe_eval import ContinuedSFT  # noqa: E402
from respeval import anchors, contexts, score  # noqa: E402

from symmpo import Objective
from symmpo.train.config import TrainConfig
from symmpo.train.fitness import prepare
from symmpo.train.trainer import train_population


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="hopper-clean")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--contexts", type=int, default=100)
    ap.add_argument("--modes", nargs="+", default=["greedy", "sample"])
    ap.add_argument("--betas", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-5, 3e-4])
    a = ap.parse_args()
    env = a.task.split("-")[0]
    cfg = TrainConfig(steps=a.steps)
    objs, names, lrs = [], [], []
    for b in a.betas:
        for lr in a.lrs:
            objs.append(Objective.named("dpo", beta=b)), names.append(f"dpo b={b} lr={lr:g}"), lrs.append(lr)
    for lr in a.lrs:
        objs.append(ContinuedSFT()), names.append(f"sft-cont lr={lr:g}"), lrs.append(lr)
    ccfg, states, _ = contexts(env, a.contexts, offset=20_000)
    anc = anchors(env, ccfg, states)
    print("anchors", anc, file=sys.stderr, flush=True)
    for seed in a.seeds:
        t0 = time.time()
        ds, ref = prepare(a.task, seed, cfg)
        _, pol = train_population(objs, ds, ref, cfg, seed, names=names, lrs=lrs, return_policy=True)
        for mode in a.modes:
            s_ref, _, _ = score(env, ref.policy, mode, ccfg, states, anc)
            s, ret, _ = score(env, pol, mode, ccfg, states, anc)
            row = {
                "seed": seed,
                "mode": mode,
                "sft": float(s_ref[0]),
                **{n: float(v) for n, v in zip(names, s, strict=True)},
            }
            print(json.dumps(row), flush=True)
        print(f"seed {seed}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
