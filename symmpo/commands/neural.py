"""``symmpo evolve-neural``: CMA-ES over monotone-network components; same presets, seeds, executors and
run directories as ``symmpo evolve``. Distil the result with ``symmpo distill RUN``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from symmpo.commands._runs import SearchCommand, new_config, run_search, search_parser
from symmpo.report import fmt_mean_se

if TYPE_CHECKING:
    from symmpo.search.config import SearchConfig
    from symmpo.search.loop import Result, Search


_NEURAL_FLAGS = ("phi_hidden", "g_hidden", "psi", "tau", "beta", "reduce", "sigma0", "init_seed", "sft")


def _new_config(args: argparse.Namespace) -> SearchConfig:
    from symmpo.neural.es import neural_config

    return neural_config(new_config(args), **{k: getattr(args, k) for k in _NEURAL_FLAGS})


COMMAND = SearchCommand(
    "evolve-neural",
    "neural",
    _new_config,
    help="learn phi_inv and g as monotone networks with CMA-ES (then: symmpo distill RUN)",
    description="Evolve the weights of neural MPO components (valid by construction) with CMA-ES (separable "
    "above 20 parameters). Presets, seeds, executors, run directories and --resume are those of symmpo evolve; "
    "population = CMA-ES population size.",
    fixed=_NEURAL_FLAGS,
    population_help="CMA-ES population size",
)


def register(subparsers: Any) -> None:
    p = search_parser(subparsers, COMMAND, run)
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
    p.add_argument(
        "--sft",
        action="store_true",
        default=None,
        help="also learn an imitation (NLL) weight w_sft = softplus(θ) ≥ 0, started at 0.05, as the grammar's "
        "objectives have one",
    )


def run(args: argparse.Namespace) -> int:
    return run_search(args, COMMAND, report, sizes=_sizes)


def _sizes(config: SearchConfig, search: Search) -> str:
    size = search.representation.arch.size  # type: ignore[attr-defined]
    return (
        f"CMA-ES population {config.population} · generations {config.generations} · {size} weights "
        f"({'separable' if size > 20 else 'full'} covariance)"
    )


def report(result: Result, config: SearchConfig, seconds: float) -> str:
    """The closing summary: each re-scored network next to DPO on the same fresh seeds, and how to distil them."""
    reference, path = result.reference, result.run.path
    lines = [
        f"\nfinished in {seconds / 60:.1f} min; normalized scores, mean ± s.e. over fresh seeds "
        f"{reference['seeds']} on {', '.join(config.tasks)}"
    ]
    for e in result.hall_of_fame:
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
