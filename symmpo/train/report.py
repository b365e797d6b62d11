"""Small shared helpers for the train/bench reports: objective resolution, statistics, JSON that survives inf."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError


def resolve_objective(spec: str, params: dict[str, float] | None = None):
    """``dpo`` (a named baseline) or a path to an objective YAML file; ``params`` override named parameters."""
    from symmpo import Objective

    params = params or {}
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise SymmpoError(f"objective file {spec!r} not found")
        obj = Objective.load(path)
        extra = set(params) - {"beta"}
        if extra:
            raise SymmpoError(
                f"--param {', '.join(sorted(extra))}: only beta can be overridden for an objective file"
            )
        return obj.with_beta(params["beta"]) if "beta" in params else obj
    return Objective.named(spec, **params)


def parse_params(items: Sequence[str] | None) -> dict[str, float]:
    """``["beta=0.1", "eps=0.2"]`` → dict; a clear error for anything else."""
    out: dict[str, float] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(value)
        except ValueError:
            raise SymmpoError(f"--param {item!r}: expected NAME=NUMBER, e.g. beta=0.1") from None
    return out


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error; a run that died (−inf) makes the mean −inf."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan, math.nan
    if any(not math.isfinite(v) for v in vals):
        return -math.inf, math.nan
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, math.nan
    var = sum((v - m) ** 2 for v in vals) / (len(vals) - 1)
    return m, math.sqrt(var / len(vals))


def fmt_mean_se(m: float, se: float, digits: int = 1) -> str:
    if not math.isfinite(m):
        return "diverged" if m == -math.inf else "–"
    return f"{m:.{digits}f} ± {se:.{digits}f}" if math.isfinite(se) else f"{m:.{digits}f}"


def _clean(x: Any) -> Any:
    """JSON has no inf/nan: write them as strings so every record stays strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _restore(x: Any) -> Any:
    if x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, dict):
        return {k: _restore(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_restore(v) for v in x]
    return x


def dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(_clean(obj), **kw)


def loads(text: str) -> Any:
    return _restore(json.loads(text))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a JSON-lines file (a line cut by a kill is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """One write per batch of rows, flushed and fsynced: a kill loses at most the batch being written."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as f:
        if torn:  # a previous writer was killed mid-line: keep that fragment on its own (ignored) line
            f.write("\n")
        f.write("".join(dumps(r) + "\n" for r in rows))
        f.flush()
        os.fsync(f.fileno())
