"""Typed constants: an optimizer moves the *raw* value freely; the type's transform keeps it legal.

positive = exp(raw) (so raw = log value), unit = sigmoid(raw) (raw = logit value), free = identity.
``fixed`` constants are literals of a formula and are never optimized.
"""

from __future__ import annotations

import math

KINDS = ("fixed", "positive", "unit", "free")


# Typed values are kept strictly inside their type, even when an optimizer pushes raw to extremes.
POSITIVE_RANGE = (1e-12, 1e12)
UNIT_RANGE = (1e-6, 1.0 - 1e-6)


def to_value(kind: str, raw: float) -> float:
    """The constant's value from its raw (optimizer-side) number."""
    if kind == "positive":
        return min(max(math.exp(min(raw, 700.0)), POSITIVE_RANGE[0]), POSITIVE_RANGE[1])
    if kind == "unit":
        v = 1.0 / (1.0 + math.exp(-raw)) if raw > -700 else 0.0
        return min(max(v, UNIT_RANGE[0]), UNIT_RANGE[1])
    return float(raw)


def to_raw(kind: str, value: float) -> float:
    """Inverse of :func:`to_value`; raises ValueError when the value is outside the type."""
    value = float(value)
    if kind == "positive":
        if not value > 0:
            raise ValueError(f"a positive constant must be > 0, got {value}")
        return math.log(value)
    if kind == "unit":
        if not 0 < value < 1:
            raise ValueError(f"a unit-interval constant must be in (0, 1), got {value}")
        return math.log(value / (1 - value))
    if kind not in KINDS:
        raise ValueError(f"unknown constant type {kind!r} (use one of {', '.join(KINDS)})")
    return value


def interval(kind: str, value: float) -> tuple[float, float]:
    """The values the constant may take while optimized (fixed ones stay put)."""
    if kind == "positive":
        return POSITIVE_RANGE
    if kind == "unit":
        return UNIT_RANGE
    if kind == "free":
        return (-math.inf, math.inf)
    return (value, value)
