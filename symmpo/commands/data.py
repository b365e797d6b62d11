"""``symmpo data list | build | info``: the diagnostic suite's datasets from the command line."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from symmpo.errors import DataError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="list, build and inspect the preference datasets")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    p_list = sub.add_parser("list", help="tasks, settings and shipped behaviour levels")
    p_list.set_defaults(func=cmd_list)

    p_levels = sub.add_parser(
        "levels",
        help="the behaviour levels of every environment: greedy normalized mean ± SE (and sampled)",
        description="Greedy (mean action, snapped to the bins) and sampled (how the datasets act) normalized "
        "scores of every shipped behaviour level, as measured at export on reset seeds 500000+.",
    )
    p_levels.add_argument("--json", action="store_true", help="a JSON list of objects instead of a table")
    p_levels.set_defaults(func=cmd_levels)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--n-pairs", type=int, default=None, help="pairs per task (default 2000)")
    common.add_argument("--cache-dir", default=None, help="default: $SYMMPO_CACHE or ~/.cache/symmpo")

    p_build = sub.add_parser("build", parents=[common], help="build (and cache) tasks, or the default suite")
    p_build.add_argument("tasks", nargs="*", metavar="TASK", help="e.g. hopper-noisy-0.2")
    p_build.add_argument("--suite", action="store_true", help="every setting of hopper and halfcheetah")
    p_build.add_argument("--workers", type=int, default=2, help="processes (one environment's pool each)")
    p_build.set_defaults(func=cmd_build)

    p_info = sub.add_parser("info", parents=[common], help="statistics of a task and a histogram plot")
    p_info.add_argument("task", metavar="TASK")
    p_info.add_argument("--plot", default=None, help="PNG path (default results/data_info/<task>.png)")
    p_info.set_defaults(func=cmd_info)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def level_rows() -> list[dict]:
    """One dict per (env, level): greedy normalized mean / SE / episodes, the sampled ones, and provenance."""
    from symmpo.suite.behaviour import level_info, list_levels
    from symmpo.suite.tasks import ENVS, normalized_score

    rows = []
    for env in ENVS:
        for level in list_levels(env):
            info = level_info(env, level)
            row = {"env": env, "level": level}
            for key, prefix in (("eval_greedy", ""), ("eval", "sampled_")):
                rets = np.asarray(info[key]["episode_returns"], dtype=np.float64)
                norm = normalized_score(env, rets)
                row[f"{prefix}normalized_mean"] = round(float(norm.mean()), 2)
                row[f"{prefix}normalized_se"] = (
                    round(float(norm.std(ddof=1) / np.sqrt(len(norm))), 2) if len(norm) > 1 else None
                )
                row[f"{prefix}episodes"] = int(len(norm))
            row.update(
                algorithm=info.get("algorithm"),
                training_steps=info.get("training_steps"),
                weights=info["weights"],
            )
            rows.append(row)
    return rows


def cmd_levels(args: argparse.Namespace) -> int:
    import json

    rows = level_rows()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'env':12s} {'level':7s} {'greedy':>15s} {'sampled':>15s} {'episodes':>8s}  policy")
    for r in rows:
        g = f"{r['normalized_mean']:.1f} ± {r['normalized_se'] or 0:.1f}"
        s = f"{r['sampled_normalized_mean']:.1f} ± {r['sampled_normalized_se'] or 0:.1f}"
        print(
            f"{r['env']:12s} {r['level']:7s} {g:>15s} {s:>15s} {r['episodes']:>8d}  "
            f"{r['algorithm']} step {r['training_steps']}"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from symmpo.suite.behaviour import level_info, list_levels
    from symmpo.suite.tasks import ENVS, N_BINS, SETTINGS

    print(f"settings: {', '.join(SETTINGS)}  (any noisy-EPS / mixed-RHO also accepted)")
    print(f"actions: {N_BINS} bins per dimension\n")
    for env, spec in ENVS.items():
        role = "held-out transfer env" if spec.held_out else "default suite"
        print(f"{env} ({spec.env_id}, obs {spec.obs_dim}, act {spec.act_dim}, {role}): tasks {env}-<setting>")
        for level in list_levels(env):
            info = level_info(env, level)
            ev = info["eval"]
            print(
                f"  level {level:7s} normalized {ev['normalized_mean']:6.1f}  return {ev['mean_return']:8.1f} "
                f"± {ev['std_return']:.1f}  ({info['algorithm']} step {info['training_steps']})"
            )
        if not list_levels(env):
            print("  no behaviour policies shipped yet")
    return 0


def _build_env(job: tuple[str, list[str], int, int | None, str | None]) -> tuple[str, float]:
    import torch

    from symmpo.suite.datasets import load_task

    torch.set_num_threads(1)
    env, tasks, seed, n_pairs, cache_dir = job
    start = time.time()
    for i, task in enumerate(tasks):
        load_task(task, cache_dir=cache_dir, seed=seed, n_pairs=n_pairs, progress=(i == 0))
    return env, time.time() - start


def cmd_build(args: argparse.Namespace) -> int:
    from symmpo.suite.tasks import DEFAULT_SUITE_ENVS, all_task_names, parse_task

    names = list(args.tasks)
    if args.suite:
        names += all_task_names(DEFAULT_SUITE_ENVS)
    if not names:
        raise DataError("nothing to build: give TASK names or --suite")
    by_env: dict[str, list[str]] = {}
    for name in names:
        task = parse_task(name)
        by_env.setdefault(task.env, []).append(task.name)
    jobs = [(env, tasks, args.seed, args.n_pairs, args.cache_dir) for env, tasks in by_env.items()]
    start = time.time()
    if args.workers > 1 and len(jobs) > 1:
        from symmpo.suite.evaluator import fork_pool

        with fork_pool(min(args.workers, len(jobs))) as pool:
            results = pool.map(_build_env, jobs)
    else:
        results = [_build_env(job) for job in jobs]
    for env, seconds in results:
        print(f"{env}: {len(by_env[env])} tasks in {seconds:.1f} s")
    print(f"built {len(names)} tasks in {time.time() - start:.1f} s wall clock ({args.workers} workers)")
    return 0


def _stats(x: np.ndarray) -> str:
    return f"mean {x.mean():8.2f}  std {x.std():7.2f}  min {x.min():8.2f}  max {x.max():8.2f}"


def cmd_info(args: argparse.Namespace) -> int:
    import matplotlib
    import torch

    torch.set_num_threads(1)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from symmpo.suite.datasets import load_task

    ds = load_task(args.task, cache_dir=args.cache_dir, seed=args.seed, n_pairs=args.n_pairs, progress=True)
    m = ds.meta
    print(
        f"task {m['task']} ({m['env_id']}, K={m['K']}, H={m['H']}, seed {m['seed']}), sha256 {m['sha256'][:16]}"
    )
    print(f"pairs            {ds.n_pairs}")
    print(
        f"length chosen    {_stats(ds.len_chosen.astype(float))}   full-H {np.mean(ds.len_chosen == ds.horizon):.2f}"
    )
    print(
        f"length rejected  {_stats(ds.len_rejected.astype(float))}   full-H {np.mean(ds.len_rejected == ds.horizon):.2f}"
    )
    print(f"return chosen    {_stats(ds.ret_chosen)}")
    print(f"return rejected  {_stats(ds.ret_rejected)}")
    print(f"chosen > rejected in return: {np.mean(ds.ret_chosen > ds.ret_rejected):.3f}")
    print(f"realized flip rate {ds.flipped.mean():.3f}   poor-pair fraction {ds.poor_pair.mean():.3f}")
    levels = m["levels"]
    for name, lv in (("chosen", m["level_chosen"]), ("rejected", m["level_rejected"])):
        counts = np.bincount(lv, minlength=len(levels))
        print(f"levels {name:8s} " + "  ".join(f"{levels[i]} {c}" for i, c in enumerate(counts)))
    print(
        f"context prompt length: mean {m['prompt_len'].mean():.0f}, from reset {np.mean(m['prompt_len'] == 0):.2f}"
    )

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    bins = np.linspace(
        min(ds.ret_chosen.min(), ds.ret_rejected.min()), max(ds.ret_chosen.max(), ds.ret_rejected.max()), 40
    )
    axes[0].hist(ds.ret_chosen, bins, alpha=0.6, label="chosen")
    axes[0].hist(ds.ret_rejected, bins, alpha=0.6, label="rejected")
    axes[0].set(title="return (H steps)", xlabel="return")
    axes[0].legend()
    margin = ds.ret_chosen - ds.ret_rejected
    edges = np.linspace(margin.min(), margin.max(), 40)
    axes[1].hist(margin, edges, color="gray", label="all")
    axes[1].hist(
        margin[ds.flipped], edges, color="red", alpha=0.7, label=f"flipped ({ds.flipped.mean():.2f})"
    )
    axes[1].set(title="return(chosen) - return(rejected)", xlabel="margin")
    axes[1].legend()
    lb = np.arange(1, ds.horizon + 2) - 0.5
    axes[2].hist(ds.len_chosen, lb, alpha=0.6, label="chosen")
    axes[2].hist(ds.len_rejected, lb, alpha=0.6, label="rejected")
    axes[2].set(title="length", xlabel="steps")
    axes[2].legend()
    fig.suptitle(m["task"])
    fig.tight_layout()
    path = Path(args.plot or f"results/data_info/{m['task']}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"plot: {path}")
    return 0
