"""``NAME | FILE`` to an objective: what the command line and the TRL trainer accept for an objective."""

from __future__ import annotations

from pathlib import Path

from symmpo.objective import named
from symmpo.objective.core import Objective
from symmpo.objective.plain import PlainObjective


def named_or_file(spec: str) -> Objective | PlainObjective | None:
    """A named baseline (a name or alias, any case: ``dpo``, ``SLiC``, ``nca_pair``; MPO recipe or plain
    baseline) with its default parameters, else the objective YAML file at that path; None when ``spec`` is
    neither (the caller says what it expected)."""
    if named.lookup(spec) is not None:
        return Objective.named(spec)
    if Path(spec).is_file():
        return Objective.load(spec)
    return None
