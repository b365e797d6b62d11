"""The component names, what the modules below the Objective class read from an objective, and the row type
of the named-baseline table.

The loss compiler, the exporters, the canonical key and the file format take an :class:`ObjectiveLike`
rather than the class itself: the class imports them to implement its methods, and none of them imports the
class back, so the package has no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from symmpo.symbolic.component import COMPONENTS

__all__ = ["COMPONENTS", "TIED", "Component", "Entry", "ObjectiveLike"]
TIED = "phi_inv"  # the formula string meaning "psi is the same function as phi_inv"

Component = Any  # an expression tree or an ExternalComponent


class ObjectiveLike(Protocol):
    """The read-only view of an objective (implemented by :class:`symmpo.objective.core.Objective`)."""

    name: str
    beta: float
    reduce: str
    psi_tied: bool
    # granularity ("sequence" or "token") is read with getattr(obj, "granularity", "sequence"): neural and
    # plain objectives are sequence-level and need not carry it
    params: dict[str, float]

    @property
    def components(self) -> dict[str, Component]: ...

    @property
    def is_symbolic(self) -> bool: ...

    @property
    def needs_lengths(self) -> bool: ...

    @property
    def uses_tau(self) -> bool: ...

    @property
    def uses_reference(self) -> bool: ...

    def formulas(self) -> dict[str, str]: ...

    def constant_specs(self) -> dict[str, tuple[str, float]]: ...

    def require_symbolic(self, what: str) -> None: ...


class Entry(NamedTuple):
    """One row of the named-baseline table (``named.NAMED`` for MPO recipes, ``plain.PLAIN`` for plain losses).

    ``build`` is the recipe builder (parameters -> ``Objective.from_components`` arguments) of an MPO entry and
    the per-example loss function of a plain one. ``scale`` is the parameter that sets the strength of the
    preference term, the one a tuning grid sweeps with the learning rate (None: a loss with no such knob, tuned
    by learning rate alone). ``baseline``: the entry is in the default baseline set (``bench.BASELINES``).
    A 3-tuple row is an Entry with the last two fields at their defaults.
    """

    defaults: dict[str, float]
    build: Callable[..., Any]
    description: str
    scale: str | None = "beta"
    baseline: bool = True
