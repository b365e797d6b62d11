"""The choice per column on the fitness split: each loss's best grid point, the column's best baseline and the
choices on the edge of the grid. One rule for every suite and for ``symmpo compare --tune``, so a table is
never tuned one way in one study and another way in the next."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from symmpo.stats import mean_se
from symmpo.studies.members import BASELINES, anchor_factor_of, factor_of, scale_param


def choice_of(row: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters a stored row was trained with (what a sweep chooses)."""
    return {"params": row["params"], "lr": row.get("lr")}


@dataclass(frozen=True)
class Column:
    """One column's sweep: the rows per grid point (``by_label``, in the order they were stored), each loss's
    chosen point and its mean fitness score, and the losses whose choice lies on an edge of the grid."""

    by_label: dict[str, list[dict[str, Any]]]
    chosen: dict[str, dict[str, Any]]  # loss -> {"params": ..., "lr": ...}
    label: dict[str, str]  # loss -> the label of its chosen grid point
    fitness: dict[str, float]
    edges: list[str]

    def best(self) -> str:
        """The loss with the best chosen score (the first of equals)."""
        return max(self.fitness, key=lambda n: self.fitness[n])


def choose(
    rows: Sequence[dict[str, Any]],
    key: Callable[[dict[str, Any]], str] = lambda r: r["objective"],
    n_seeds: int | None = None,
    factors: Sequence[float] = (),
    lrs: Sequence[float] = (),
    anchors: Sequence[float] = (),
) -> Column:
    """Per loss (``key`` of a row), the grid point with the best mean score over seeds (a point that diverged
    on any seed scores −inf; with ``n_seeds``, so does a point missing a seed). A choice at the first or last
    of ``factors`` (scale parameter), ``lrs`` or ``anchors`` (NLL weight, when swept) is on an edge."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["label"]].append(r)
    chosen: dict[str, dict[str, Any]] = {}
    fit: dict[str, float] = {}
    row_of: dict[str, dict[str, Any]] = {}
    for rs in by.values():
        name = key(rs[0])
        m = mean_se([r["score"] for r in rs])[0]
        if n_seeds is not None and len(rs) != n_seeds:
            m = float("-inf")
        if name not in fit or m > fit[name]:
            fit[name], chosen[name], row_of[name] = m, choice_of(rs[0]), rs[0]
    edges = []
    for name, row in row_of.items():
        scaled = scale_param(row["objective"]) is not None if factors else False
        anchored = len(anchors) > 1 and anchor_factor_of(row) in (anchors[0], anchors[-1])
        if (
            (scaled and factor_of(row) in (factors[0], factors[-1]))
            or (lrs and row.get("lr") in (lrs[0], lrs[-1]))
            or anchored
        ):
            edges.append(name)
    return Column(dict(by), chosen, {n: r["label"] for n, r in row_of.items()}, fit, edges)


@dataclass(frozen=True)
class Sweep:
    """A whole sweep: per column, each loss's choice, the fitness scores (the reference's included), the
    column's best baseline and the choices on an edge; ``lines`` is the markdown of every column."""

    chosen: dict[str, dict[str, dict[str, Any]]]
    fitness: dict[str, dict[str, float]]
    best: dict[str, str]
    edges: dict[str, list[str]]
    seeds: list[int]
    lines: list[str]

    def summary(self, config_hash: str) -> dict[str, Any]:
        """What ``sweep.json`` holds."""
        return {
            "config": config_hash,
            "seeds": self.seeds,
            "params": self.chosen,
            "fitness": self.fitness,
            "best_baseline": self.best,
            "edges": self.edges,
        }


def sweep_columns(rows: Sequence[dict[str, Any]], reference: str, tasks: Sequence[str]) -> Sweep:
    """Choose per column of ``tasks`` (in that order) from a sweep's rows; ``reference`` labels the rows of the
    model every run starts from (scored for comparison and eligible as the column's best, never tuned)."""
    from symmpo.report import fmt_mean_se
    from symmpo.studies.members import fmt_scale

    ref = [r for r in rows if r["label"] == reference]
    rows = [r for r in rows if r["label"] != reference]
    lrs = sorted({r["lr"] for r in rows if r.get("lr") is not None})
    factors = sorted({factor_of(r) for r in rows})
    anchors = sorted({a for r in rows if (a := anchor_factor_of(r)) is not None})
    chosen: dict[str, dict[str, dict[str, Any]]] = {}
    fit: dict[str, dict[str, float]] = {}
    best: dict[str, str] = {}
    edges: dict[str, list[str]] = {}
    lines: list[str] = []
    for task in tasks:
        col = choose([r for r in rows if r["task"] == task], factors=factors, lrs=lrs, anchors=anchors)
        chosen[task], fit[task], edges[task] = col.chosen, dict(col.fitness), col.edges
        task_ref = [r["score"] for r in ref if r["task"] == task]
        if task_ref:
            fit[task][reference] = mean_se(task_ref)[0]
        best[task] = max(fit[task], key=lambda n, t=task: fit[t][n])
        lines += ["", f"## {task}", "", "| baseline | value | lr | score |", "|---|---|---|---|"]
        for rs in col.by_label.values():
            name = rs[0]["objective"]
            m, se = mean_se([r["score"] for r in rs])
            mark = "**" if choice_of(rs[0]) == chosen[task][name] else ""
            lr = rs[0].get("lr")
            lines.append(
                f"| {name} | {fmt_scale(name, rs[0]['params'])} | {'' if lr is None else f'{lr:g}'} | "
                f"{mark}{fmt_mean_se(m, se)}{mark} |"
            )
        if task_ref:
            lines.append(f"| {reference} (reference) | | | {fmt_mean_se(*mean_se(task_ref))} |")
        lines += ["", f"Best baseline (fitness): **{best[task]}**."]
        if edges[task]:
            lines.append(f"On an edge of the grid: {', '.join(sorted(edges[task]))}.")
    seeds = sorted({r["seed"] for r in rows})
    return Sweep(chosen, fit, best, edges, seeds, lines)


def of_choices(
    rows: Sequence[dict[str, Any]], choices: Callable[[str], dict[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The rows without those of a baseline trained at hyperparameters its sweep no longer chooses, where the
    column also holds its rows at the current choice.

    Why: rows are keyed by their hyperparameters, so after a re-sweep (a wider grid) the comparison trains the
    new choice and keeps the old rows; a table that read both would mix two settings under one label. A
    baseline none of whose rows match (a table made under an older rule, e.g. suite v2's per-environment
    Walker2d sweep) keeps them: there is nothing to mix."""

    def current(r: dict[str, Any]) -> bool:
        c = choices(r["task"]).get(r["label"])
        return c is not None and r["params"] == c["params"] and r.get("lr") == c.get("lr")

    at_choice = {(r["task"], r["label"]) for r in rows if r["label"] in BASELINES and current(r)}
    return [r for r in rows if (r["task"], r["label"]) not in at_choice or current(r)]
