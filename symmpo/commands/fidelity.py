"""``symmpo fidelity``: how well the search's fitness predicts held-out scores, against its cost."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError


def _setting(text: str):
    from symmpo.studies.fidelity import Setting

    steps, sep, lr = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return Setting(int(steps), float(lr))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected STEPS:LR, e.g. 300:1e-3") from None


def register(subparsers: Any) -> None:
    from symmpo.commands._args import cache_parent

    p = subparsers.add_parser(
        "fidelity",
        parents=[cache_parent(progress=False)],
        help="Spearman rho between the search's fitness and held-out scores, per cost setting",
        description="Scores a fixed set of objectives (the 9 baselines, SFT-only and grammar samples) with the "
        "search's fitness (fitness split) and with the held-out protocol, for each training setting "
        "(PO steps:lr) and each cheaper variant (fewer fitness seeds / evaluation episodes, read off the same "
        "runs). Writes fidelity.json (spearman, ci, n_objectives, config per variant), fidelity_vs_cost.png "
        "and scatter.png. Resumable: finished settings are kept in raw.json.",
    )
    p.add_argument("--task", default="hopper-mixed-0.5")
    p.add_argument("--samples", type=int, default=16, help="grammar samples besides the 9 baselines and SFT")
    p.add_argument("--grammar", default="grammars/mirror.yaml")
    p.add_argument(
        "--settings",
        nargs="+",
        type=_setting,
        default=None,
        help="training settings STEPS:LR (default: 300:3e-4 300:1e-3 1000:1e-3)",
    )
    p.add_argument(
        "--fitness-seeds", type=int, default=2, help="largest fitness seed count (variants use 1..S)"
    )
    p.add_argument(
        "--fitness-episodes", type=int, nargs="+", default=[5, 10], help="evaluation episodes of the variants"
    )
    p.add_argument(
        "--fitness-datasets",
        type=int,
        default=1,
        help="fitness-side preference datasets (dataset seed 0, then 3, 4, 5); variants average over 1..D",
    )
    p.add_argument("--heldout-seeds", type=int, default=5, help="held-out training seeds (from 1000)")
    p.add_argument("--heldout-episodes", type=int, default=10)
    p.add_argument(
        "--preset", default="default", choices=["tiny", "default"], help="base training configuration"
    )
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output directory (default: results/fidelity/<task>)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from symmpo.commands._args import writable_dir

    writable_dir(getattr(args, "out", None), "--out")
    writable_dir(getattr(args, "cache_dir", None), "--cache-dir")
    from symmpo.protocol import HELDOUT_SEED_MIN
    from symmpo.studies import fidelity
    from symmpo.suite.tasks import parse_task
    from symmpo.train.config import TrainConfig

    torch.set_num_threads(1)
    parse_task(args.task)
    fidelity.extra_dataset_seeds(args.fitness_datasets)  # a bad count fails before any training
    if args.samples < 0 or args.fitness_seeds < 1 or args.heldout_seeds < 2:
        raise SymmpoError("--samples >= 0, --fitness-seeds >= 1 and --heldout-seeds >= 2 are needed")
    settings = args.settings or [
        fidelity.Setting(300, 3e-4),
        fidelity.Setting(300, 1e-3),
        fidelity.Setting(1000, 1e-3),
    ]
    objectives = fidelity.objective_set(args.grammar, args.samples, args.sample_seed)
    out = Path(args.out) if args.out else Path("results") / "fidelity" / args.task
    res = fidelity.fidelity_study(
        args.task,
        settings,
        objectives,
        TrainConfig.preset(args.preset),
        args.fitness_seeds,
        args.fitness_episodes,
        list(range(HELDOUT_SEED_MIN, HELDOUT_SEED_MIN + args.heldout_seeds)),
        args.heldout_episodes,
        out,
        cache_dir=args.cache_dir,
        fitness_datasets=args.fitness_datasets,
    )
    print(f"fitness fidelity on {args.task} ({len(objectives) + 1} objectives incl. SFT):")
    print(
        f"{'setting':22s} {'data':>4s} {'seeds':>5s} {'episodes':>8s} {'core-s/cand':>11s}  spearman [95% CI]"
    )
    for v in res["variants"]:
        print(
            f"{v['setting']:22s} {v['fitness_datasets']:4d} {v['fitness_seeds']:5d} {v['eval_episodes']:8d} "
            f"{v['core_seconds_per_candidate']:11.2f}  {v['spearman']:.2f} [{v['ci'][0]:.2f}, {v['ci'][1]:.2f}]"
        )
    print(f"results in {out}/ (fidelity.json, fidelity_vs_cost.png, scatter.png)")
    return 0
