"""Shared helper of the symbolic CLI commands: resolve NAME|FILE to an Objective."""

from __future__ import annotations

from symmpo.errors import ObjectiveError
from symmpo.objective import Objective, named_or_file
from symmpo.objective.named import known
from symmpo.objective.plain import PlainObjective


def resolve(spec: str) -> Objective | PlainObjective:
    """A named objective (dpo, ipo, ..., or a plain baseline such as nca) or an objective YAML file."""
    obj = named_or_file(spec)
    if obj is None:
        raise ObjectiveError(f"{spec!r} is neither a named objective ({known()}) nor an existing file")
    return obj
