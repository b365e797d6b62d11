"""Several searches side by side: how much each trained, where its fitness went, what it found.

Why: a discovery study runs many searches (the same column twice with different search seeds, one per column,
the sequence and the per-token form of the same family) and its questions are *across* runs — does a second
search find the same loss, does the per-token form find a different one. Each run's own report answers for
one run only. Everything here is read from the run directories (checkpoint, evaluations, hall of fame); nothing
is trained, so a run still in progress can be shown too.

The held-out columns are the end-of-run re-score (``fresh_fitness``): for reading, never for choosing — a
claim about a discovered loss is ``symmpo compare``'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.search.rundir import RunDir


@dataclass(frozen=True)
class RunFacts:
    """What one run directory says about its search (``nan`` where it does not say it yet)."""

    name: str
    path: Path
    tasks: tuple[str, ...]
    grammar: str
    kind: str  # "symbolic" or "neural"
    generations: int  # asked for
    done: int  # generations finished
    finished: bool  # re-scored at the end
    candidates: int  # distinct candidates trained in the search phase (DPO, the reference, excluded)
    trainings: int  # their trainings (a task x fitness seed each)
    best_fitness: float
    reference_fitness: float
    heldout: tuple[float, float]  # rank 1's re-score: mean, s.e. over the re-score seeds
    heldout_top: float  # the best re-score among the re-scored entries
    reference_heldout: tuple[float, float]
    dead_share: float  # the trained candidates' dead φ⁻¹/ψ terms (pruning), as a share
    machines: tuple[str, ...]  # the machines its generations ran on ("unrecorded" for older generations)
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    objectives: dict[str, Any] = field(default_factory=dict, repr=False)  # "rank k" -> its objective mapping


def _mean_se(entry: Any) -> tuple[float, float]:
    if not isinstance(entry, dict):
        return (math.nan, math.nan)
    return (float(entry.get("mean", math.nan)), float(entry.get("se", math.nan)))


def read_run(path: str | Path, name: str | None = None, top: int = 3) -> RunFacts:
    """One run directory's facts; a run that has not finished a generation yet is refused with its path."""
    run = RunDir.open(path)
    config = run.read_config()
    payload = run.read_checkpoint()
    if payload is None:
        raise SymmpoError(f"{run.path}: no generation has finished yet (nothing to show)")
    state = payload["state"]
    history = list(state.get("history", []))
    search = [
        r for r in run.read_evaluations() if r.get("phase") == "search" and r.get("origin") != "reference"
    ]
    hof = run.read_hall_of_fame() if run.file("hall_of_fame.yaml").is_file() else []
    final = state.get("final") or {}  # the end-of-run re-score, DPO's included
    rescored = [e["fresh_fitness"]["mean"] for e in hof if isinstance(e.get("fresh_fitness"), dict)]
    # the hall of fame holds each entry's objective inline, so a running search shows its leaders too
    objectives = {
        f"rank {e.get('rank', i + 1)}": e["objective"] for i, e in enumerate(hof[:top]) if "objective" in e
    }
    pruning = state.get("pruning") or {}
    last = history[-1] if history else {}
    return RunFacts(
        name=name or run.path.name,
        path=run.path,
        tasks=tuple(config.tasks),
        grammar="networks"
        if config.kind == "neural"
        else (config.grammar_name or config.grammar or "mirror"),
        kind="neural" if config.kind == "neural" else "symbolic",
        generations=config.generations,
        done=int(state.get("generation", len(history))),
        finished=bool(state.get("final")),
        candidates=len({r["key"] for r in search}),
        trainings=len(search),
        best_fitness=float(last.get("hof_best", math.nan)),
        reference_fitness=float(last.get("reference", math.nan)),
        heldout=_mean_se(hof[0].get("fresh_fitness")) if hof else (math.nan, math.nan),
        heldout_top=max(rescored) if rescored else math.nan,
        reference_heldout=_mean_se(final.get("reference")),
        dead_share=_dead_share(pruning),
        machines=tuple(dict.fromkeys(str(h.get("machine") or "unrecorded") for h in history)),
        history=history,
        objectives=objectives,
    )


