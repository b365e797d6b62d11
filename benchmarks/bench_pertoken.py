"""Sequence vs token granularity on the same grammar samples: the spread of held-out-style scores, and dead terms.

Issue 19 part 2 asks whether a search space where φ⁻¹ and ψ read token-sized probabilities makes the components'
shapes matter. This draws N distinct checker-valid objectives from ``grammars/mirror.yaml`` and trains each twice,
as drawn (granularity=sequence) and per token (``Objective.with_granularity("token")``, one action dimension of
one step is a token), all 2N in one population per seed (common minibatches), on the held-out side of the
protocol (held-out dataset seed and evaluation resets; training seeds from 1000). Reported per form:

* the spread of the per-objective mean scores over the N samples (s.d., IQR, range) and how many died;
* dead terms: the additive terms of φ⁻¹ and ψ that pruning (``symmpo/objective/prune.py``) finds dead on the
  log-probabilities each trained member saw (``symmpo/train/occurring.py``: per response for sequence
  objectives, per token for token objectives), pooled over seeds as the search pools them.

    nice python benchmarks/bench_pertoken.py --task hopper-mixed-0.5 --samples 16 --seeds 2 \\
        --out results/pertoken

Minutes on one core; writes ``raw.json`` (scores, sketches' dead-term counts) and ``table.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from symmpo.objective import prune as pruning
from symmpo.search.config import HeldoutSection
from symmpo.search.space import ObjectiveSpace
from symmpo.symbolic.expr import get_at, variables
from symmpo.symbolic.parser import to_formula
from symmpo.train import fitness
from symmpo.train.config import TrainConfig
from symmpo.train.occurring import occurring_sketches
from symmpo.train.trainer import train_population


def samples(n: int, seed: int) -> list:
    """n distinct (by canonical key) checker-valid objectives from the mirror grammar."""
    space = ObjectiveSpace.load("mirror")
    rng = np.random.default_rng([seed, 19])
    out, seen = [], set()
    while len(out) < n:
        obj = space.sample(rng)
        if space.check(obj) is None and obj.canonical_key() not in seen:
            seen.add(obj.canonical_key())
            out.append(obj.renamed(f"s{len(out):02d}"))
    return out


def dead_kinds(obj, sample) -> tuple[int, int, int, list[str]]:
    """(terms, dead terms that read p, dead constant terms, the dead p-terms as formulas) of φ⁻¹ and ψ: a constant
    additive term (the −1 of a Tsallis form) is dead in any form; a dead term that reads p is what the
    granularity decides."""
    terms = live_p = const = 0
    shown = []
    for comp in pruning.prunable(obj):
        tree = obj.components[comp]
        n, dead = pruning.dead_terms(tree, sample)
        terms += n
        for path in dead:
            term = get_at(tree, path)
            if "p" in variables(term):
                live_p += 1
                shown.append(f"{comp}: {to_formula(term)}")
            else:
                const += 1
    return terms, live_p, const, shown


def spread(values: list[float]) -> dict[str, float]:
    v = np.asarray([x for x in values if np.isfinite(x)])
    q1, q3 = np.percentile(v, [25, 75])
    return {
        "sd": float(v.std(ddof=1)),
        "iqr": float(q3 - q1),
        "range": float(v.max() - v.min()),
        "mean": float(v.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="hopper-mixed-0.5")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="PO steps (default: the task's preset)")
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/pertoken"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = TrainConfig.preset("default", [args.task], **({"steps": args.steps} if args.steps else {}))
    config = HeldoutSection(eval_episodes=args.episodes).split(()).apply(base)
    seq = samples(args.samples, args.sample_seed)
    tok = [o.with_granularity("token") for o in seq]
    objs = seq + tok
    evaluator = fitness.make_evaluator(args.task, config)
    scores: list[list[float]] = [[] for _ in objs]
    sketches: list[list] = [[] for _ in objs]
    seconds = []
    for k in range(args.seeds):
        seed = 1000 + k
        dataset, reference = fitness.prepare(args.task, seed, config)
        t0 = time.process_time()
        results, policy = train_population(
            objs, dataset, reference, config, seed, evaluator=evaluator, return_policy=True
        )
        seconds.append(time.process_time() - t0)
        for i, s in enumerate(occurring_sketches(policy, reference, objs, [r.alive for r in results])):
            scores[i].append(results[i].score)
            sketches[i].append(s)
        print(f"seed {seed}: {seconds[-1]:.0f} core-s for {len(objs)} members", flush=True)
    rows = []
    for i, obj in enumerate(objs):
        live = [s for s in sketches[i] if s is not None]
        sample = pruning.sample_of(live)
        terms, dead_p, dead_const, shown = dead_kinds(obj, sample) if sample is not None else (0, 0, 0, [])
        rows.append(
            {
                "name": obj.name,
                "granularity": obj.granularity,
                "formula": {k: to_formula(v) for k, v in obj.components.items()},
                "psi_tied": obj.psi_tied,
                "reduce": obj.reduce,
                "beta": obj.beta,
                "scores": scores[i],
                "mean": float(np.mean(scores[i])) if all(np.isfinite(scores[i])) else float("-inf"),
                "terms": terms,
                "dead": dead_p + dead_const,
                "dead_p": dead_p,
                "dead_const": dead_const,
                "dead_p_terms": shown,
                "sketches": live,
                "median_logp": float(np.median(np.concatenate([np.asarray(s) for s in live])))
                if live
                else None,
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    groups = [(f, red) for f in ("sequence", "token") for red in ("all", "sum", "mean")]
    for form, red in groups:
        r = [x for x in rows if x["granularity"] == form and red in ("all", x["reduce"])]
        if len(r) < 2:
            continue
        means = [x["mean"] for x in r]
        summary[f"{form} / {red}"] = {
            "n": len(r),
            **spread(means),
            "died": sum(1 for m in means if not np.isfinite(m)),
            "terms": sum(x["terms"] for x in r),
            "dead": sum(x["dead"] for x in r),
            "dead_p": sum(x["dead_p"] for x in r),
            "dead_const": sum(x["dead_const"] for x in r),
            "with_dead_p": sum(1 for x in r if x["dead_p"] > 0),
            "with_dead": sum(1 for x in r if x["dead"] > 0),
            "multi_term": sum(
                1 for x in r if x["terms"] > (1 if x["psi_tied"] else 2)
            ),  # more than log-like parts
            "median_logp": float(np.median([x["median_logp"] for x in r if x["median_logp"] is not None])),
        }
    pairs = [(a["mean"], b["mean"]) for a, b in zip(rows[: len(seq)], rows[len(seq) :], strict=True)]
    diff = [b - a for a, b in pairs if np.isfinite(a) and np.isfinite(b)]
    cmd = (
        f"nice python benchmarks/bench_pertoken.py --task {args.task} --samples {args.samples} --seeds {args.seeds}"
        f" --episodes {args.episodes}"
        + (f" --steps {args.steps}" if args.steps else "")
        + f" --out {args.out}"
    )
    meta = {
        "command": cmd,
        "config": config.to_dict(),
        "seeds": [1000 + k for k in range(args.seeds)],
        "core_seconds": seconds,
    }
    (args.out / "raw.json").write_text(json.dumps({"meta": meta, "summary": summary, "rows": rows}, indent=1))
    lines = [
        f"# Sequence vs token granularity: {args.samples} mirror-grammar samples on {args.task}",
        "",
        f"Command: `{cmd}` ({sum(seconds) / 60:.1f} core-minutes of training and evaluation).",
        f"Held-out side of the protocol: dataset seed {config.dataset_seed}, training seeds {meta['seeds']}, "
        f"{config.eval_episodes} episodes from reset {config.eval_reset_offset}, {config.steps} PO steps. The same "
        "N formulas in both forms, trained in one population per seed. Scores are normalized returns (mean over "
        "seeds per objective); the spread is over the N objectives. Dead terms: additive terms of φ⁻¹ and ψ that "
        "pruning removes on the log-probabilities the trained members saw (per response / per token).",
        "",
        "| form / reduce | n | s.d. | IQR | range | mean | died | median log p seen | terms of φ⁻¹, ψ |"
        " dead terms reading p | samples with one | dead constant terms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for form, s in summary.items():
        lines.append(
            f"| {form} | {s['n']} | {s['sd']:.1f} | {s['iqr']:.1f} | {s['range']:.1f} | {s['mean']:.1f} | "
            f"{s['died']} | {s['median_logp']:.2f} | {s['terms']} | {s['dead_p']} | {s['with_dead_p']} | "
            f"{s['dead_const']} |"
        )
    if diff:
        lines += [
            "",
            f"Paired (same formula, token − sequence): mean {np.mean(diff):+.1f}, "
            f"mean |difference| {np.mean(np.abs(diff)):.1f} over {len(diff)} formulas alive in both forms.",
        ]
    dead_lines = [
        f"- {x['name']} ({x['granularity']}, {x['reduce']}): " + "; ".join(x["dead_p_terms"])
        for x in rows
        if x["dead_p_terms"]
    ]
    if dead_lines:
        lines += ["", "Dead terms that read p:", "", *dead_lines]
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
