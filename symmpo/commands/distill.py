"""``symmpo distill RUN``: turn a neural run's best network into closed-form formulas with measured fidelity."""

from __future__ import annotations

import argparse
import re
from typing import Any


def register(subparsers: Any) -> None:
    from symmpo.neural.sr import BACKENDS
    from symmpo.search.executors import EXECUTORS

    p = subparsers.add_parser(
        "distill",
        help="distil a neural run (symmpo evolve-neural) into formulas by symbolic regression",
        description="Sample each learned component, fit closed forms over the grammar's primitives, keep the "
        "simplest valid one that is faithful enough, refit its constants with CMA-ES against fitness, and score "
        "it next to the network and DPO on the run's fresh seeds. Writes RUN/distill/ (--out-dir).",
    )
    p.add_argument("run", metavar="RUN", help="a neural run directory (or its name under --results)")
    p.add_argument(
        "--backend", choices=BACKENDS, default="operon", help="symbolic regression (default: operon)"
    )
    p.add_argument("--rank", type=int, default=1, help="which hall-of-fame network (default: the best)")
    p.add_argument("--r2-target", type=float, default=0.999, help="fidelity the simplest formula must reach")
    p.add_argument("--z-max", type=float, default=10.0, help="g is sampled on [-z_max, z_max]")
    p.add_argument("--sr-population", type=int, default=500)
    p.add_argument("--sr-generations", type=int, default=100)
    p.add_argument("--sr-max-length", type=int, default=25)
    p.add_argument("--sr-seconds", type=int, default=60, help="time limit per component")
    p.add_argument("--refit-iterations", type=int, default=4, help="CMA-ES rounds on the constants (0: none)")
    p.add_argument("--refit-popsize", type=int, default=6)
    p.add_argument("--refit-sigma0", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--executor", choices=EXECUTORS, default="local", help="where trainings run (default: local)"
    )
    p.add_argument("--workers", type=int)
    p.add_argument("--ray-address")
    p.add_argument("--results", default="results")
    p.add_argument(
        "--out-dir",
        default="distill",
        help="folder under RUN for the formulas and report (default: distill); another name keeps an earlier "
        "distillation",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.errors import SymmpoError
    from symmpo.neural import sr
    from symmpo.neural.refit import DistillSettings, distill_run
    from symmpo.report import fmt_mean_se
    from symmpo.search.executors import make_executor
    from symmpo.search.rundir import resolve_run

    if args.backend == "pysr":
        problem = sr.pysr_problem()
        if problem:
            raise sr.BackendUnavailable(problem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", args.out_dir) or args.out_dir in (
        "neural",
        "plots",
    ):
        raise SymmpoError(
            f"--out-dir must be a plain folder name (letters, digits, . _ -), not neural/plots: {args.out_dir!r}"
        )
    if args.z_max <= 0:
        raise SymmpoError(f"--z-max must be positive, got {args.z_max:g}")
    run_dir = resolve_run(args.run, args.results)
    settings = DistillSettings(
        backend=args.backend,
        rank=args.rank,
        r2_target=args.r2_target,
        z_max=args.z_max,
        sr=sr.SRSettings(
            args.sr_population, args.sr_generations, args.sr_max_length, args.seed, args.sr_seconds
        ),
        refit_iterations=args.refit_iterations,
        refit_popsize=args.refit_popsize,
        refit_sigma0=args.refit_sigma0,
        seed=args.seed,
        out_dir=args.out_dir,
    )
    executor = make_executor(args.executor, args.workers, args.ray_address)
    try:
        report = distill_run(run_dir, executor, settings)
    finally:
        executor.close()
    print()
    for k, sc in report["scores"].items():
        print(f"  {k:<14} {fmt_mean_se(sc['mean'], sc['se']):>14}")
    out = run_dir.path / args.out_dir
    print(f"\n  distilled objective: {out / 'distilled.yaml'}")
    print(f"  report: {out / 'report.md'}  ({report['seconds']:.0f} s)")
    return 0
