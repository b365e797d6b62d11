"""Shared helper of the symbolic CLI commands: resolve NAME|FILE to an Objective."""

from __future__ import annotations

from pathlib import Path

from symmpo.errors import ObjectiveError


def resolve(spec: str):
    """A named objective (dpo, ipo, ...) or an objective YAML file."""
    from symmpo import Objective
    from symmpo.named import NAMED

    if spec.lower() in NAMED:
        return Objective.named(spec)
    if Path(spec).exists():
        return Objective.load(spec)
    raise ObjectiveError(f"{spec!r} is neither a named objective ({', '.join(NAMED)}) nor an existing file")
