"""The numerically safe torch forms of the primitives that need guard rails.

This module is the one source of these forms: the compiler calls these functions, and code export copies
their source text verbatim (``inspect.getsource``) into the exported file, next to the two constants.
So the module may use only ``torch`` (in its annotations too), ``SYMMPO_TINY`` and ``SYMMPO_EXP_MAX``: the copied code must run in
a file that imports torch and nothing from symmpo. A test executes the exported helpers and compares them
with these functions.
"""

from __future__ import annotations

import torch

SYMMPO_TINY = 1e-30  # log/sqrt/pow arguments are clamped to at least this
SYMMPO_EXP_MAX = 40.0  # exp arguments are clamped to at most this (e^40 ~ 2.4e17, its square fits float32)


def symmpo_log(x: torch.Tensor) -> torch.Tensor:
    """log, with the argument clamped to at least SYMMPO_TINY (log 0 = -69, not -inf)."""
    return torch.log(torch.clamp(x, min=SYMMPO_TINY))


def symmpo_exp(x: torch.Tensor) -> torch.Tensor:
    """exp, with the argument clamped to at most SYMMPO_EXP_MAX (no inf in the forward pass)."""
    return torch.exp(torch.clamp(x, max=SYMMPO_EXP_MAX))


def symmpo_expm1(x: torch.Tensor) -> torch.Tensor:
    """expm1, clamped like symmpo_exp."""
    return torch.expm1(torch.clamp(x, max=SYMMPO_EXP_MAX))


def symmpo_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt, with the argument clamped to at least SYMMPO_TINY (a finite slope at 0)."""
    return torch.sqrt(torch.clamp(x, min=SYMMPO_TINY))


def symmpo_pow(x: torch.Tensor | float, c: torch.Tensor | float) -> torch.Tensor:
    """x ** c; a non-integer exponent sees the base clamped to at least SYMMPO_TINY (no complex results)."""
    if not isinstance(x, torch.Tensor):  # a constant base, a tensor exponent
        x = torch.full_like(c, float(x))
    if isinstance(c, float) and c == int(c):
        return torch.pow(x, c)
    return torch.pow(torch.clamp(x, min=SYMMPO_TINY), c)


def symmpo_log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - e^x) for x < 0, accurate at both ends (Maechler 2012)."""
    x = torch.clamp(x, max=-SYMMPO_TINY)
    near = x > -0.6931471805599453
    # each branch sees only inputs where it is finite, so torch.where's unused branch cannot leak NaN grads
    a = torch.log(-torch.expm1(torch.where(near, x, -1.0)))
    b = torch.log1p(-torch.exp(torch.where(near, -1.0, x)))
    return torch.where(near, a, b)


def symmpo_min(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """Elementwise minimum of two tensors, or of a tensor and a number (either order)."""
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    if not isinstance(b, torch.Tensor):
        return torch.clamp(a, max=b)
    return torch.minimum(a, b)


def symmpo_max(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """Elementwise maximum of two tensors, or of a tensor and a number (either order)."""
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    if not isinstance(b, torch.Tensor):
        return torch.clamp(a, min=b)
    return torch.maximum(a, b)
