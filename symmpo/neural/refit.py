"""Distilling a neural run end to end: fit formulas, refit their constants against fitness, score, write.

Constant refit and scoring reuse the search's machinery: :class:`~symmpo.search.cmaes.ConstantSearch`
(replayable CMA-ES on raw constants), fitness jobs through the run's executor
(:func:`symmpo.search.jobs.train_objectives`, summarized per seed like the search's re-score), and the
run's own tasks, fitness seeds, held-out re-score split and training configuration. The neural loss, the distilled loss before and after
the refit, and DPO are scored on the same fresh seeds, trained together (common random numbers).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.files import atomic_write_text, dump_yaml
from symmpo.neural import sr
from symmpo.neural.components import objective_from_any
from symmpo.neural.distill import ComponentFit, distill_component, distilled_objective, objective_valid
from symmpo.neural.es import load_best
from symmpo.objective import Objective
from symmpo.report import fmt_mean_se
from symmpo.search.config import SearchConfig
from symmpo.search.executors import Executor
from symmpo.search.jobs import seed_summary, train_objectives
from symmpo.search.rundir import RunDir
from symmpo.train.config import TrainConfig

OUT_DIR = "distill"


@dataclass
class DistillSettings:
    backend: str = "operon"
    rank: int = 1
    r2_target: float = 0.999
    z_max: float = 10.0
    sr: sr.SRSettings = sr.SRSettings()
    refit_iterations: int = 4
    refit_popsize: int = 6
    refit_sigma0: float = 0.1
    seed: int = 0
    # the folder under the run: a second distillation with other settings keeps the first
    out_dir: str = OUT_DIR


def score(
    dicts: list[dict[str, Any]],
    config: SearchConfig,
    seeds: list[int],
    executor: Executor,
    train: TrainConfig | None = None,
) -> list[dict[str, Any]]:
    """Train objective dicts (neural or symbolic) together on the run's tasks × ``seeds`` (fitness config
    unless ``train``); per objective mean ± s.e. over seeds, and ``occurring`` (the sketches of the
    log-probabilities each training saw, per task/seed) for dead-term pruning."""
    results = train_objectives(
        executor,
        dicts,
        config.tasks,
        seeds,
        train or config.train,
        max(len(dicts), 1),
        load=objective_from_any,
    )
    return [{**seed_summary(res, config.tasks, seeds), "occurring": res["occurring"]} for res in results]


def prune_distilled(obj: Objective, occurring: dict[str, Any]) -> tuple[Objective, dict[str, Any]]:
    """The search's dead-term pruning (:mod:`symmpo.objective.prune`) applied to a distilled loss, on the
    log-probabilities its own fitness trainings saw: regression fits φ⁻¹ on p ∈ [10⁻⁶, 1], where a c·p term
    matters, but under ``reduce: sum`` the summed log-probabilities that occur make it 0, and a printed formula
    should not carry it. Returns the pruned objective and what was done."""
    from symmpo.objective import prune as pruning

    def check(o: Any) -> str | None:
        ok, why = objective_valid(o)
        return None if ok else "; ".join(why)

    done = pruning.prune(obj, pruning.sample_of(occurring.values()), check=check)
    return done.objective, {  # type: ignore[return-value]
        "threshold": pruning.THRESHOLD,
        "trainings": sorted(occurring),
        "terms": done.terms,
        "pruned": done.pruned,
        "kept_for_validity": done.kept,
        "branches_settled": done.branches,
        "notes": list(done.notes),
    }


def refit_constants(
    obj: Objective, config: SearchConfig, executor: Executor, s: DistillSettings
) -> tuple[Objective, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """CMA-ES on the raw constants against the run's fitness; returns the best objective, the history and the
    log-probability sketches of the unrefitted and of the best objective's trainings (``before``, ``best``).

    The unrefitted objective is evaluated first and kept unless a refit candidate beats it. Candidates that
    fail the validity checker get −inf without training.
    """
    from symmpo.search.cmaes import ConstantSearch

    seeds = list(config.seeds)
    x0 = obj.constant_vector()
    first = score([obj.to_dict()], config, seeds, executor)[0]
    base = first["mean"]
    history = [{"iteration": 0, "fitness": [base], "valid": [True]}]
    best, best_f = obj, base
    seen = {"before": first["occurring"], "best": first["occurring"]}
    if s.refit_iterations <= 0 or x0.size == 0:
        return best, history, seen
    bound = max(8.0, 2.0 * float(np.max(np.abs(x0))))
    search = ConstantSearch(
        "distilled", obj.to_dict(), x0.tolist(), s.refit_sigma0, s.refit_popsize, s.seed, bound
    )
    rng = np.random.default_rng(s.seed)
    for it in range(1, s.refit_iterations + 1):
        asked = search.ask(int(rng.integers(2**31)))
        cands = [obj.with_constant_vector(x) for x in asked]
        valid = [objective_valid(c)[0] for c in cands]
        todo = [c.to_dict() for c, v in zip(cands, valid, strict=True) if v]
        scores = iter(score(todo, config, seeds, executor) if todo else [])
        results = [next(scores) if v else None for v in valid]
        fitness = [r["mean"] if r is not None else -math.inf for r in results]
        search.tell(fitness)
        history.append({"iteration": it, "fitness": fitness, "valid": valid})
        for c, f, r in zip(cands, fitness, results, strict=True):
            if r is not None and math.isfinite(f) and f > best_f:
                best, best_f, seen["best"] = c, f, r["occurring"]
    return best, history, seen


def distill_run(run: RunDir, executor: Executor, s: DistillSettings, log: Any = print) -> dict[str, Any]:
    """Distil the run's ``rank``-th network; writes ``<run>/distill/`` and returns the report dict."""
    t0 = time.perf_counter()
    config = run.read_config()
    neural, entry = load_best(run, s.rank)
    arch = neural.arch
    fits: dict[str, ComponentFit] = {}
    for comp, c in neural.components().items():
        t1 = time.perf_counter()
        fits[comp] = distill_component(c.torch_fn, comp, arch.tau, s.backend, s.sr, s.r2_target, s.z_max)
        f = fits[comp].chosen
        log(
            f"{comp}: {f.formula}   R² {f.fidelity['r2']:.6f} (worst grid {f.fidelity['score']:.6f}), "
            f"size {f.complexity}, {len(fits[comp].candidates)} candidates, {time.perf_counter() - t1:.1f} s"
        )
    sr_obj = distilled_objective(fits, arch, "distilled-sr", arch.sft_weight(neural.theta))
    ok, why = objective_valid(sr_obj)
    if not ok:  # each component was checked; this guards the assembly
        raise RuntimeError(f"distilled objective failed the checker: {why}")
    log(
        f"refitting constants with CMA-ES ({s.refit_iterations} iterations × {s.refit_popsize}) on seeds "
        f"{list(config.seeds)} ..."
    )
    refit, history, seen = refit_constants(sr_obj, config, executor, s)
    # printed and exported losses carry no dead terms (the search's rule), each judged on its own trainings
    sr_obj, sr_pruning = prune_distilled(sr_obj, seen["before"])
    refit, pruning = prune_distilled(refit.renamed("distilled"), seen["best"])
    for name, done in (("distilled_sr", sr_pruning), ("distilled", pruning)):
        log(
            f"{name}: {done['pruned']} of {done['terms']} φ⁻¹/ψ terms dead on its trainings' log-probabilities, pruned"
        )
    rescore = list(config.rescore_seeds)
    dpo = config.reference.objective()
    log(f"scoring neural, distilled (before/after refit) and {dpo.name} held out, seeds {rescore} ...")
    scores = score(
        [neural.to_dict(), sr_obj.to_dict(), refit.to_dict(), dpo.to_dict()],
        config,
        rescore,
        executor,
        config.heldout_train,
    )
    run.file(s.out_dir).mkdir(parents=True, exist_ok=True)
    sr_obj.save(run.file(s.out_dir, "distilled_sr.yaml"))
    refit.save(run.file(s.out_dir, "distilled.yaml"))
    report = {
        "run": str(run.path),
        "neural": {
            "file": entry["file"],
            "rank": s.rank,
            "n_params": int(neural.theta.size),
            "search_fitness": entry.get("search_fitness"),
        },
        "backend": s.backend,
        "settings": {
            "r2_target": s.r2_target,
            "z_max": s.z_max,
            "sr": vars(s.sr),
            "refit_iterations": s.refit_iterations,
            "refit_popsize": s.refit_popsize,
            "refit_sigma0": s.refit_sigma0,
            "seed": s.seed,
            "out_dir": s.out_dir,
        },
        "components": {
            k: {"chosen": f.chosen.to_dict(), "candidates": [c.to_dict() for c in f.candidates]}
            for k, f in fits.items()
        },
        "objectives": {"distilled_sr": sr_obj.to_dict(), "distilled": refit.to_dict()},
        "latex": {"loss": refit.latex(), **{k: v for k, v in refit.component_latex().items() if k in fits}},
        "refit_history": history,
        "pruning": {"distilled_sr": sr_pruning, "distilled": pruning},
        "scores": {
            k: {f: v for f, v in sc.items() if f != "occurring"}
            for k, sc in zip(("neural", "distilled_sr", "distilled", dpo.name), scores, strict=True)
        },
        "tasks": list(config.tasks),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    atomic_write_text(run.file(s.out_dir, "report.yaml"), dump_yaml(_plain(report)))
    atomic_write_text(run.file(s.out_dir, "report.md"), markdown(report))
    _plot(neural, refit, run.file(s.out_dir, "components.png"), s.z_max)
    return report


def _plain(x: Any) -> Any:
    """YAML-safe copy (no aliases, floats as floats)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Distillation of {report['neural']['file']} ({report['backend']})",
        "",
        "| component | formula | R² | R² (worst grid) | max abs err | size |",
        "|---|---|---|---|---|---|",
    ]
    for k, c in report["components"].items():
        ch = c["chosen"]
        fd = ch["fidelity"]
        lines.append(
            f"| {k} | `{ch['formula']}` | {fd['r2']:.6f} | {fd['score']:.6f} | {fd['max_abs_err']:.3g} | "
            f"{ch['complexity']} |"
        )
    lines += [
        "",
        f"g sampled on [−{report['settings']['z_max']:g}, {report['settings']['z_max']:g}]. "
        f"Normalized scores on fresh seeds {next(iter(report['scores'].values()))['seeds']} "
        f"({', '.join(report['tasks'])}), mean ± s.e. over seeds:",
        "",
        "| loss | score |",
        "|---|---|",
    ]
    for k, sc in report["scores"].items():
        lines.append(f"| {k} | {fmt_mean_se(sc['mean'], sc['se'])} |")
    for k, done in report.get("pruning", {}).items():
        lines += [
            "",
            f"Dead terms of {k} (the search's rule: value and gradient share ≤ {done['threshold']:g} on the "
            f"log-probabilities its {len(done['trainings'])} fitness trainings saw): {done['pruned']} of "
            f"{done['terms']} φ⁻¹/ψ terms pruned" + "".join(f"; {n}" for n in done["notes"]) + ".",
        ]
    lines += ["", "Distilled objective (after constant refit and pruning): `distill/distilled.yaml`", ""]
    for k, tex in report["latex"].items():
        if k != "loss":
            lines.append(f"* {k}: $${tex}$$")
    lines.append("")
    return "\n".join(lines)


def _plot(neural: Any, distilled: Objective, path: Path, z_max: float = 10.0) -> None:
    """Learned components (solid) against their distilled formulas (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from symmpo.neural.distill import evaluate_tree

    comps = neural.components()
    fig, axes = plt.subplots(1, len(comps), figsize=(4.5 * len(comps), 3.6))
    for ax, (k, c) in zip(np.atleast_1d(axes), comps.items(), strict=True):
        x = np.linspace(-z_max, z_max, 300) if k == "g" else np.log(np.logspace(-4, 0, 300))
        tau = np.zeros_like(x)
        with torch.no_grad():
            y = c.torch_fn(
                torch.as_tensor(x, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
            ).numpy()
        yd = evaluate_tree(distilled.components[k], k, x, tau)
        xs = x if k == "g" else np.exp(x)
        ax.plot(xs, y, "-", label="neural")
        ax.plot(xs, yd, "--", label="distilled")
        if k != "g":
            ax.set_xscale("log")
        ax.set_title(k)
        ax.set_xlabel("z" if k == "g" else "p")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
