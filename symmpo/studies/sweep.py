"""The choice per column on the fitness split: each loss's best grid point, the column's best baseline and the
choices on the edge of the grid. One rule for every suite and for ``symmpo compare --tune``, so a table is
never tuned one way in one study and another way in the next."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from symmpo.stats import mean_se
from symmpo.studies.members import factor_of, scale_param


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
) -> Column:
    """Per loss (``key`` of a row), the grid point with the best mean score over seeds (a point that diverged
    on any seed scores −inf; with ``n_seeds``, so does a point missing a seed). A choice at the first or last
    of ``factors`` (scale parameter) or ``lrs`` is on an edge."""
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
        if (scaled and factor_of(row) in (factors[0], factors[-1])) or (
            lrs and row.get("lr") in (lrs[0], lrs[-1])
        ):
            edges.append(name)
    return Column(dict(by), chosen, {n: r["label"] for n, r in row_of.items()}, fit, edges)
