"""The component names, what the modules below the Objective class read from an objective, and the row type
of the named-baseline table.

The loss compiler, the exporters, the canonical key and the file format take an :class:`ObjectiveLike`
rather than the class itself: the class imports them to implement its methods, and none of them imports the
class back, so the package has no import cycle.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from symmpo.symbolic.component import COMPONENTS

__all__ = ["COMPONENTS", "TIED", "Component", "Entry", "LossArgs", "LossCalls", "ObjectiveLike"]
TIED = "phi_inv"  # the formula string meaning "psi is the same function as phi_inv"

Component = Any  # an expression tree or an ExternalComponent


class LossArgs(NamedTuple):
    """A loss's arguments, in TRL's order and with its names: what every objective's ``loss`` and ``parts``
    take, and the exported functions too.

    The policy's and the reference's log-probs of the chosen and rejected responses (summed over the response;
    per token ``[B, T]`` for granularity=token), the responses' lengths (or token masks) where the loss reads
    them, and the training progress tau in [0, 1].
    """

    policy_chosen_logps: Any
    policy_rejected_logps: Any
    reference_chosen_logps: Any
    reference_rejected_logps: Any
    chosen_lengths: Any = None
    rejected_lengths: Any = None
    progress: Any = 0.0


class LossCalls:
    """``loss`` (also ``__call__``) and ``parts`` over :class:`LossArgs`, written once for every objective
    class, so the argument list and its defaults cannot differ between them. A class implements
    ``_evaluate(kind, args)``: kind "loss" gives one loss per example, "parts" the dict of named parts."""

    def _evaluate(self, kind: str, args: LossArgs) -> Any:
        raise NotImplementedError

    def loss(self, *args: Any, **kwargs: Any) -> Any:
        """One loss per example; the arguments of :class:`LossArgs`, by position or by name."""
        return self._evaluate("loss", LossArgs(*args, **kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.loss(*args, **kwargs)

    def parts(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The loss split for logging, per example: reward_chosen, reward_rejected, margin, preference and
        imitation (``preference + imitation`` is ``loss``); arguments as :meth:`loss`."""
        return self._evaluate("parts", LossArgs(*args, **kwargs))


# help() and inspect show LossArgs' parameters rather than *args, **kwargs
_PARAMETER = inspect.Parameter.POSITIONAL_OR_KEYWORD
_SIGNATURE = inspect.Signature(
    [inspect.Parameter("self", _PARAMETER)]
    + [
        inspect.Parameter(
            name, _PARAMETER, default=LossArgs._field_defaults.get(name, inspect.Parameter.empty)
        )
        for name in LossArgs._fields
    ]
)
for _method in (LossCalls.loss, LossCalls.__call__, LossCalls.parts):
    _method.__signature__ = _SIGNATURE  # type: ignore[attr-defined]


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
    ``anchor`` is the weight of the NLL (imitation) term when the loss has one as a parameter (rpo_alpha,
    cpo_alpha): a sweep may tune it too (``--anchor-factors``), as a search tunes a discovered loss's.
    A 3-tuple row is an Entry with the last three fields at their defaults.
    """

    defaults: dict[str, float]
    build: Callable[..., Any]
    description: str
    scale: str | None = "beta"
    baseline: bool = True
    anchor: str | None = None
