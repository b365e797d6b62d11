"""``symmpo bench``: the baseline table (every named objective + SFT-only) and its hyperparameter sweep."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.search.presets import CLAIM_SEEDS


def register(subparsers: Any) -> None:
    from symmpo.commands._args import (
        cache_parent,
        dataset_seeds_arg,
        table_columns,
        table_parent,
        training_parent,
        workers_parent,
    )
    from symmpo.studies.mujoco import ENVS, SETTINGS

    p = subparsers.add_parser(
        "bench",
        parents=[table_parent(dataset_seed=False), training_parent(), cache_parent(), workers_parent()],
        help="baseline table: named objectives + SFT-only on Hopper/HalfCheetah/Walker2d × data settings",
        description="Trains every named baseline (one population per task and seed) and the SFT-only reference "
        "on the held-out split (fresh dataset seed, training seeds and evaluation resets), writes "
        "results/bench/table.md (IQM with bootstrap CIs, Holm-corrected verdicts), stats.json, table.csv and "
        "table.png. Hyperparameters and each column's best baseline come from `symmpo bench --sweep` "
        "(fitness split, per column; Walker2d reuses Hopper's). Resumable: rerun the same command after an interruption and it continues where it stopped.",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="run the hyperparameter sweep on each column's fitness split (sweep.*)",
    )
    p.add_argument("--no-sweep", action="store_true", help="bench with the named defaults (no sweep needed)")
    p.add_argument(
        "--anchor-factors",
        nargs="+",
        type=float,
        default=None,
        metavar="F",
        help="with --sweep: also sweep the NLL weight of the baselines that have one (rpo_alpha, cpo_alpha) at "
        "these multiples of its default (e.g. 0.1 0.3 1 3; default: left at 1). The default grid's rows are "
        "reused: its labels do not change",
    )
    p.add_argument(
        "--baselines",
        nargs="+",
        default=None,
        metavar="NAME",
        help="a subset of the baseline set (default: all of them, MPO members and plain baselines)",
    )
    p.add_argument(
        "--envs",
        nargs="+",
        default=None,
        help=f"default: {' '.join(ENVS)} (with --sweep: the non-transfer ones; Walker2d reuses Hopper's choices)",
    )
    table_columns(
        p,
        SETTINGS,
        None,
        "number of training seeds: the sweep uses 0..N-1 (default 3), the table 1000..1000+N-1 (default 20, the paired seeds a claim needs)",
    )
    dataset_seeds_arg(p, "the sweep's fitness (and the sweep a table reads)")
    p.add_argument(
        "--suite",
        default="v2",
        help="dataset design (symmpo.suite.suites: v2, v3); columns become SETTING@SUITE, the PO steps default "
        "to the suite's",
    )
    p.add_argument(
        "--out", default=None, help="output directory (default: results/bench, results/bench-SUITE)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.commands._args import cell_executor, writable_dir
    from symmpo.search.executors import run_stoppable
    from symmpo.studies import invocations
    from symmpo.suite.suites import DEFAULT_SUITE, parse_suite

    args.suite = parse_suite(args.suite)
    anchors = tuple(args.anchor_factors or (1.0,))
    if args.anchor_factors and not args.sweep:
        raise SymmpoError("--anchor-factors sets the sweep's grid: use it with --sweep")
    bad = [a for a in anchors if not (math.isfinite(a) and a > 0)]
    if bad:
        raise SymmpoError(f"--anchor-factors must be positive numbers, got {bad[0]:g}")
    if args.suite != DEFAULT_SUITE:
        args.settings = [s if "@" in s else f"{s}@{args.suite}" for s in args.settings]
    args.out = args.out or ("results/bench" if args.suite == DEFAULT_SUITE else f"results/bench-{args.suite}")
    writable_dir(getattr(args, "out", None), "--out")
    writable_dir(getattr(args, "cache_dir", None), "--cache-dir")
    from symmpo.studies import bench, mujoco
    from symmpo.studies.members import BASELINES, fmt_params
    from symmpo.suite.tasks import parse_task
    from symmpo.train.config import TrainConfig

    overrides = {
        k: v for k, v in (("steps", args.steps), ("eval_episodes", args.eval_episodes)) if v is not None
    }
    if args.sft_levels:
        overrides["sft_levels"] = tuple(args.sft_levels)
    # the fitness side only: heldout_config clears it, so the table's rows are unchanged
    if args.dataset_seeds:
        overrides["dataset_seeds"] = tuple(args.dataset_seeds)
    tasks = [f"{e}-{s}" for e in mujoco.ENVS for s in args.settings]
    config = TrainConfig.preset(args.preset, tasks, **overrides)
    baselines = list(BASELINES)
    if args.baselines:
        from symmpo.objective.named import lookup

        unknown = [b for b in args.baselines if lookup(b) not in BASELINES]
        if unknown:
            raise SymmpoError(
                f"not in the baseline set: {', '.join(unknown)}; choose from {', '.join(BASELINES)}"
            )
        baselines = [lookup(b) for b in args.baselines]
    args.envs_given = args.envs is not None
    args.envs = args.envs or list(mujoco.ENVS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for e in args.envs:
        for s in args.settings:
            parse_task(f"{e}-{s}")  # a typo fails now, not an hour into the run
    from symmpo.protocol import HELDOUT_SEED_MIN

    if args.seeds is not None and args.seeds < 1:
        raise SymmpoError(f"--seeds must be at least 1, got {args.seeds}")
    seeds = (
        list(range(args.seeds or 3))
        if args.sweep
        else list(range(HELDOUT_SEED_MIN, HELDOUT_SEED_MIN + (args.seeds or len(CLAIM_SEEDS))))
    )
    executor = cell_executor(args)
    kw = {"cache_dir": args.cache_dir, "progress": not args.no_progress, "executor": executor}
    t0 = time.perf_counter()
    stopped = f"interrupted: every finished cell is stored in {out}; rerun the same command to resume"
    if args.sweep:
        envs = args.envs if args.envs_given else list(mujoco.FITNESS_ENVS)
        tasks = mujoco.sweep_tasks(envs, args.settings)
        if not args.report:
            finished, _ = run_stoppable(
                executor,
                lambda: bench.run_sweep(
                    out,
                    config,
                    seeds,
                    envs=envs,
                    settings=args.settings,
                    baselines=baselines,
                    anchors=anchors,
                    **kw,
                ),
                stopped,
                end_on_error=True,
            )
            if not finished:
                return 130
        chosen = bench.write_sweep_report(out, config, tasks)
        print((out / "sweep.md").read_text())
        for task, choice in chosen.items():
            print(
                f"chosen on {task}: "
                + "; ".join(f"{k} {fmt_params({**v['params'], 'lr': v['lr']})}" for k, v in choice.items())
            )
    else:
        params, sweep_seeds = bench.chosen_params(out, config, require=not args.no_sweep)
        if not args.report:
            tasks = [f"{e}-{s}" for e in args.envs for s in args.settings]
            members = bench.members_for(params, baselines)
            finished, _ = run_stoppable(
                executor,
                lambda: bench.run_bench(out, config, seeds, tasks, members, sweep_seeds=sweep_seeds, **kw),
                stopped,
                end_on_error=True,
            )
            if not finished:
                return 130
            invocations.record(out, time.perf_counter() - t0)
        print(bench.write_bench_report(out, config, header=invocations.produced_by(out)))
    seconds = time.perf_counter() - t0
    if args.sweep and not args.report:
        invocations.record(out, seconds)
    print(f"{seconds:.0f} s; results in {out}/")
    return 0
