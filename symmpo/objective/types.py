"""The component names, and what the modules below the Objective class read from an objective.

The loss compiler, the exporters, the canonical key and the file format take an :class:`ObjectiveLike`
rather than the class itself: the class imports them to implement its methods, and none of them imports the
class back, so the package has no import cycle.
"""

from __future__ import annotations

from typing import Any, Protocol

from symmpo.symbolic.component import COMPONENTS

__all__ = ["COMPONENTS", "TIED", "Component", "ObjectiveLike"]
TIED = "phi_inv"  # the formula string meaning "psi is the same function as phi_inv"

Component = Any  # an expression tree or an ExternalComponent


class ObjectiveLike(Protocol):
    """The read-only view of an objective (implemented by :class:`symmpo.objective.core.Objective`)."""

    name: str
    beta: float
    reduce: str
    psi_tied: bool
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
