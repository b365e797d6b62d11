"""``symmpo evolve-neural``: CMA-ES over monotone-network components; same presets, seeds, executors and
run directories as ``symmpo evolve``. Distil the result with ``symmpo distill RUN``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symmpo.commands._runs import add_run_arguments, drive, new_config, open_run
from symmpo.report import fmt_mean_se

if TYPE_CHECKING:
    from symmpo.search.config import SearchConfig


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evolve-neural",
        help="learn phi_inv and g as monotone networks with CMA-ES (then: symmpo distill RUN)",
        description="Evolve the weights of neural MPO components (valid by construction) with CMA-ES "
        "(separable above 20 parameters). Presets, seeds, executors, run directories and --resume are those of "
        "symmpo evolve; population = CMA-ES population size.",
    )
    add_run_arguments(p, "neural", population_help="CMA-ES population size")
    p.add_argument(
        "--phi-hidden", type=int, nargs="+", help="hidden widths of the phi_inv network (default: 8)"
    )
    p.add_argument("--g-hidden", type=int, nargs="+", help="hidden widths of the g network (default: 8)")
    p.add_argument(
        "--psi", choices=("tied", "zero", "free"), help="psi = phi_inv (default), 0, or its own network"
    )
    p.add_argument(
        "--tau", action="store_true", default=None, help="temporally aware: networks also read tau"
    )
    p.add_argument("--beta", type=float, help="beta of the implicit reward (default 0.1)")
    p.add_argument("--reduce", choices=("sum", "mean"), help="log-likelihood reduction (default sum)")
    p.add_argument("--sigma0", type=float, help="CMA-ES initial step size on the raw weights (default 0.3)")
    p.add_argument("--init-seed", type=int, help="seed of the deterministic initial weights (default 0)")
    p.set_defaults(func=run)


_NEURAL_FLAGS = ("phi_hidden", "g_hidden", "psi", "tau", "beta", "reduce", "sigma0", "init_seed")


def _new_config(args: argparse.Namespace) -> SearchConfig:
    from symmpo.neural.es import neural_config

    return neural_config(new_config(args), **{k: getattr(args, k) for k in _NEURAL_FLAGS})


def run(args: argparse.Namespace) -> int:
    from symmpo.strategies import open_search

    run_dir, config = open_run(args, "evolve-neural", "neural", _new_config, fixed=_NEURAL_FLAGS)

    def body(executor: Any) -> str:
        t0 = time.perf_counter()
        evo = open_search(config, run_dir, executor, progress=not args.no_progress)
        size = evo.representation.arch.size
        print(
            f"tasks {', '.join(config.tasks)} · seeds {list(config.seeds)} · CMA-ES population "
            f"{config.population} · generations {config.generations} · {size} weights "
            f"({'separable' if size > 20 else 'full'} covariance) · executor {executor.name} × "
            f"{executor.workers}"
        )
        result = evo.run()
        return report(result.hall_of_fame, result.reference, config, time.perf_counter() - t0, run_dir.path)

    return drive(args, "evolve-neural", run_dir, body)


def report(
    entries: list[dict[str, Any]],
    reference: dict[str, Any],
    config: SearchConfig,
    seconds: float,
    path: Path,
) -> str:
    lines = [
        f"\nfinished in {seconds / 60:.1f} min; normalized scores, mean ± s.e. over fresh seeds "
        f"{reference['seeds']} on {', '.join(config.tasks)}"
    ]
    for e in entries:
        if "fresh_fitness" in e:
            f = e["fresh_fitness"]
            lines.append(
                f"  neural #{e['rank']}  {fmt_mean_se(f['mean'], f['se']):>14}   (search fitness "
                f"{e['search_fitness']['mean']:.1f}, generation {e['generation']})  {path / e['file']}"
            )
    lines.append(
        f"  DPO (β={config.reference.get('beta')})  {fmt_mean_se(reference['mean'], reference['se']):>14}"
    )
    lines.append(f"\n  distil into formulas: symmpo distill {path}")
    return "\n".join(lines)
