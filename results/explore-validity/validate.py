"""Held-out check of one exploration design: the losses and hyperparameters chosen on the fitness split
(``explore.py``'s rows) against SFT-only and continued SFT, on the held-out split of ``symmpo.protocol``
(dataset seed 1, training seeds 1000.., evaluation resets from 50,000), paired, Holm-corrected, with IQMs,
bootstrap CIs, probability of improvement and the minimum detectable effect.

    python results/explore-validity/validate.py --env halfcheetah --horizon 20 --sft-levels weak medium \
        --member "dpo:beta=1:3e-5" --member "rpo:beta=1:3e-4" --member "sft_chosen::1e-4" --seeds 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from symmpo import Objective, protocol, stats
from symmpo.suite import datasets as D
from symmpo.suite.evaluator import eval_seeds, evaluate
from symmpo.train.config import TrainConfig
from symmpo.train.reference import get_reference
from symmpo.train.trainer import train_population

HERE = Path(__file__).parent


def parse_member(spec: str) -> tuple[str, dict[str, float], float]:
    name, params, lr = spec.split(":")
    p = {k: float(v) for k, v in (kv.split("=") for kv in params.split(",") if kv)}
    return name, p, float(lr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", required=True)
    ap.add_argument("--horizon", type=int, default=100)
    ap.add_argument("--sft-levels", nargs="*", default=[])
    ap.add_argument("--noise-scale", type=float, default=1.0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--label-horizon", type=int, default=None)
    ap.add_argument("--setting", default="clean")
    ap.add_argument("--tag", default="", help="suffix of the report's file name (two checks of one design)")
    ap.add_argument("--member", action="append", required=True, help="NAME:k=v,...:LR (chosen on fitness)")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--dataset-seed", type=int, default=protocol.HELDOUT_DATASET_SEED)
    ap.add_argument("--seed-min", type=int, default=protocol.HELDOUT_SEED_MIN)
    ap.add_argument("--reset-offset", type=int, default=protocol.HELDOUT_RESET_OFFSET)
    ap.add_argument("--out", default=str(HERE / "validate"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    members = [parse_member(m) for m in a.member]
    labels = [f"{n}[{','.join(f'{k}={v:g}' for k, v in p.items())}] lr={lr:g}" for n, p, lr in members]
    cfg = TrainConfig(steps=a.steps, sft_levels=tuple(a.sft_levels))
    task = D.load_task(
        f"{a.env}-{a.setting}",
        seed=a.dataset_seed,
        horizon=a.horizon,
        noise_scale=a.noise_scale,
        label_horizon=a.label_horizon,
    )
    if a.dataset_seed == 0 or a.seed_min < protocol.HELDOUT_SEED_MIN or a.reset_offset < 10_000:
        raise SystemExit("validate.py measures held out: dataset seed != 0, seeds >= 1000, resets >= 10000")
    resets = eval_seeds(a.episodes, offset=a.reset_offset)
    seeds = list(range(a.seed_min, a.seed_min + a.seeds))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.jsonl"
    design = {
        k: v
        for k, v in vars(a).items()
        if k not in ("out", "tag")
        and not (k == "label_horizon" and v is None)
        and not (k == "setting" and v == "clean")
    }
    done = {}
    if rows_path.exists():
        for line in rows_path.read_text().splitlines():
            r = json.loads(line)
            if r["design"] == design:
                done[r["seed"]] = r
    for seed in seeds:
        if seed in done:
            continue
        t0 = time.time()
        ref = get_reference(task, seed, cfg)
        objs = [Objective.named(n, **p) for n, p, _ in members]
        _, pol = train_population(
            objs, task, ref, cfg, seed, names=labels, lrs=[m[2] for m in members], return_policy=True
        )
        s = evaluate(a.env, pol.act_greedy, pol.size, resets).normalized.mean(1)
        sft = float(evaluate(a.env, ref.policy.act_greedy, 1, resets).normalized.mean())
        row = {
            "design": design,
            "seed": seed,
            "sft": sft,
            **{lab: float(v) for lab, v in zip(labels, s, strict=True)},
        }
        with rows_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        done[seed] = row
        print(
            f"seed {seed}: sft {sft:.1f} "
            + " ".join(f"{lab} {row[lab]:.1f}" for lab in labels)
            + f" ({time.time() - t0:.0f}s)",
            flush=True,
        )
    rows = [done[s] for s in seeds]
    sft = [r["sft"] for r in rows]
    tests = [stats.paired_test([r[lab] for r in rows], sft) for lab in labels]
    p_holm = stats.holm([t["p"] for t in tests])
    alpha = stats.ALPHA / len(labels)
    lines = [
        f"# Held-out check: {design}",
        "",
        f"{len(rows)} paired seeds {seeds[0]}–{seeds[-1]}, resets from "
        f"{a.reset_offset} ({a.episodes} greedy episodes), dataset seed "
        f"{a.dataset_seed}. Δ = loss − SFT; Holm over {len(labels)} tests.",
        "",
        "SFT-only IQM {:.1f} [{:.1f}, {:.1f}]".format(stats.iqm_ci([sft])["iqm"], *stats.iqm_ci([sft])["ci"]),
        "",
        "| loss | IQM [95 % CI] | mean Δ | paired SD | p_Holm | P(loss > SFT) | detectable Δ (80 %) |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {"design": design, "seeds": seeds, "sft": sft, "losses": {}}
    for lab, t, ph in zip(labels, tests, p_holm, strict=True):
        vals = [r[lab] for r in rows]
        ci = stats.iqm_ci([vals])
        sd = stats.paired_sd(vals, sft)
        poi = stats.probability_of_improvement([vals], [sft])
        mde = stats.minimum_detectable_effect(sd, len(rows), alpha)
        lines.append(
            f"| {lab} | {ci['iqm']:.1f} [{ci['ci'][0]:.1f}, {ci['ci'][1]:.1f}] | {t['diff']:+.1f} | "
            f"{sd:.1f} | {ph:.2g} | {poi['p']:.2f} | {mde:.1f} |"
        )
        summary["losses"][lab] = {
            "scores": vals,
            "iqm": ci,
            "diff": t["diff"],
            "p_holm": ph,
            "paired_sd": sd,
            "prob_improvement": poi,
            "mde": mde,
        }
    name = f"{a.env}-H{a.horizon}-{'-'.join(a.sft_levels) or 'chosen'}-noise{a.noise_scale:g}-steps{a.steps}"
    if a.label_horizon is not None:
        name += f"-label{a.label_horizon}"
    if a.setting != "clean":
        name += f"-{a.setting}"
    if a.tag:
        name += f"-{a.tag}"
    if a.dataset_seed != protocol.HELDOUT_DATASET_SEED:
        name += f"-dataset{a.dataset_seed}"
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
