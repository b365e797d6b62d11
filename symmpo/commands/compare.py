"""``symmpo compare``: discovered objectives next to the tuned baselines on held-out seeds and transfer tasks."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.search.presets import CLAIM_SEEDS

DEFAULT_TASKS = [
    "hopper-mixed-0.5",
    "hopper-noisy-0.2",
    "hopper-clean",
    "walker2d-mixed-0.5",
    "walker2d-noisy-0.2",
]


def register(subparsers: Any) -> None:
    from symmpo.commands._args import (
        TRAINING_PRESETS,
        cache_parent,
        dataset_seeds_arg,
        table_parent,
        workers_parent,
    )

    preset = argparse.ArgumentParser(add_help=False)
    preset.add_argument("--preset", default="bench", choices=TRAINING_PRESETS)
    p = subparsers.add_parser(
        "compare",
        parents=[table_parent(), preset, cache_parent(), workers_parent()],
        help="discovered objectives vs the tuned baselines, held out (and Walker2d transfer)",
        description="Trains discovered objectives (a finished run's best entry, or LABEL=FILE) together with every "
        "named baseline at the sweep's hyperparameters and the SFT-only reference, on the held-out split (a "
        "fresh dataset seed, training seeds and evaluation resets; refused, exit 2, when it overlaps the run's "
        "fitness or the sweep); writes compare.md / stats.json / compare.csv / compare.png. Resumable like "
        "`symmpo bench`.",
    )
    p.add_argument("objectives", nargs="+", metavar="RUN|LABEL=FILE")
    p.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, help=f"default: {' '.join(DEFAULT_TASKS)}")
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=CLAIM_SEEDS,
        help="held-out training seeds (default: 1000-1019, the 20 paired seeds a claim needs)",
    )
    p.add_argument(
        "--reset-offset", type=int, help="first held-out evaluation reset (default: the protocol's, 50000)"
    )
    p.add_argument(
        "--bench-dir",
        default=None,
        help="where the sweep's sweep.json lives (default: results/bench, or results/bench-SUITE for TASK@SUITE)",
    )
    p.add_argument("--out", default="results/study", help="output directory (default: results/study)")
    dataset_seeds_arg(
        p, "the fitness of the sweep to read (`symmpo bench --sweep --dataset-seeds`) and of --tune"
    )
    p.add_argument(
        "--tune",
        action="store_true",
        help="tune each file's beta × learning rate on each column's fitness split with the baselines' grid "
        "and the sweep's seeds (tune.md), as the baselines were; without it the files run as written",
    )
    p.add_argument(
        "--references",
        nargs="+",
        default=["dpo"],
        metavar="NAME",
        help="named baselines every discovered objective is also tested against, besides the column's best "
        "baseline (default: dpo); each adds its tests to the one Holm family",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.commands._args import cell_executor, writable_dir
    from symmpo.search.executors import run_stoppable
    from symmpo.studies import bench, compare, invocations, mujoco
    from symmpo.studies.members import discovered_members

    writable_dir(getattr(args, "out", None), "--out")
    writable_dir(getattr(args, "cache_dir", None), "--cache-dir")
    from symmpo.suite.tasks import parse_task
    from symmpo.train.config import TrainConfig

    suite = parse_task(args.tasks[0]).suite if args.tasks else "v2"
    args.bench_dir = args.bench_dir or ("results/bench" if suite == "v2" else f"results/bench-{suite}")
    base = TrainConfig.preset(args.preset, args.tasks)
    if args.dataset_seeds:  # the sweep's (and --tune's) fitness datasets; the held-out side has one dataset
        base = dataclasses.replace(base, dataset_seeds=tuple(args.dataset_seeds))
    held = {
        k: v
        for k, v in (("dataset_seed", args.dataset_seed), ("eval_reset_offset", args.reset_offset))
        if v is not None
    }
    config = dataclasses.replace(mujoco.heldout_config(base), **held)
    for t in args.tasks:
        parse_task(t)  # a typo fails now, not an hour into the run
    from symmpo.objective.named import lookup
    from symmpo.studies.members import BASELINES

    unknown = [r for r in args.references if lookup(r) not in BASELINES]
    if unknown:
        raise SymmpoError(f"--references: not in the baseline set: {', '.join(unknown)}")
    references = [lookup(r) for r in args.references]
    discovered = discovered_members(args.objectives)
    params, sweep_seeds = bench.chosen_params(Path(args.bench_dir), base, require=True)
    fitness = mujoco.fitness_config(base)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not args.report:
        # the protocol is checked before any training, tuning included
        compare.check_protocol(config, args.seeds, discovered, sweep_seeds, fitness)
        executor = cell_executor(args)
        kw = {"cache_dir": args.cache_dir, "progress": not args.no_progress, "executor": executor}

        def body() -> None:
            tuned = (
                compare.tune_discovered(out, fitness, args.tasks, sweep_seeds, discovered, **kw)
                if args.tune
                else None
            )
            compare.run_compare(
                out,
                config,
                args.tasks,
                args.seeds,
                discovered,
                params,
                sweep_seeds=sweep_seeds,
                sweep_fitness=fitness,
                tuned=tuned,
                **kw,
            )

        stopped = f"interrupted: every finished cell is stored in {out}; rerun the same command to resume"
        if not run_stoppable(executor, body, stopped, end_on_error=True)[0]:
            return 130
    if not args.report:
        invocations.record(out, time.perf_counter() - t0)
    # a study from before runs.jsonl keeps its old first line, which already ends with the objectives
    header = invocations.produced_by(out, "compare.md").split(" Objectives: ")[0]
    files = ", ".join(f"{m.label} = `{m.path}`" for m in discovered)
    print(
        compare.write_report(
            out,
            config,
            [m.label for m in discovered],
            header=f"{header} Objectives: {files}.",
            chosen_best=bench.chosen_best(Path(args.bench_dir), base, args.tasks),
            files={m.label: m.path for m in discovered},
            choices=params,
            references=references,
        )
    )
    return 0
