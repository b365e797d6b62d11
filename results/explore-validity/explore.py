"""Benchmark-validity exploration (issue: "a benchmark where preference optimization matters").

One design = (environment, response horizon H, what π_ref is trained on, PO steps). For each design and each
training seed, a population of losses × learning rates trains from π_ref on the *clean* pairs of the fitness
split (dataset seed 0) and is scored with greedy 1000-step episodes from resets 0..E-1; the SFT-only reference is
scored on the same resets. Rows go to rows.jsonl (one per member, resumable by key); ``--report`` writes
table.md: per design, the best PO loss's mean − SFT, continued SFT − SFT and the SD of paired differences.
Exploration only: nothing here touches the held-out split.

    python results/explore-validity/explore.py --env halfcheetah --horizon 20 100 --ref chosen sft-wm --seeds 0 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from symmpo import Objective
from symmpo.suite import datasets as D
from symmpo.suite.evaluator import eval_seeds, evaluate
from symmpo.suite.types import PreferenceDataset
from symmpo.train.config import TrainConfig
from symmpo.train.policy import PackedResponses
from symmpo.train.reference import Reference, dataset_logps, get_reference
from symmpo.train.trainer import train_population

HERE = Path(__file__).parent
ROWS = HERE / "rows.jsonl"
SFT_POOL_SEED = 5  # the separate SFT data's contexts: a pool no preference dataset of the fitness split uses
REFS = {"chosen": None, "sft-wm": (1, 2), "sft-all": (0, 1, 2, 3, 4), "sft-m": (2,), "sft-w": (1,)}
SFT_H100 = "@100"  # suffix: the separate SFT pool has 100-step responses whatever the preference horizon


def members(lrs, family: str = "core"):
    if family == "all":  # every baseline of the table at its default scale and 10x it
        from symmpo.objective.named import baselines, defaults, scale_param

        out = []
        for lr in lrs:
            for name in baselines():
                key = scale_param(name)
                for f in (1.0, 10.0) if key else (1.0,):
                    p = defaults(name) | ({key: defaults(name)[key] * f} if key else {})
                    out.append((f"{name}[{key}={p[key]:g}]" if key else name, name, p, lr))
        return out
    out = []
    for lr in lrs:
        for b in (0.1, 1.0, 10.0):
            out.append((f"dpo[beta={b:g}]", "dpo", {"beta": b}, lr))
        out.append(("ipo", "ipo", {}, lr))
        out.append(("rpo", "rpo", {"beta": 1.0}, lr))
        out.append(("cpo", "cpo", {"beta": 1.0}, lr))
        out.append(("sft_chosen", "sft_chosen", {}, lr))
    return out


def sft_dataset(env: str, levels, horizon: int) -> PreferenceDataset:
    pool, _ = D.load_pool(D.DatasetConfig(env=env, seed=SFT_POOL_SEED, horizon=horizon))
    keep = np.isin(pool.level[0], levels)
    obs = pool.obs[:, keep].reshape(-1, *pool.obs.shape[2:])
    bins = pool.bins[:, keep].reshape(-1, *pool.bins.shape[2:]).astype(np.int64)
    length = pool.length[:, keep].reshape(-1)
    n = len(length)
    z = np.zeros(n, dtype=np.float32)
    sha = hashlib.sha256(f"{env}-{levels}-{horizon}-{SFT_POOL_SEED}".encode()).hexdigest()
    meta = {"K": D.N_BINS, "sha256": sha}
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
        meta=meta,
    )


def reference(env, ref, task, seed, cfg, horizon):
    if ref.startswith(
        "lib:"
    ):  # the library's design: TrainConfig.sft_levels (pool seed = dataset seed + 100)
        return get_reference(task, seed, cfg)
    base, h100 = ref.removesuffix(SFT_H100), ref.endswith(SFT_H100)
    if REFS[base] is None:
        return get_reference(task, seed, cfg)
    sft = sft_dataset(env, REFS[base], 100 if h100 else horizon)
    r = get_reference(sft, seed, cfg)  # cached by the SFT data's hash; its own logps are of the SFT data
    mean, std = r.policy.obs_mean.numpy(), r.policy.obs_std.numpy()
    ch = PackedResponses.build(task.obs_chosen, task.act_chosen, task.len_chosen, mean, std)
    rj = PackedResponses.build(task.obs_rejected, task.act_rejected, task.len_rejected, mean, std)
    lc, lr = dataset_logps(r.policy, ch, rj)
    return Reference(r.policy, lc, lr, ch, rj, r.key, r.bc_loss)


def gap_pairs(task: PreferenceDataset, noise_scale: float) -> PreferenceDataset:
    """The same contexts and chosen candidates, each rejected response replaced by a poor-level (random or weak)
    response of the same context: pairs with a clear quality gap, labelled by return as before."""
    from dataclasses import replace as dc_replace

    cfg = D.DatasetConfig(**task.meta["config"])
    pool, pool_sha = D.load_pool(cfg)
    kind, param = D.parse_setting(cfg.setting)
    n, (c_total, m_total) = cfg.n_pairs, pool.length.shape[:2]
    context, a, _, poor = D.draw_pairs(
        cfg.seed, n, c_total, m_total, cfg.samples_per_level, cfg.poor_levels, kind, param
    )
    n_poor = cfg.poor_levels * cfg.samples_per_level
    b = np.random.default_rng([cfg.seed, 777]).integers(0, n_poor, n)  # a poor response of the context
    better = pool.ret[context, a] >= pool.ret[context, b]
    pairs = D.label_pairs(cfg.seed, kind, param, context, a, b, poor, better, None)
    meta = D._meta(cfg, pool, pool_sha, hashlib.sha256(D.npz_bytes(pairs)).hexdigest())
    meta["sha256"] = hashlib.sha256((meta["sha256"] + "gap").encode()).hexdigest()
    out = D.materialize(pool, pairs, meta)
    return dc_replace(out, meta={**out.meta, "config": task.meta["config"]})


def done_keys():
    if not ROWS.exists():
        return set()
    return {json.loads(line)["key"] for line in ROWS.read_text().splitlines() if line.strip()}


def run(a):
    torch.set_num_threads(1)
    have = done_keys()
    for env in a.env:
        for h in a.horizon:
            for ref in a.ref:
                for steps in a.steps:
                    for seed in a.seeds:
                        design = f"{env} H={h} ref={ref} steps={steps} setting={a.setting}"
                        if a.n_pairs != 2000 or a.batch_size != 32:
                            design += f" pairs={a.n_pairs} batch={a.batch_size}"
                        if a.noise_scale != 1.0:
                            design += f" noise={a.noise_scale:g}"
                        if a.members != "core":
                            design += f" members={a.members}"
                        if a.label_horizon is not None:
                            design += f" label={a.label_horizon}"
                        if a.pairing != "suite":
                            design += f" pairing={a.pairing}"
                        key = f"{design} seed={seed} eps={a.episodes}"
                        if key in have:
                            continue
                        t0 = time.time()
                        levels = tuple(ref[4:].split(",")) if ref.startswith("lib:") else ()
                        cfg = TrainConfig(steps=steps, sft_levels=levels, batch_size=a.batch_size)
                        task = D.load_task(
                            f"{env}-{a.setting}",
                            seed=0,
                            horizon=h,
                            n_pairs=a.n_pairs,
                            noise_scale=a.noise_scale,
                            label_horizon=a.label_horizon,
                        )
                        if a.pairing == "gap":
                            task = gap_pairs(task, a.noise_scale)
                        pi_ref = reference(env, ref, task, seed, cfg, h)
                        ms = members(a.lrs, a.members)
                        objs = [Objective.named(n, **p) for _, n, p, _ in ms]
                        names = [f"{lab} lr={lr:g}" for lab, _, _, lr in ms]
                        _, pol = train_population(
                            objs,
                            task,
                            pi_ref,
                            cfg,
                            seed,
                            names=names,
                            lrs=[m[3] for m in ms],
                            return_policy=True,
                        )
                        es = eval_seeds(a.episodes)
                        s_ref = evaluate(env, pi_ref.policy.act_greedy, 1, es).normalized[0]
                        s = evaluate(env, pol.act_greedy, pol.size, es).normalized
                        row = {
                            "key": key,
                            "design": design,
                            "seed": seed,
                            "sft": s_ref.tolist(),
                            "members": {n: v.tolist() for n, v in zip(names, s, strict=True)},
                            "seconds": time.time() - t0,
                        }
                        with ROWS.open("a") as f:
                            f.write(json.dumps(row) + "\n")
                        best = max(names, key=lambda n: s[names.index(n)].mean())
                        print(
                            f"{key}: sft {s_ref.mean():.1f}, best {best} {s[names.index(best)].mean():.1f}, "
                            f"sft_chosen {max(s[i].mean() for i, n in enumerate(names) if 'sft_chosen' in n):.1f}"
                            f" ({time.time() - t0:.0f}s)",
                            flush=True,
                        )


def report():
    rows = [json.loads(line) for line in ROWS.read_text().splitlines() if line.strip()]
    designs = list(dict.fromkeys(r["design"] for r in rows))
    lines = [
        "# Benchmark-validity exploration (fitness split, clean unless stated)",
        "",
        "Per design: SFT-only score, the best PO loss (by mean over seeds, chosen on these same runs: an "
        "optimistic upper bound) and continued SFT on the chosen responses, each as mean over training seeds of "
        "the mean over evaluation episodes; Δ = member − SFT; paired SD = SD over seeds of the per-seed "
        "difference. Command: `python results/explore-validity/explore.py ...` (file header).",
        "",
        "| design | seeds | SFT | best PO loss | Δ best PO | paired SD | Δ continued SFT | DPO β=0.1 best lr Δ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in designs:
        rs = [r for r in rows if r["design"] == d]
        sft = np.array([np.mean(r["sft"]) for r in rs])
        names = list(rs[0]["members"])
        sc = {n: np.array([np.mean(r["members"][n]) for r in rs]) for n in names}
        po = [n for n in names if not n.startswith("sft_chosen")]
        best = max(po, key=lambda n: sc[n].mean())
        cont = max((n for n in names if n.startswith("sft_chosen")), key=lambda n: sc[n].mean())
        dpo = max((n for n in names if n.startswith("dpo[beta=0.1]")), key=lambda n: sc[n].mean())
        d_best = sc[best] - sft
        sd = float(d_best.std(ddof=1)) if len(rs) > 1 else float("nan")
        lines.append(
            f"| {d} | {len(rs)} | {sft.mean():.1f} | {best} | {d_best.mean():+.1f} | {sd:.1f} | "
            f"{(sc[cont] - sft).mean():+.1f} | {(sc[dpo] - sft).mean():+.1f} |"
        )
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", nargs="+", default=["halfcheetah"])
    ap.add_argument("--horizon", type=int, nargs="+", default=[100])
    ap.add_argument("--ref", nargs="+", default=["chosen"], help=f"{', '.join(REFS)} or lib:LEVEL,LEVEL")
    ap.add_argument("--steps", type=int, nargs="+", default=[300])
    ap.add_argument("--setting", default="clean")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-5, 3e-5, 1e-4])
    ap.add_argument("--n-pairs", type=int, default=2000)
    ap.add_argument("--noise-scale", type=float, default=1.0)
    ap.add_argument("--label-horizon", type=int, default=None)
    ap.add_argument("--members", default="core", choices=["core", "all"], help="core grid or every baseline")
    ap.add_argument("--pairing", default="suite", choices=["suite", "gap"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args()
    if a.report:
        report()
    else:
        run(a)
        report()
