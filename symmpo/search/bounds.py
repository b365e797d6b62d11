"""The types and ranges a search configuration may take, from the command line or a run's ``config.yaml``.

A run directory is untrusted input (it may be someone else's, or edited by hand), and a configuration
value out of range would otherwise surface deep inside a search as a KeyError, a negative array size or
a run that never ends. Every key is checked here, by type and range, before any work starts; the same
checks serve a new run (after the command line's overrides) and a resumed one. The bounds are listed in
docs/search.md ("Limits of a configuration").
"""

from __future__ import annotations

from typing import Any

from symmpo.errors import SymmpoError
from symmpo.symbolic.limits import MAX_IDENTIFIER_CHARS, integer, number, shown

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

REQUIRED = (
    "tasks",
    "seeds",
    "rescore_seeds",
    "generations",
    "population",
    "seed",
    "chunk",
    "train",
    "cmaes",
    "hall_of_fame",
    "rescore_top",
    "reference",
)
OPTIONAL = (
    "grammar",
    "grammar_name",
    "preset",
    "heldout",
    "allow_heldout_env",
    "gp",
    "kind",
    "neural",
    "fidelity",
)


class ConfigError(SymmpoError):
    """A configuration value has the wrong type or lies outside its range."""


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{what} must be a mapping with text keys, got {shown(value)}")
    return value


