"""The five MPO components (one spec each), and the hook for non-symbolic components (the neural networks of ``symmpo.neural``).

An :class:`~symmpo.Objective` component is either an expression tree or any object with this protocol.
The objective calls ``torch_fn(x, tau)`` where x is the component's input *in the compiler's
convention*: L = log p for phi_inv and psi (log space, so p itself is never formed), z for g, and the
progress tau again for the weights (w_po, w_sft). It must return a tensor broadcastable to x, be
differentiable, and be safe under torch.func. ``latex()`` is what printing shows; ``validity`` (a dict
property -> bool, or None when unknown) is what the search reports instead of the checker's verdict.
Such objectives cannot be saved to YAML or exported as source (a clear ObjectiveError says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ComponentSpec:
    """What one MPO component is: the variable a user writes, what the compiled tree reads, its contract."""

    name: str
    var: str  # the variable of its formula: p (a probability), z (the scaled margin) or tau (progress)
    input: str  # what the compiled, log-space tree reads: L = log p, z or tau
    type: str  # the abstract property a grammar's start symbol must guarantee (symmpo.symbolic.props)
    title: str  # how plots and tables name it

    @property
    def variables(self) -> tuple[str, ...]:
        """Variables its formula may use: its own, and the progress tau (once for the weights)."""
        return (self.var, "tau") if self.var != "tau" else ("tau",)


COMPONENTS: dict[str, ComponentSpec] = {
    spec.name: spec
    for spec in (
        ComponentSpec("phi_inv", "p", "L", "phi_inv", "φ⁻¹(p)"),
        ComponentSpec("psi", "p", "L", "psi", "ψ(p)"),
        ComponentSpec("g", "z", "z", "g", "g(z)"),
        ComponentSpec("w_po", "tau", "tau", "weight", "w_po(τ)"),
        ComponentSpec("w_sft", "tau", "tau", "weight", "w_sft(τ)"),
    )
}


@runtime_checkable
class ExternalComponent(Protocol):
    def torch_fn(self, x: Any, tau: Any) -> Any: ...

    def latex(self) -> str: ...

    @property
    def validity(self) -> dict[str, bool] | None: ...
