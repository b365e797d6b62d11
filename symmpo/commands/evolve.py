"""``symmpo evolve``: discover a PO loss with typed GP + CMA-ES; resumable runs under ``results/<run>/``."""

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
        "evolve",
        help="discover a preference-optimization loss (typed GP + CMA-ES on constants)",
        description="Evolve MPO objectives over a grammar. With no option besides --grammar it runs the small "
        "'default' preset (about ten minutes on two cores) and prints the best formula in LaTeX next to DPO's "
        "score on the same fresh seeds.",
    )
    p.add_argument("--grammar", help="grammar YAML (default: the preset's, grammars/mirror.yaml)")
    p.add_argument("--preset", default=None, choices=sorted(PRESETS), help="search configuration (default: default)")
    p.add_argument("--task", action="append", dest="tasks", metavar="TASK",
                   help="fitness task, e.g. hopper-noisy-0.2 (repeat for a multi-task fitness)")
    p.add_argument("--generations", type=int)
    p.add_argument("--population", type=int)
    p.add_argument("--seeds", type=int, nargs="+", help="training seeds of the fitness (shared by all candidates)")
    p.add_argument("--rescore-seeds", type=int, nargs="+", help="fresh seeds for the final hall-of-fame scores")
    p.add_argument("--search-seed", type=int, dest="seed", help="seed of the search's own random choices")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="where trainings run (default: local)")
    p.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    p.add_argument("--ray-address", help="address of a running Ray cluster (with --executor ray)")
    p.add_argument("--resume", metavar="RUN", help="continue a run (its name under --results or a path)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: results/evolve-<preset>-<time>)")
    p.add_argument("--results", default="results", help="where run names are looked up (default: results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    p.set_defaults(func=run)


def _config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from symmpo.search.presets import apply_overrides, preset_config

    config = preset_config(args.preset or "default")
    return apply_overrides(
        config,
        grammar=args.grammar,
        tasks=args.tasks,
        generations=args.generations,
        population=args.population,
        seeds=args.seeds,
        rescore_seeds=args.rescore_seeds,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    from symmpo.search.evolve import Evolution
    from symmpo.search.executors import make_executor
    from symmpo.search.presets import apply_overrides
    from symmpo.search.rundir import RunDir, resolve_run
    from symmpo.search.space import ObjectiveSpace

    if args.resume:
        if args.preset or args.tasks or args.population or args.seeds or args.rescore_seeds or args.seed is not None:
            raise SymmpoError("--resume continues a run with its own configuration; only --generations may change")
        run_dir = resolve_run(args.resume, args.results)
        config = run_dir.read_config()
        if args.grammar and args.grammar != config["grammar"]:
            raise SymmpoError(f"--resume: the run used grammar {config['grammar']}, not {args.grammar}")
        if args.generations is not None:
            config = apply_overrides(config, generations=args.generations)
            run_dir.write_config(config)
    else:
        config = _config_from_args(args)
        out = Path(args.out) if args.out else Path(args.results) / f"evolve-{config['preset']}-{time.strftime('%Y%m%d-%H%M%S')}"
        space = ObjectiveSpace.from_config(config)  # refuse a bad grammar before creating the directory
        config["grammar_name"] = space.grammar_name
        run_dir = RunDir.create(out, config)
    space = ObjectiveSpace.from_config(config)
    executor = make_executor(args.executor, args.workers, args.ray_address)
    print(f"run directory: {run_dir.path}  (resume with: symmpo evolve --resume {run_dir.path})")
    print(f"tasks {', '.join(config['tasks'])} · seeds {config['seeds']} · population {config['population']} · "
          f"generations {config['generations']} · executor {executor.name} × {executor.workers}")
    t0 = time.perf_counter()
    try:
        result = Evolution(config, run_dir, space, executor, progress=not args.no_progress).run()
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last completed generation is saved; resume with "
              f"symmpo evolve --resume {run_dir.path}")
        return 130
    finally:
        executor.close()
    print(report(result.hall_of_fame, result.reference, config, time.perf_counter() - t0))
    return 0


def _fmt(mean: float, se: float) -> str:
    if not math.isfinite(mean):
        return "diverged"
    return f"{mean:.1f} ± {se:.1f}" if math.isfinite(se) else f"{mean:.1f}"


def report(hall_of_fame: list[dict[str, Any]], reference: dict[str, Any], config: dict[str, Any], seconds: float) -> str:
    """The closing summary: best formula in LaTeX next to DPO on the same fresh seeds."""
    lines = [f"\nfinished in {seconds / 60:.1f} min; scores are normalized returns (D4RL-style), mean ± s.e. over "
             f"fresh seeds {reference['seeds']} on {', '.join(config['tasks'])}"]
    scored = [e for e in hall_of_fame if "fresh_fitness" in e]
    if not scored:
        lines.append("no candidate survived training")
        return "\n".join(lines)
    best = max(scored, key=lambda e: (e["fresh_fitness"]["mean"], -e["size"]))
    lines.append(f"  best discovered  {_fmt(best['fresh_fitness']['mean'], best['fresh_fitness']['se']):>14}   "
                 f"(search fitness {best['search_fitness']['mean']:.1f}, rank {best['rank']})")
    lines.append(f"  DPO (β={config['reference'].get('beta')})      {_fmt(reference['mean'], reference['se']):>14}")
    lines.append(f"\n  formula: {best['formula']}")
    lines.append(f"  LaTeX:   {best['latex']}")
    lines.append("\n  hall of fame (fresh seeds):")
    for e in scored:
        lines.append(f"    #{e['rank']}  {_fmt(e['fresh_fitness']['mean'], e['fresh_fitness']['se']):>14}  "
                     f"size {e['size']:>2}  {e['formula']}")
    return "\n".join(lines)
