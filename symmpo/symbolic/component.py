"""The hook for non-symbolic components (the neural networks of ``symmpo.neural``).

An :class:`~symmpo.Objective` component is either an expression tree or any object with this protocol.
The objective calls ``torch_fn(x, tau)`` where x is the component's input *in the compiler's
convention*: L = log p for phi_inv and psi (log space, so p itself is never formed), z for g, and the
progress tau again for the weights (w_po, w_sft). It must return a tensor broadcastable to x, be
differentiable, and be safe under torch.func. ``latex()`` is what printing shows; ``validity`` (a dict
property -> bool, or None when unknown) is what the search reports instead of the checker's verdict.
Such objectives cannot be saved to YAML or exported as source (a clear ObjectiveError says so).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ExternalComponent(Protocol):
    def torch_fn(self, x: Any, tau: Any) -> Any: ...

    def latex(self) -> str: ...

    @property
    def validity(self) -> dict[str, bool] | None: ...
