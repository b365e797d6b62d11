"""The types and ranges a search configuration's values may take, from the command line or a run's ``config.yaml``.

A run directory is untrusted input (it may be someone else's, or edited by hand), and a configuration
value out of range would otherwise surface deep inside a search as a KeyError, a negative array size or
a run that never ends. Every key is checked here, by type and range, before any work starts; the same
checks serve a new run (after the command line's overrides) and a resumed one. Each helper takes one untrusted
value and returns it typed (or raises a one-line :class:`ConfigError` naming the field);
:meth:`symmpo.search.config.SearchConfig.from_mapping` applies them key by key. The bounds are listed in
docs/search.md ("Limits of a configuration").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.symbolic.limits import integer, number, shown

MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_SEEDS = 64  # fitness or re-score seeds of one run
MAX_TASKS = 16
MAX_GENERATIONS = 100_000
MAX_POPULATION = 10_000
MAX_CHUNK = 1_024
MAX_HALL_OF_FAME = 1_000
MAX_CMAES_POPSIZE = 1_000
MAX_CMAES_ITERATIONS = 1_000
MAX_SIGMA0 = 100.0
MAX_STEPS = 10**7  # PO steps of a fidelity rung (the trainer's own bound)


class ConfigError(SymmpoError):
    """A configuration value has the wrong type or lies outside its range."""


def as_mapping(value: Any, what: str) -> dict[str, Any]:
    """A mapping with text keys."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{what} must be a mapping with text keys, got {shown(value)}")
    return value


def only_keys(value: dict[str, Any], what: str, allowed: Sequence[str]) -> None:
    """Refuse a key a section does not have (a typo would otherwise be ignored silently)."""
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise ConfigError(f"{what} has no key {shown(unknown[0])}; it has {', '.join(allowed)}")


def as_text(value: Any, what: str, limit: int = 200) -> str:
    """A non-empty printable line of at most ``limit`` characters."""
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise ConfigError(
            f"{what} must be a non-empty line of at most {limit} characters, got {shown(value)}"
        )
    return value


def as_tasks(value: Any) -> tuple[str, ...]:
    """1 to MAX_TASKS task names."""
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_TASKS:
        raise ConfigError(f"tasks must be a list of 1 to {MAX_TASKS} task names, got {shown(value)}")
    return tuple(as_text(t, "a task name", 100) for t in value)


def as_seeds(value: Any, what: str) -> tuple[int, ...]:
    """1 to MAX_SEEDS distinct seeds in numpy's range."""
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= MAX_SEEDS:
        raise ConfigError(f"{what} must be a list of 1 to {MAX_SEEDS} seeds, got {shown(value)}")
    seeds = tuple(as_int(s, f"each of {what}", 0, MAX_SEED) for s in value)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{what} repeats a seed: {shown(value)}")
    return seeds


def as_int(value: Any, what: str, lo: int, hi: int) -> int:
    """An integer (not a bool) in [lo, hi]."""
    try:
        return integer(value, what, lo, hi)
    except SymmpoError as err:
        raise ConfigError(str(err)) from None


def as_flag(value: Any, what: str) -> bool:
    """true or false (YAML's booleans; not 0/1 or text)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {shown(value)}")
    return value


def as_number(value: Any, what: str, lo: float, hi: float) -> float:
    """A finite number in [lo, hi] (an int is accepted and made a float)."""
    try:
        x = number(value, what)
    except SymmpoError as err:
        raise ConfigError(str(err)) from None
    if not lo <= x <= hi:
        raise ConfigError(f"{what} must be in [{lo:g}, {hi:g}], got {x:g}")
    return float(x)


def as_positive(value: Any, what: str, hi: float) -> float:
    """A number in (0, hi]."""
    try:
        x = number(value, what)
    except SymmpoError as err:
        raise ConfigError(str(err)) from None
    if not 0 < x <= hi:
        raise ConfigError(f"{what} must be in (0, {hi:g}], got {x:g}")
    return float(x)


def as_widths(value: Any, what: str) -> tuple[int, ...]:
    """1 to 8 hidden-layer widths."""
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= 8:
        raise ConfigError(f"{what} must be a list of 1 to 8 layer widths, got {shown(value)}")
    return tuple(as_int(w, f"each of {what}", 1, 4096) for w in value)


def as_fidelity(
    value: Any, n_seeds: int
) -> tuple[tuple[int, ...], float, tuple[int, ...] | None, tuple[float, ...] | None]:
    """``fidelity: {rungs: [1, 3], promote: 0.33}``: seed counts per rung, increasing from 1 or more to every
    fitness seed (so a promoted candidate's fitness is the flat one), at least two rungs; a share in (0, 1).
    With ``steps: [250, 1000]`` (PO steps per rung, non-decreasing) and/or ``lr: [1e-3, 3e-4]`` (learning rate per
    rung), whose last entries must be the run's own (:meth:`symmpo.search.multifidelity.Fidelity.bind`), the seed
    counts need only not decrease, as long as every rung changes its seeds, steps or rate."""
    spec = as_mapping(value, "fidelity")
    unknown = sorted(set(spec) - {"rungs", "promote", "steps", "lr"})
    if unknown or not {"rungs", "promote"} <= set(spec):
        raise ConfigError(
            "fidelity must have exactly 'rungs' and 'promote' (and optionally 'steps', 'lr'), "
            f"got {shown(sorted(spec))}"
        )
    rungs = spec["rungs"]
    if not isinstance(rungs, list | tuple) or not 2 <= len(rungs) <= MAX_SEEDS:
        raise ConfigError(f"fidelity.rungs must be a list of 2 or more seed counts, got {shown(rungs)}")
    counts = tuple(as_int(r, "each of fidelity.rungs", 1, MAX_SEEDS) for r in rungs)
    steps = _per_rung(spec, "steps", "PO step count", len(counts))
    lr = _per_rung(spec, "lr", "learning rate", len(counts))
    steps = None if steps is None else tuple(as_int(v, "each of fidelity.steps", 1, MAX_STEPS) for v in steps)
    lr = None if lr is None else tuple(as_positive(v, "each of fidelity.lr", 1.0) for v in lr)
    per_rung = list(zip(counts, steps or (0,) * len(counts), lr or (0.0,) * len(counts), strict=True))
    rising = all(
        b[0] >= a[0] and b[1] >= a[1] and b != a for a, b in zip(per_rung, per_rung[1:], strict=False)
    )
    if not rising or counts[-1] != n_seeds:
        what = (
            "increase"
            if steps is None and lr is None
            else "not decrease (nor fidelity.steps), each rung changing one"
        )
        raise ConfigError(
            f"fidelity.rungs must {what} and end at the number of fitness seeds ({n_seeds}), got {shown(list(rungs))}"
        )
    share = as_positive(spec["promote"], "fidelity.promote", 1.0)
    if share >= 1.0:
        raise ConfigError(f"fidelity.promote must be below 1 (1 promotes every candidate), got {share:g}")
    return counts, share, steps, lr


def _per_rung(spec: dict[str, Any], key: str, what: str, n: int) -> list[Any] | tuple[Any, ...] | None:
    """``fidelity.<key>``: absent, or one value per rung."""
    values = spec.get(key)
    if values is None:
        return None
    if not isinstance(values, list | tuple) or len(values) != n:
        raise ConfigError(f"fidelity.{key} must list one {what} per rung ({n}), got {shown(values)}")
    return values
