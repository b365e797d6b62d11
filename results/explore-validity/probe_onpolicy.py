"""Probe: preference pairs sampled from π_ref itself (on-policy), labelled by true return.

π_ref is the current reference (BC on the chosen responses of <env>-clean, dataset seed 0); the preference pool
is M fresh samples from π_ref at each context of the same seed's contexts. Fitness split only. Exploration.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
from scipy.special import ndtr

from symmpo import Objective
from symmpo.suite import datasets as D
from symmpo.suite.behaviour import list_levels, load_behaviour
from symmpo.suite.evaluator import eval_seeds, evaluate
from symmpo.suite.types import PreferenceDataset
from symmpo.train.config import TrainConfig
from symmpo.train.fitness import prepare
from symmpo.train.policy import PackedResponses
from symmpo.train.reference import Reference, dataset_logps
from symmpo.train.trainer import train_population

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from probe_eval import ContinuedSFT, policy_fns  # noqa: E402


class Sampler:
    """π_ref as a dataset-builder policy: per-dimension inverse-CDF sampling driven by the caller's noise."""

    def __init__(self, policy, temperature: float = 1.0):
        self.policy, self.t = policy, temperature
        self.act_dim = policy.spec.act_dim
        self.n_bins = policy.spec.n_bins

    @torch.no_grad()
    def act(self, obs, noise=None, uniform=None, random_bins=None):
        x = self.policy.normalize(torch.as_tensor(obs, dtype=torch.float32))
        p = (self.policy.logits(x)[0] / self.t).softmax(-1).numpy()  # [B, A, K]
        if noise is None:
            return p.argmax(-1)
        u = ndtr(noise)[..., None]  # uniform per (row, dim)
        return np.minimum((p.cumsum(-1) < u).sum(-1), self.n_bins - 1)


def onpolicy_dataset(env, ref_policy, seed, m, pairs_per_ctx, temperature, pairing):
    cfg = D.DatasetConfig(env=env, seed=seed, samples_per_level=m)
    expert = load_behaviour(env, list_levels(env)[-1])
    spec = D.get_env_spec(env)
    c_total, h = cfg.contexts, cfg.horizon
    out = {
        "obs": np.zeros((c_total, m, h, spec.obs_dim), dtype=np.float32),
        "bins": np.zeros((c_total, m, h, spec.act_dim), dtype=np.int8),
        "length": np.zeros((c_total, m), dtype=np.int64),
        "ret": np.zeros((c_total, m), dtype=np.float64),
    }
    seeds = D.CONTEXT_SEED_BASE * (1 + seed) + np.arange(c_total, dtype=np.int64)
    sampler = Sampler(ref_policy, temperature)
    for start in range(0, c_total, 64):
        ctx = np.arange(start, min(start + 64, c_total))
        states, _ = D._run_prompts(env, expert, cfg, ctx, seeds[ctx])
        D._run_responses(env, [sampler], cfg, ctx, states, out, start)
    rng = np.random.default_rng([seed, 7])
    c_idx, ch, rj = [], [], []
    for c in range(c_total):
        r = out["ret"][c]
        if pairing == "bvw":
            order = np.argsort(-r, kind="stable")
            for k in range(pairs_per_ctx):
                a, b = order[k], order[m - 1 - k]
                if r[a] > r[b]:
                    c_idx.append(c), ch.append(a), rj.append(b)
        else:
            for _ in range(pairs_per_ctx):
                a, b = rng.choice(m, 2, replace=False)
                if r[a] == r[b]:
                    continue
                if r[a] < r[b]:
                    a, b = b, a
                c_idx.append(c), ch.append(a), rj.append(b)
    c_idx, ch, rj = map(np.asarray, (c_idx, ch, rj))
    ds = PreferenceDataset(
        obs_chosen=out["obs"][c_idx, ch],
        act_chosen=out["bins"][c_idx, ch].astype(np.int64),
        len_chosen=out["length"][c_idx, ch],
        obs_rejected=out["obs"][c_idx, rj],
        act_rejected=out["bins"][c_idx, rj].astype(np.int64),
        len_rejected=out["length"][c_idx, rj],
        ret_chosen=out["ret"][c_idx, ch].astype(np.float32),
        ret_rejected=out["ret"][c_idx, rj].astype(np.float32),
        flipped=np.zeros(len(c_idx), bool),
        poor_pair=np.zeros(len(c_idx), bool),
        context_seed=seeds[c_idx],
        meta={"K": D.N_BINS, "task": f"{env}-onpolicy"},
    )
    return ds, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="hopper")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--m", type=int, default=6)
    ap.add_argument("--pairs-per-ctx", type=int, default=3)
    ap.add_argument("--pairing", default="bvw")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--modes", nargs="+", default=["greedy", "sample"])
    ap.add_argument("--betas", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[3e-5, 3e-4])
    ap.add_argument("--sft-levels", nargs="*", default=[], help="π_ref from separate SFT data (TrainConfig)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cfg = TrainConfig(steps=a.steps, sft_levels=tuple(a.sft_levels))
    objs, names, lrs = [], [], []
    for b in a.betas:
        for lr in a.lrs:
            objs.append(Objective.named("dpo", beta=b)), names.append(f"dpo b={b} lr={lr:g}"), lrs.append(lr)
    for lr in a.lrs:
        objs.append(ContinuedSFT()), names.append(f"sft-cont lr={lr:g}"), lrs.append(lr)
    rows = []
    for seed in a.seeds:
        t0 = time.time()
        _, ref0 = prepare(f"{a.env}-clean", seed, cfg)
        ds, pool = onpolicy_dataset(a.env, ref0.policy, 0, a.m, a.pairs_per_ctx, a.temperature, a.pairing)
        mean, std = ref0.policy.obs_mean.numpy(), ref0.policy.obs_std.numpy()
        chosen = PackedResponses.build(ds.obs_chosen, ds.act_chosen, ds.len_chosen, mean, std)
        rejected = PackedResponses.build(ds.obs_rejected, ds.act_rejected, ds.len_rejected, mean, std)
        lc, lr_ = dataset_logps(ref0.policy, chosen, rejected)
        ref = Reference(ref0.policy, lc, lr_, chosen, rejected, "probe", ref0.bc_loss)
        gap = float(np.mean(ds.ret_chosen - ds.ret_rejected))
        print(
            f"seed {seed}: {ds.n_pairs} pairs, pool {time.time() - t0:.0f}s, mean ret gap {gap:.1f}, "
            f"pool ret {pool['ret'].mean():.1f}",
            file=sys.stderr,
            flush=True,
        )
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
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(f"seed {seed}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
