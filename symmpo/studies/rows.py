"""A study's rows: one JSON line per trained member in ``<kind>.jsonl``, keyed by their configuration.

Append-only, so a killed study loses at most what was in flight; a rerun skips every row already present. A
row is reusable when it has the same kind, configuration hash, cell (task, seed), member (label, parameters,
learning rate) and dataset bytes: a rebuilt dataset changes its hash, so its old rows are redone, not mixed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from symmpo.files import append_jsonl, dumps, read_jsonl

Ident = tuple[str, int, str, str, float | None, str | None]


def ident(task: str, seed: int, label: str, params: dict, lr: float | None, data: str | None) -> Ident:
    """What makes a stored row reusable: same cell, member, hyperparameters and dataset bytes."""
    return (task, seed, label, dumps(params, sort_keys=True), lr, data)


class Rows:
    """The rows of one kind (``sweep``, ``bench``, ``compare``, ``tune``, ``transfer``) of one configuration."""

    def __init__(
        self, out_dir: Path, kind: str, config_hash: str, slot: Callable[[int], Any] | None = None
    ) -> None:
        self.path = out_dir / f"{kind}.jsonl"
        self.kind = kind
        self.config_hash = config_hash
        self.slot = slot  # training seed -> the preference dataset it trains on (several datasets: a fitness)

    def done(self) -> set[Ident]:
        """The identities of the rows already stored for this kind and configuration."""
        return {
            ident(r["task"], r["seed"], r["label"], r["params"], r.get("lr"), r.get("dataset"))
            for r in read_jsonl(self.path)
            if r.get("kind") == self.kind and r.get("config") == self.config_hash
        }

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        append_jsonl(self.path, list(rows))

    def current(self) -> list[dict[str, Any]]:
        """This configuration's rows (any kind stored in the file) on each task's latest dataset."""
        return current_rows(read_jsonl(self.path), self.config_hash, self.slot)


def current_rows(
    rows: list[dict[str, Any]], config_hash: str, slot: Callable[[int], Any] | None = None
) -> list[dict[str, Any]]:
    """Rows of a configuration on each task's most recent dataset (the last one written wins: a regenerated
    dataset supersedes the rows trained on the old one). With ``slot`` (training seed -> which of several
    preference datasets it trains on, ``TrainConfig.dataset_seed_of``), the most recent per task and slot: a
    fitness over datasets 0 and 3 keeps the seeds of both, not only those of the dataset written last."""
    rows = [r for r in rows if r.get("config") == config_hash]

    def key(r: dict[str, Any]) -> tuple[str, Any]:
        return (r["task"], None if slot is None else slot(r["seed"]))

    latest = {key(r): r.get("dataset") for r in rows}
    # two processes that trained the same cell into one folder stored the same training twice: keep the first
    # (a loss's grid point with a seed counted twice would look like one with a seed too many)
    seen: set[tuple[str, Ident]] = set()
    out = []
    for r in rows:
        k = (
            r.get("kind", ""),
            ident(r["task"], r["seed"], r["label"], r["params"], r.get("lr"), r.get("dataset")),
        )
        if r.get("dataset") == latest[key(r)] and k not in seen:
            seen.add(k)
            out.append(r)
    return out


def member_row(
    kind: str, task: str, seed: int, member: Any, reference: str, config_hash: str, result: dict[str, Any]
) -> dict[str, Any]:
    """The row of one trained member (``member`` None: the reference row ``reference``) of the text and LLM
    suites, which run one member at a time and name each file member's ``path``."""
    return {
        "kind": kind,
        "task": task,
        "seed": seed,
        "label": reference if member is None else member.label,
        "objective": reference if member is None else member.name,
        "params": {} if member is None else member.params,
        "lr": None if member is None else member.lr,
        "path": getattr(member, "path", None),
        "config": config_hash,
        **result,
    }