def _dead_share(pruning: Any) -> float:
    """The checkpoint's running count of the trained candidates' terms and dead terms."""
    if not isinstance(pruning, dict) or not pruning.get("terms"):
        return math.nan
    return pruning.get("dead", 0) / pruning["terms"]


def _num(x: float, digits: int = 1) -> str:
    return "–" if not math.isfinite(x) else f"{x:.{digits}f}"


def _pm(ms: tuple[float, float]) -> str:
    mean, se = ms
    return "–" if not math.isfinite(mean) else f"{mean:.1f} ± {se:.1f}"


def _machines(machines: Sequence[str]) -> str:
    known = [m for m in machines if m != "unrecorded"]
    if not known:
        return "not recorded"
    return str(len(known)) + (" + unrecorded" if len(known) < len(machines) else "")


def table_lines(runs: Sequence[RunFacts]) -> list[str]:
    """Markdown: one row per run — size, fitness against DPO's on the same seeds, the end-of-run re-score."""
    out = [
        "| run | tasks | grammar | generations | candidates | trainings (two-seed equiv.) | best fitness | DPO "
        "fitness | rank 1 re-scored | best re-scored | DPO re-scored | dead φ⁻¹/ψ terms | machines |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        gens = f"{r.done}/{r.generations}" + ("" if r.finished else " (running)")
        dead = "–" if not math.isfinite(r.dead_share) else f"{100 * r.dead_share:.0f} %"
        out.append(
            f"| {r.name} | {', '.join(r.tasks)} | {r.grammar} | {gens} | {r.candidates} | {r.trainings} "
            f"({r.trainings / 2:.0f}) | {_num(r.best_fitness)} | {_num(r.reference_fitness)} | {_pm(r.heldout)} | "
            f"{_num(r.heldout_top)} | {_pm(r.reference_heldout)} | {dead} | {_machines(r.machines)} |"
        )
    return out


def made_of_lines(runs: Sequence[RunFacts]) -> list[str]:
    """Markdown: the features of every run's top entries (``symmpo.objective.anatomy``) and what they share."""
    from symmpo.objective import Objective
    from symmpo.objective.anatomy import anatomy_lines

    objs = {}
    for r in runs:
        for rank, mapping in r.objectives.items():
            try:
                objs[f"{r.name} {rank}"] = Objective.from_dict(mapping, f"{r.name} {rank}")
            except SymmpoError:  # a neural run's network: it has no closed form to read
                continue
    return anatomy_lines(objs) if objs else []


def report_lines(runs: Sequence[RunFacts]) -> list[str]:
    """The whole report: the table, the reading rule, and what the top entries are made of."""
    lines = [
        "# Searches side by side",
        "",
        "Read from the run directories by `symmpo runs`; nothing was trained for this page. Candidates and "
        "trainings count the search phase without DPO, the reference trained with every generation. "
        "'Re-scored' is the end-of-run re-score on the held-out split (mean ± s.e. over its seeds): for "
        "reading, never for choosing — claims about a discovered loss come from `symmpo compare`.",
        "",
        *table_lines(runs),
    ]
    several = [r for r in runs if len(r.machines) > 1]  # an unrecorded stretch beside a recorded one counts
    if several:
        lines += [
            "",
            "Machines: the same seeds give slightly different scores on another CPU (docs/benchmark.md, "
            "Reproducibility); "
            + "; ".join(f"{r.name} ran on {', '.join(r.machines)}" for r in several)
            + ".",
        ]
    made = made_of_lines(runs)
    if made:
        lines += ["", "What each run's top entries are made of (as saved, before any tuning):", "", *made]
    return lines


def plot_runs(runs: Sequence[RunFacts], path: Path) -> None:
    """Best fitness so far per generation of every run, DPO's fitness dotted in the same colour."""
    from symmpo.search.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(runs):
        color = colors[i % len(colors)]
        gens = [h["generation"] for h in r.history]
        ax.plot(gens, [h.get("hof_best", math.nan) for h in r.history], "-", color=color, label=r.name)
        ax.plot(gens, [h.get("reference", math.nan) for h in r.history], ":", color=color)
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (normalized score)")
    ax.set_title("best so far (solid) and DPO on the same seeds (dotted)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
