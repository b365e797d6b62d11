"""``symmpo evolve``: discover a PO loss with typed GP + CMA-ES; resumable runs under ``results/<run>/``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from symmpo.commands._runs import SearchCommand, new_config, run_search, search_parser
from symmpo.errors import SymmpoError
from symmpo.report import fmt_mean_se
from symmpo.search.presets import CLAIM_SEEDS

if TYPE_CHECKING:
    from symmpo.search.config import SearchConfig
    from symmpo.search.loop import Result


def evolve_config(args: argparse.Namespace) -> SearchConfig:
    from symmpo.search.space import ObjectiveSpace
    from symmpo.symbolic.grammar import grammar_spec

    grammar = grammar_spec(args.grammar) if args.grammar else None
    config = new_config(args).override(grammar=grammar)
    # a bad grammar fails here
    return config.override(grammar_name=ObjectiveSpace.from_config(config).grammar_name)


COMMAND = SearchCommand(
    "evolve",
    "evolve",
    evolve_config,
    help="discover a preference-optimization loss (typed GP + CMA-ES on constants)",
    description="Evolve MPO objectives over a grammar. With no option besides --grammar it runs the small "
    "'default' preset (about ten minutes on two cores) and prints the best formula in LaTeX next to DPO's score "
    "on the same fresh seeds.",
)


def register(subparsers: Any) -> None:
    p = search_parser(subparsers, COMMAND, run)
    p.add_argument(
        "--grammar",
        help="a grammar file, or a shipped grammar by name: mirror, mirror.yaml, mirror_token, ta_mirror (default: mirror)",
    )


def run(args: argparse.Namespace) -> int:
    def same_grammar(config: SearchConfig) -> None:
        if args.resume and args.grammar:
            from symmpo.symbolic.grammar import grammar_spec

            if grammar_spec(args.grammar) != grammar_spec(config.grammar):
                raise SymmpoError(f"--resume: the run used grammar {config.grammar}, not {args.grammar}")

    def closing(result: Result, config: SearchConfig, seconds: float) -> str:
        return report(result.hall_of_fame, result.reference, config, seconds, result.run.read_summary())

    return run_search(args, COMMAND, closing, check=same_grammar)


def report(
    hall_of_fame: list[dict[str, Any]],
    reference: dict[str, Any],
    config: SearchConfig,
    seconds: float,
    summary: dict[str, Any] | None = None,
) -> str:
    """The closing summary: best formula in LaTeX next to DPO on the same fresh seeds, and the share of dead
    terms pruned (``summary``: the run's ``summary.json``)."""
    lines = [
        f"\nfinished in {seconds / 60:.1f} min; scores are normalized returns (D4RL-style), mean ± s.e. over "
        f"fresh seeds {reference['seeds']} on {', '.join(config.tasks)}"
    ]
    if len(reference["seeds"]) < len(CLAIM_SEEDS):
        lines.append(
            f"  ({len(reference['seeds'])} held-out seeds: indicative only; a claim needs "
            f"{len(CLAIM_SEEDS)} paired seeds: symmpo compare RUN)"
        )
    scored = [e for e in hall_of_fame if "fresh_fitness" in e]
    if not scored:
        lines.append("no candidate survived training")
        return "\n".join(lines)
    # the best entry is the search's own choice (rank 1 by search fitness), never the best held-out re-score:
    # picking by the held-out number and then reporting that number is a winner's-curse bias
    best = min(scored, key=lambda e: e["rank"])
    lines.append(
        f"  best discovered  {fmt_mean_se(best['fresh_fitness']['mean'], best['fresh_fitness']['se']):>14}   "
        f"(rank {best['rank']} by search fitness {best['search_fitness']['mean']:.1f}; "
        "the held-out column is for reading, not for choosing)"
    )
    lines.append(
        f"  DPO (β={config.reference.get('beta')})      {fmt_mean_se(reference['mean'], reference['se']):>14}"
    )
    lines.append(f"\n  formula: {best['formula']}")
    if "validity" in best:
        lines.append(f"  validity: {best['validity']['status']}")
    lines.append(f"  LaTeX:   {best['latex']}")
    lines.append("\n  hall of fame (fresh seeds):")
    for e in scored:
        status = f"[{e['validity']['status']}]  " if "validity" in e else ""
        lines.append(
            f"    #{e['rank']}  {fmt_mean_se(e['fresh_fitness']['mean'], e['fresh_fitness']['se']):>14}  "
            f"size {e['size']:>2}  {status}{e['formula']}"
        )
    if summary and "pruning" in summary:
        lines.append(pruning_line(summary["pruning"]))
    return "\n".join(lines)


def pruning_line(pruning: dict[str, Any]) -> str:
    """How many additive terms of φ⁻¹ and ψ did nothing on the log-probabilities the trainings saw."""
    c, h = pruning["candidates"], pruning["hall_of_fame"]
    kept = f", {h['kept_for_validity']} dead kept for validity" if h["kept_for_validity"] else ""
    return (
        f"\n  dead terms (share of value and gradient ≤ {pruning['threshold']:g} on the log-probabilities that "
        f"occurred; docs/search.md):\n    trained candidates {c['dead']} of {c['terms']} terms of φ⁻¹, ψ "
        f"({100 * c['dead_share']:.1f} %) · hall of fame {h['pruned']} of {h['terms']} pruned "
        f"({100 * h['pruned_share']:.1f} %){kept}"
    )