def _text(value: Any, what: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        raise ConfigError(
            f"{what} must be a non-empty line of at most {limit} characters, got {shown(value)}"
        )
    return value


def _seeds(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SEEDS:
        raise ConfigError(f"{what} must be a list of 1 to {MAX_SEEDS} seeds, got {shown(value)}")
    seeds = [_int(s, f"each of {what}", 0, MAX_SEED) for s in value]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{what} repeats a seed: {shown(value)}")
    return seeds


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    try:
        return integer(value, what, lo, hi)
    except SymmpoError as err:
        raise ConfigError(str(err)) from None


def _positive(value: Any, what: str, hi: float) -> float:
    try:
        x = number(value, what)
    except SymmpoError as err:
        raise ConfigError(str(err)) from None
    if not 0 < x <= hi:
        raise ConfigError(f"{what} must be in (0, {hi:g}], got {x:g}")
    return x


def check_config(config: Any) -> dict[str, Any]:
    """Every key's type and range (the contents of ``train``, ``heldout`` and ``reference`` are checked
    by the objects they build, in :func:`symmpo.search.presets.validate`)."""
    config = _mapping(config, "the configuration")
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ConfigError(f"the configuration has no {missing[0]!r}")
    unknown = [k for k in config if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise ConfigError(f"unknown configuration key {shown(unknown[0])}")
    tasks = config["tasks"]
    if not isinstance(tasks, list) or not 1 <= len(tasks) <= MAX_TASKS:
        raise ConfigError(f"tasks must be a list of 1 to {MAX_TASKS} task names, got {shown(tasks)}")
    for t in tasks:
        _text(t, "a task name", 100)
    _seeds(config["seeds"], "seeds (--seeds)")
    _seeds(config["rescore_seeds"], "rescore_seeds (--rescore-seeds)")
    _int(config["generations"], "generations (--generations)", 1, MAX_GENERATIONS)
    _int(config["population"], "population (--population)", 2, MAX_POPULATION)
    _int(config["seed"], "seed (--search-seed)", 0, MAX_SEED)
    _int(config["chunk"], "chunk", 1, MAX_CHUNK)
    hof = _int(config["hall_of_fame"], "hall_of_fame", 1, MAX_HALL_OF_FAME)
    _int(config["rescore_top"], "rescore_top", 1, hof)
    train = _mapping(config["train"], "train")
    _text(train.get("preset", "default"), "train.preset", MAX_IDENTIFIER_CHARS)
    _mapping(train.get("overrides", {}), "train.overrides")
    cma = _mapping(config["cmaes"], "cmaes")
    for key in ("enabled", "popsize", "sigma0", "max_iterations"):
        if key not in cma:
            raise ConfigError(f"cmaes has no {key!r}")
    if not isinstance(cma["enabled"], bool):
        raise ConfigError(f"cmaes.enabled must be true or false, got {shown(cma['enabled'])}")
    _int(cma["popsize"], "cmaes.popsize", 2, MAX_CMAES_POPSIZE)
    _int(cma["max_iterations"], "cmaes.max_iterations", 0, MAX_CMAES_ITERATIONS)
    _positive(cma["sigma0"], "cmaes.sigma0", MAX_SIGMA0)
    ref = _mapping(config["reference"], "reference")
    _text(ref.get("name"), "reference.name", MAX_IDENTIFIER_CHARS)
    for key in ("heldout", "gp", "neural"):
        if key in config:
            _mapping(config[key], key)
    for key in ("grammar", "grammar_name", "preset", "kind"):
        if key in config:
            _text(config[key], key, 4096 if key == "grammar" else MAX_IDENTIFIER_CHARS)
    if config.get("fidelity") is not None:
        _fidelity(config["fidelity"], len(config["seeds"]))
    if not isinstance(config.get("allow_heldout_env", False), bool):
        raise ConfigError(
            f"allow_heldout_env must be true or false, got {shown(config['allow_heldout_env'])}"
        )
    return config


def _fidelity(value: Any, n_seeds: int) -> None:
    """``fidelity: {rungs: [1, 3], promote: 0.33}``: seed counts per rung, increasing from 1 or more to every
    fitness seed (so a promoted candidate's fitness is the flat one), at least two rungs; a share in (0, 1).
    With ``steps: [250, 1000]`` (PO steps per rung, non-decreasing) and/or ``lr: [1e-3, 3e-4]`` (learning rate per
    rung), whose last entries must be the run's own (:class:`symmpo.search.multifidelity.Fidelity` checks), the
    seed counts need only not decrease, as long as every rung changes its seeds, steps or rate."""
    spec = _mapping(value, "fidelity")
    unknown = sorted(set(spec) - {"rungs", "promote", "steps", "lr"})
    if unknown or not {"rungs", "promote"} <= set(spec):
        raise ConfigError(
            "fidelity must have exactly 'rungs' and 'promote' (and optionally 'steps', 'lr'), "
            f"got {shown(sorted(spec))}"
        )
    rungs = spec["rungs"]
    if not isinstance(rungs, list) or not 2 <= len(rungs) <= MAX_SEEDS:
        raise ConfigError(f"fidelity.rungs must be a list of 2 or more seed counts, got {shown(rungs)}")
    counts = [_int(r, "each of fidelity.rungs", 1, MAX_SEEDS) for r in rungs]
    steps = _rung_list(spec, "steps", "PO step count", len(counts))
    lr = _rung_list(spec, "lr", "learning rate", len(counts))
    per_rung = [
        (
            c,
            _int(s, "each of fidelity.steps", 1, MAX_STEPS) if steps else 0,
            _positive(r, "each of fidelity.lr", 1.0) if lr else 0,
        )
        for c, s, r in zip(counts, steps or counts, lr or counts, strict=True)
    ]
    rising = all(
        b[0] >= a[0] and b[1] >= a[1] and b != a for a, b in zip(per_rung, per_rung[1:], strict=False)
    )
    if not rising or counts[-1] != n_seeds:
        what = (
            "increase" if not (steps or lr) else "not decrease (nor fidelity.steps), each rung changing one"
        )
        raise ConfigError(
            f"fidelity.rungs must {what} and end at the number of fitness seeds ({n_seeds}), got {shown(rungs)}"
        )
    share = _positive(spec["promote"], "fidelity.promote", 1.0)
    if share >= 1.0:
        raise ConfigError(f"fidelity.promote must be below 1 (1 promotes every candidate), got {share:g}")


def _rung_list(spec: dict[str, Any], key: str, what: str, n: int) -> list[Any] | None:
    """``fidelity.<key>``: absent, or one value per rung."""
    values = spec.get(key)
    if values is None:
        return None
    if not isinstance(values, list) or len(values) != n:
        raise ConfigError(f"fidelity.{key} must list one {what} per rung ({n}), got {shown(values)}")
    return values
