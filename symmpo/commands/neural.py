"""``symmpo evolve-neural``: CMA-ES over monotone-network components; same presets, seeds, executors and
run directories as ``symmpo evolve``. Distil the result with ``symmpo distill RUN``."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError


def register(subparsers: Any) -> None:
    from symmpo.search.executors import EXECUTORS
    from symmpo.search.presets import PRESETS

    p = subparsers.add_parser(
        "evolve-neural",
        help="learn phi_inv and g as monotone networks with CMA-ES (then: symmpo distill RUN)",
        description="Evolve the weights of neural MPO components (valid by construction) with CMA-ES "
        "(separable above 20 parameters). Presets, seeds, executors, run directories and --resume are those of "
        "symmpo evolve; population = CMA-ES population size.",
    )
    p.add_argument("--preset", default=None, choices=sorted(PRESETS), help="search configuration (default: default)")
    p.add_argument("--task", action="append", dest="tasks", metavar="TASK", help="fitness task (repeatable)")
    p.add_argument("--generations", type=int)
    p.add_argument("--population", type=int, help="CMA-ES population size")
    p.add_argument("--seeds", type=int, nargs="+", help="training seeds of the fitness")
    p.add_argument("--rescore-seeds", type=int, nargs="+", help="fresh seeds for the final scores")
    p.add_argument("--search-seed", type=int, dest="seed", help="seed of CMA-ES's sampling")
    p.add_argument("--phi-hidden", type=int, nargs="+", help="hidden widths of the phi_inv network (default: 8)")
    p.add_argument("--g-hidden", type=int, nargs="+", help="hidden widths of the g network (default: 8)")
    p.add_argument("--psi", choices=("tied", "zero", "free"), help="psi = phi_inv (default), 0, or its own network")
    p.add_argument("--tau", action="store_true", default=None, help="temporally aware: networks also read tau")
    p.add_argument("--beta", type=float, help="beta of the implicit reward (default 0.1)")
    p.add_argument("--reduce", choices=("sum", "mean"), help="log-likelihood reduction (default sum)")
    p.add_argument("--sigma0", type=float, help="CMA-ES initial step size on the raw weights (default 0.3)")
    p.add_argument("--init-seed", type=int, help="seed of the deterministic initial weights (default 0)")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="where trainings run (default: local)")
    p.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    p.add_argument("--ray-address", help="address of a running Ray cluster (with --executor ray)")
    p.add_argument("--resume", metavar="RUN", help="continue a neural run (its name under --results or a path)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: results/neural-<preset>-<time>)")
    p.add_argument("--results", default="results", help="where run names are looked up (default: results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    p.set_defaults(func=run)


_NEURAL_FLAGS = ("phi_hidden", "g_hidden", "psi", "tau", "beta", "reduce", "sigma0", "init_seed")


def _config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from symmpo.neural.es import neural_config
    from symmpo.search.presets import apply_overrides, preset_config

    config = apply_overrides(
        preset_config(args.preset or "default"),
        tasks=args.tasks,
        generations=args.generations,
        population=args.population,
        seeds=args.seeds,
        rescore_seeds=args.rescore_seeds,
        seed=args.seed,
    )
    return neural_config(config, **{k: getattr(args, k) for k in _NEURAL_FLAGS})


def run(args: argparse.Namespace) -> int:
    from symmpo.neural.es import NeuralEvolution
    from symmpo.search.executors import make_executor
    from symmpo.search.presets import apply_overrides
    from symmpo.search.rundir import RunDir, resolve_run

    if args.resume:
        given = [k for k in ("preset", "tasks", "population", "seeds", "rescore_seeds", "seed", *_NEURAL_FLAGS)
                 if getattr(args, k) is not None]
        if given:
            raise SymmpoError("--resume continues a run with its own configuration; only --generations may change "
                              f"(got --{given[0].replace('_', '-')})")
        run_dir = resolve_run(args.resume, args.results)
        config = run_dir.read_config()
        if args.generations is not None:
            config = apply_overrides(config, generations=args.generations)
            run_dir.write_config(config)
    else:
        config = _config_from_args(args)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else Path(args.results) / f"neural-{config['preset']}-{stamp}"
        run_dir = RunDir.create(out, config)
    executor = make_executor(args.executor, args.workers, args.ray_address)
    print(f"run directory: {run_dir.path}  (resume with: symmpo evolve-neural --resume {run_dir.path})")
    t0 = time.perf_counter()
    try:
        evo = NeuralEvolution(config, run_dir, executor, progress=not args.no_progress)
        print(f"tasks {', '.join(config['tasks'])} · seeds {config['seeds']} · CMA-ES population "
              f"{config['population']} · generations {config['generations']} · {evo.arch.size} weights "
              f"({'separable' if evo.arch.size > 20 else 'full'} covariance) · executor {executor.name} × "
              f"{executor.workers}")
        final = evo.run()
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last completed generation is saved; resume with "
              f"symmpo evolve-neural --resume {run_dir.path}")
        return 130
    finally:
        executor.close()
    print(report(evo.hall_of_fame_entries(), final["reference"], config, time.perf_counter() - t0, run_dir.path))
    return 0


def _fmt(mean: float, se: float) -> str:
    if not math.isfinite(mean):
        return "diverged"
    return f"{mean:.1f} ± {se:.1f}" if math.isfinite(se) else f"{mean:.1f}"


def report(entries: list[dict[str, Any]], reference: dict[str, Any], config: dict[str, Any], seconds: float,
           path: Path) -> str:
    lines = [f"\nfinished in {seconds / 60:.1f} min; normalized scores, mean ± s.e. over fresh seeds "
             f"{reference['seeds']} on {', '.join(config['tasks'])}"]
    for e in entries:
        if "fresh_fitness" in e:
            f = e["fresh_fitness"]
            lines.append(f"  neural #{e['rank']}  {_fmt(f['mean'], f['se']):>14}   (search fitness "
                         f"{e['search_fitness']['mean']:.1f}, generation {e['generation']})  {path / e['file']}")
    lines.append(f"  DPO (β={config['reference'].get('beta')})  {_fmt(reference['mean'], reference['se']):>14}")
    lines.append(f"\n  distil into formulas: symmpo distill {path}")
    return "\n".join(lines)
