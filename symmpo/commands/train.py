"""``symmpo train``: train one objective on one task over several seeds; score, learning curve, JSON record."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symmpo.commands._args import MAX_LR, cache_parent, int_in, positive_float, training_parent
from symmpo.errors import SymmpoError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        parents=[training_parent(), cache_parent()],
        help="train a policy with one PO objective and report its normalized score",
        description="Behaviour-clone the reference policy (cached), train with the objective for a fixed number of "
        "steps, evaluate the greedy policy on held-out reset seeds. Prints the D4RL-normalized score mean ± "
        "standard error over seeds next to the SFT-only reference, and writes a learning-curve plot and a JSON "
        "record to results/train/<objective>-<task>/ (or --out).",
    )
    p.add_argument(
        "--objective", required=True, help="a named baseline (dpo, ipo, ...) or an objective YAML file"
    )
    p.add_argument("--task", required=True, help="e.g. hopper-noisy-0.2 (see `symmpo data list`)")
    p.add_argument(
        "--seeds", type=int_in(1, 64), default=3, help="number of training seeds 0..N-1 (default: 3)"
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="objective parameter, e.g. --param beta=0.1 (repeatable)",
    )
    p.add_argument("--lr", type=positive_float(MAX_LR), help="learning rate (overrides the preset)")
    p.add_argument("--out", help="output directory (default: results/train/<objective>-<task>)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from symmpo.commands._args import writable_dir
    from symmpo.files import dumps
    from symmpo.report import fmt_mean_se
    from symmpo.stats import mean_se
    from symmpo.suite.tasks import parse_task
    from symmpo.train.config import TrainConfig
    from symmpo.train.fitness import run_task

    writable_dir(args.out, "--out")
    writable_dir(args.cache_dir, "--cache-dir")
    torch.set_num_threads(1)
    task = parse_task(args.task).name
    params = parse_params(args.param)
    objective = resolve_objective(args.objective, params)
    overrides: dict[str, Any] = {"eval_points": 4}  # a learning curve: 4 evaluations during training
    overrides |= {
        k: v
        for k, v in (("steps", args.steps), ("lr", args.lr), ("eval_episodes", args.eval_episodes))
        if v is not None
    }
    if args.sft_levels:
        overrides["sft_levels"] = tuple(args.sft_levels)
    config = TrainConfig.preset(args.preset, [task], **overrides)
    name = Path(args.objective).stem if args.objective.endswith((".yaml", ".yml")) else objective.name
    out = Path(args.out or Path("results/train") / f"{name}-{task}")
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    per_seed = []
    for seed in tqdm(range(args.seeds), desc=f"{name} on {task}", disable=args.no_progress):
        trained, sft = run_task(
            [objective],
            task,
            seed,
            config,
            cache_dir=args.cache_dir,
            progress_bar=not args.no_progress,
            include_reference=True,
        )
        per_seed.append({"seed": seed, "result": trained.to_dict(), "sft": sft.to_dict()})
        if not trained.alive:
            print(f"seed {seed}: run died at step {trained.died_at_step}: {trained.reason}", file=sys.stderr)
    seconds = time.perf_counter() - t0

    scores = [s["result"]["score"] for s in per_seed]
    sft_scores = [s["sft"]["score"] for s in per_seed]
    m, se = mean_se(scores)
    ms, ses = mean_se(sft_scores)
    print(
        f"{name} on {task}: normalized score {fmt_mean_se(m, se)} over {args.seeds} seeds "
        f"(SFT-only reference: {fmt_mean_se(ms, ses)}); {seconds:.0f} s"
    )
    record = {
        "command": "symmpo " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "objective": name,
        "objective_spec": _objective_dict(objective),
        "task": task,
        "config": config.to_dict(),
        "score_mean": m,
        "score_se": se,
        "sft_mean": ms,
        "sft_se": ses,
        "seconds": seconds,
        "seeds": per_seed,
    }
    (out / "record.json").write_text(dumps(record, indent=1))
    _plot(per_seed, f"{name} on {task}", out / "learning_curve.png")
    print(f"wrote {out / 'record.json'} and {out / 'learning_curve.png'}")
    return 0 if math.isfinite(m) else 1


def resolve_objective(spec: str, params: dict[str, float] | None = None):
    """``dpo`` (a named baseline) or a path to an objective YAML file; ``params`` override named parameters."""
    from symmpo.objective import Objective

    params = params or {}
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise SymmpoError(f"objective file {spec!r} not found")
        obj = Objective.load(path)
        extra = set(params) - {"beta"}
        if extra:
            raise SymmpoError(
                f"--param {', '.join(sorted(extra))}: only beta can be overridden for an objective file"
            )
        return obj.with_beta(params["beta"]) if "beta" in params else obj
    return Objective.named(spec, **params)


def parse_params(items: Sequence[str] | None) -> dict[str, float]:
    """``["beta=0.1", "eps=0.2"]`` → dict; a clear error for anything else."""
    out: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise SymmpoError(f"--param {item!r}: expected NAME=NUMBER, e.g. beta=0.1") from None
    return out


def _objective_dict(objective: Any) -> Any:
    if (
        getattr(objective, "family", None) == "plain"
    ):  # outside MPO: no formula, its name and parameters say it all
        return {"name": objective.name, "family": "plain", "params": objective.params}
    try:
        return objective.to_dict()
    except Exception:  # non-symbolic objectives cannot be written as formulas
        return {"name": getattr(objective, "name", None)}


def _plot(per_seed: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for s in per_seed:
        r = s["result"]
        if r["eval_curve"]:
            xs, ys = zip(*r["eval_curve"], strict=True)
            ax1.plot(xs, ys, marker="o", label=f"seed {s['seed']}")
        if r["loss_curve"]:
            xs, ls, _ = zip(*r["loss_curve"], strict=True)
            ax2.plot(xs, ls, label=f"seed {s['seed']}")
        ax1.axhline(s["sft"]["score"], color="gray", ls=":", lw=1)
    ax1.set(xlabel="PO step", ylabel="normalized score", title=f"{title} (dotted: SFT)")
    ax2.set(xlabel="PO step", ylabel="training loss", title="minibatch loss")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
