"""Typed constants: an optimizer moves the *raw* value freely; the type's transform keeps it legal.

positive = exp(raw) (so raw = log value), unit = sigmoid(raw) (raw = logit value), free = identity, and
``interval(lo, hi)`` = lo + (hi - lo) sigmoid(raw) for a constant whose objective needs tighter bounds
than (0, 1) (rDPO's noise rate eps must stay below 1/2). ``fixed`` constants are literals of a formula and
are never optimized. The bounds travel in the type's name, so every copy of a constant keeps them.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

KINDS = ("fixed", "positive", "unit", "free")  # the base types; interval(lo, hi) is the parametric one


# Typed values are kept strictly inside their type, even when an optimizer pushes raw to extremes.
POSITIVE_RANGE = (1e-12, 1e12)
UNIT_RANGE = (1e-6, 1.0 - 1e-6)
INTERVAL_MARGIN = 1e-6  # an interval(lo, hi) value stays 1e-6 (hi - lo) away from either end
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_INTERVAL = re.compile(rf"interval\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")


def _fmt(v: float) -> str:
    r = repr(float(v))
    return r[:-2] if r.endswith(".0") else r


def interval_kind(lo: float, hi: float) -> str:
    """The type name of a constant bounded to the open interval (lo, hi)."""
    return normalize_kind(f"interval({_fmt(lo)}, {_fmt(hi)})")


@lru_cache(maxsize=1024)
def _bounds(kind: str) -> tuple[float, float] | None:
    m = _INTERVAL.fullmatch(kind)
    if not m:
        return None
    lo, hi = float(m.group(1)), float(m.group(2))
    if not (math.isfinite(lo) and math.isfinite(hi) and max(abs(lo), abs(hi)) <= 1e12 and lo < hi):
        raise ValueError(f"constant type {kind!r} needs finite bounds lo < hi within ±1e12")
    return lo, hi


def normalize_kind(kind: object) -> str:
    """The canonical spelling of a type name; ValueError naming the known types otherwise."""
    if isinstance(kind, str):
        if kind in KINDS:
            return kind
        if len(kind) <= 100:
            b = _bounds(kind.strip())
            if b is not None:
                return f"interval({_fmt(b[0])}, {_fmt(b[1])})"
    shown = repr(kind) if len(repr(kind)) <= 60 else repr(kind)[:57] + "..."
    raise ValueError(f"unknown constant type {shown} (use one of {', '.join(KINDS)} or interval(lo, hi))")


def is_kind(kind: object) -> bool:
    try:
        return normalize_kind(kind) == kind
    except ValueError:
        return False


def to_value(kind: str, raw: float) -> float:
    """The constant's value from its raw (optimizer-side) number."""
    if kind == "positive":
        return min(max(math.exp(min(raw, 700.0)), POSITIVE_RANGE[0]), POSITIVE_RANGE[1])
    if kind == "unit":
        v = 1.0 / (1.0 + math.exp(-raw)) if raw > -700 else 0.0
        return min(max(v, UNIT_RANGE[0]), UNIT_RANGE[1])
    if kind in ("fixed", "free"):
        return float(raw)
    b = _bounds(kind)
    if b is None:
        raise ValueError(f"unknown constant type {kind!r}")
    lo, hi = b
    s = 1.0 / (1.0 + math.exp(-raw)) if raw > -700 else 0.0
    margin = INTERVAL_MARGIN * (hi - lo)
    return min(max(lo + (hi - lo) * s, lo + margin), hi - margin)


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
    if kind in ("fixed", "free"):
        return value
    b = _bounds(kind) if isinstance(kind, str) else None
    if b is None:
        raise ValueError(
            f"unknown constant type {kind!r} (use one of {', '.join(KINDS)} or interval(lo, hi))"
        )
    lo, hi = b
    if not lo < value < hi:
        raise ValueError(f"a constant of type {kind} must be in ({_fmt(lo)}, {_fmt(hi)}), got {value}")
    t = min(max((value - lo) / (hi - lo), INTERVAL_MARGIN), 1 - INTERVAL_MARGIN)  # to_value clips as much
    return math.log(t / (1 - t))


def interval(kind: str, value: float) -> tuple[float, float]:
    """The values the constant may take while optimized (fixed ones stay put)."""
    if kind == "positive":
        return POSITIVE_RANGE
    if kind == "unit":
        return UNIT_RANGE
    if kind == "free":
        return (-math.inf, math.inf)
    b = _bounds(kind) if kind != "fixed" else None
    if b is not None:
        margin = INTERVAL_MARGIN * (b[1] - b[0])
        return (b[0] + margin, b[1] - margin)
    return (value, value)
