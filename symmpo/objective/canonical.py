"""Canonical key of an objective: equal for objectives that are the same loss up to rewriting and constant noise.

The key hashes each component's canonical form (:func:`symmpo.symbolic.canonical.canonical_component`:
sympy-simplified, constants rounded to 4 significant digits) with beta (rounded), reduce and a granularity other than sequence. Used for
fitness caching and dedupe, so it must be stable across runs (no object ids for symbolic components).
"""

from __future__ import annotations

import hashlib
from typing import Any

from symmpo.objective.types import COMPONENTS, ObjectiveLike
from symmpo.symbolic.canonical import canonical_component
from symmpo.symbolic.expr import is_tree


def canonical_key(obj: ObjectiveLike) -> str:
    parts: list[Any] = [f"beta={float(f'{obj.beta:.4g}')!r}", f"reduce={obj.reduce}"]
    if getattr(obj, "granularity", "sequence") != "sequence":  # sequence keys stay what they always were
        parts.append(f"granularity={obj.granularity}")  # type: ignore[attr-defined]
    for k in COMPONENTS:
        c = obj.components[k]
        if is_tree(c):
            parts.append(f"{k}={canonical_component(c)}")
        else:
            parts.append(f"{k}=<{type(c).__name__}:{id(c)}>")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]
