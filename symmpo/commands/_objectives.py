"""Shared helper of the symbolic CLI commands: resolve NAME|FILE to an Objective."""

from __future__ import annotations

from symmpo.errors import ObjectiveError
from symmpo.objective import NAMED, Objective, named_or_file


def resolve(spec: str) -> Objective:
    """A named objective (dpo, ipo, ...) or an objective YAML file."""
    obj = named_or_file(spec)
    if obj is None:
        raise ObjectiveError(
            f"{spec!r} is neither a named objective ({', '.join(NAMED)}) nor an existing file"
        )
    return obj
