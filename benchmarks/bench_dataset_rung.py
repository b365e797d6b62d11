"""A cheap first rung in front of the two-dataset fitness, replayed on the v3 fidelity studies (issue 19, part 3).

    python benchmarks/bench_dataset_rung.py --out results/multifidelity/rung-steps-ds3

The fitness over two preference datasets (``--dataset-seeds 0 3``) reaches Spearman ρ ≥ 0.8 on the three v3
columns at 2 datasets × 3 seeds (``results/fidelity/v3/``), three times today's two-seed cost. This replays
successive halving in front of it: every candidate trains on both datasets at a cheap setting (250 PO steps,
lr 1e-3; ``results/multifidelity/rung-steps[-ds3]/``), the best share is retrained from scratch on 2 datasets ×
S seeds at the column's 1000 steps (``results/fidelity/v3/<task>/raw.json``, its ``fitness`` and
``fitness_datasets["3"]``), and the order a search would keep — the promoted by their full score, then the rest
by their rung score — is compared with the held-out scores (10 seeds × 10 episodes). Cost is the measured CPU
seconds per candidate (``symmpo.studies.fidelity.variant_scores``), printed as candidates per core-hour against
the flat fitness of today (1 dataset × 2 seeds at 1000 steps), measured on the same runs. ρ is given over the
whole set of 38 objectives (with a bootstrap 95 % CI) and as the mean over random generations of 16.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

TASKS = ("halfcheetah-noisy-0.2@v3", "hopper-noisy-0.2@v3", "hopper-mixed-0.5@v3")
FULL = "steps=1000,lr=0.0003"
CHEAP = "steps=250,lr=0.001"


def scores_and_cost(
    splits: Sequence[dict], n_seeds: int, episodes: int = 10
) -> tuple[dict[str, float], float]:
    """Mean score over the splits (datasets) of their first ``n_seeds`` seeds, and the summed cost."""
    from symmpo.studies.fidelity import over_datasets

    v = over_datasets(splits, n_seeds, episodes, episodes)
    return v["scores"], v["core_seconds_per_candidate"]


def order_score(rung: dict[str, float], full: dict[str, float], promoted: set[str]) -> dict[str, float]:
    """A value whose order is the search's: every promoted candidate above every other, each group by its score."""
    top = max(rung.values()) - min(full.values()) + 1.0
    return {lab: (full[lab] + top if lab in promoted else rung[lab]) for lab in rung}


def promote(rung: dict[str, float], labels: Sequence[str], n: int) -> set[str]:
    return set(sorted(labels, key=lambda lab: rung[lab], reverse=True)[:n])


def replay(
    rung: dict[str, float],
    full: dict[str, float],
    held: dict[str, float],
    share: float,
    size: int,
    splits: int,
) -> tuple[float, list[float], float]:
    """ρ over the whole set with its CI, and the mean ρ over ``splits`` random generations of ``size``."""
    from scipy.stats import spearmanr

    from symmpo import stats

    labels = sorted(held)
    whole = order_score(rung, full, promote(rung, labels, max(1, round(share * len(labels)))))
    r = stats.spearman_ci([whole[lab] for lab in labels], [held[lab] for lab in labels])
    rng = np.random.default_rng(0)
    rhos = []
    for _ in range(splits):
        gen = list(rng.choice(labels, size=size, replace=False))
        o = order_score({k: rung[k] for k in gen}, full, promote(rung, gen, max(1, round(share * size))))
        rhos.append(float(spearmanr([o[k] for k in gen], [held[k] for k in gen]).statistic))
    return float(r["spearman"]), list(r["ci"]), float(np.mean(rhos))


def column(task: str, root: Path, shares: Sequence[float], size: int, splits: int) -> list[dict]:
    from symmpo.studies.fidelity import _score

    fid = json.loads((root / "fidelity" / "v3" / task / "raw.json").read_text())[FULL]
    cheap0 = json.loads((root / "multifidelity" / "rung-steps" / task / "raw.json").read_text())[CHEAP][
        "fitness"
    ]
    cheap3 = json.loads((root / "multifidelity" / "rung-steps-ds3" / task / "raw.json").read_text())[
        f"{CHEAP}@ds3"
    ]["fitness"]
    held = {lab: _score(eps, 10, 10) for lab, eps in fid["heldout"]["episodes"].items()}
    full_splits = [fid["fitness"], fid["fitness_datasets"]["3"]]
    _, base_cost = scores_and_cost(full_splits[:1], 2)
    rows = []

    def row(name: str, order: dict[str, float], cost: float, rho: tuple[float, list[float], float]) -> None:
        rows.append(
            {
                "task": task,
                "schedule": name,
                "spearman": rho[0],
                "ci": rho[1],
                "spearman_gen16": rho[2],
                "core_seconds_per_candidate": cost,
                "throughput_vs_today": base_cost / cost,
            }
        )

    for d, s in ((1, 2), (2, 1), (2, 2), (2, 3)):
        sc, cost = scores_and_cost(full_splits[:d], s)
        rho = replay(sc, sc, held, 0.0, size, splits)  # no promotion: the fitness's own order
        row(f"flat {d}d×{s}s @1000:3e-4", sc, cost, rho)
    for rd, rs in ((2, 1), (2, 2)):
        rung, rung_cost = scores_and_cost([cheap0, cheap3][:rd], rs)
        for fd, fs in ((2, 2), (2, 3)):
            full, full_cost = scores_and_cost(full_splits[:fd], fs)
            for share in shares:
                cost = rung_cost + share * full_cost
                rho = replay(rung, full, held, share, size, splits)
                row(f"{rd}d×{rs}s @250:1e-3 → top {share:g} to {fd}d×{fs}s @1000:3e-4", rung, cost, rho)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--promote", type=float, nargs="+", default=[0.125, 0.25, 0.33])
    ap.add_argument("--size", type=int, default=16, help="generation size of the replay")
    ap.add_argument("--splits", type=int, default=200, help="random generations per schedule")
    ap.add_argument("--out", type=Path, help="write bench_dataset_rung.json here")
    args = ap.parse_args()
    rows = [r for t in TASKS for r in column(t, args.results, args.promote, args.size, args.splits)]
    width = max(len(r["schedule"]) for r in rows)
    for task in TASKS:
        print(f"\n{task}")
        print(
            f"  {'schedule':{width}s}  ρ [95% CI]          ρ (gen. of {args.size})  × today's candidates/core-hour"
        )
        for r in (r for r in rows if r["task"] == task):
            lo, hi = r["ci"]
            print(
                f"  {r['schedule']:{width}s}  {r['spearman']:.2f} [{lo:.2f}, {hi:.2f}]  {r['spearman_gen16']:.2f}"
                f"               {r['throughput_vs_today']:.2f}×"
            )
    met = []
    for name in dict.fromkeys(r["schedule"] for r in rows):
        rs = [r for r in rows if r["schedule"] == name]
        if all(r["spearman"] >= 0.8 and r["throughput_vs_today"] >= 2.0 for r in rs):
            met.append(name)
    print(f"\nschedules with ρ ≥ 0.8 and ≥ 2× on all {len(TASKS)} columns: {met or 'none'}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_dataset_rung.json").write_text(
            json.dumps({"rows": rows, "met": met}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
