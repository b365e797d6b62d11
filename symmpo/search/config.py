"""A search run's configuration, typed and frozen: parsed and checked once where it enters, read as fields after.

A configuration enters at three edges only: a preset (:mod:`symmpo.search.presets`, plain data), the command
line's or the Python API's overrides (:meth:`SearchConfig.override`), and a run directory's ``config.yaml``
(:meth:`symmpo.search.rundir.RunDir.read_config`, untrusted). Each goes through :meth:`SearchConfig.from_mapping`,
which checks every key by type and range (:mod:`symmpo.search.bounds`) and then what the trainer, the protocol,
GP and the reference loss accept, and refuses anything else with one line naming the field. Downstream code reads
fields (``config.seeds``, ``config.train``, ``config.cmaes.popsize``) and never a string key.

:meth:`SearchConfig.to_mapping` writes the very ``config.yaml`` the dict configurations wrote (same keys, same
order, optional sections only when present), so run directories of every version stay readable both ways.

The protocol's two splits are values (:class:`symmpo.protocol.Split`): the fitness split is what
:attr:`SearchConfig.train` measures on the fitness seeds, the held-out split moves it to a fresh dataset seed,
the re-score seeds and fresh evaluation resets, and :meth:`~symmpo.protocol.Split.apply` turns either into the
trainer configuration of its measurement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from symmpo import protocol
from symmpo.errors import SymmpoError
from symmpo.search import bounds as b
from symmpo.search.gp import GPConfig
from symmpo.search.multifidelity import Fidelity
from symmpo.symbolic.limits import MAX_IDENTIFIER_CHARS, shown
from symmpo.train.config import TrainConfig

Pairs = tuple[tuple[str, Any], ...]  # a small frozen mapping, in the order it was written


def _frozen(value: Any) -> Any:
    """A YAML value with its lists made tuples (so a frozen configuration holds nothing mutable)."""
    return tuple(_frozen(v) for v in value) if isinstance(value, list | tuple) else value


def _plain(value: Any) -> Any:
    """The inverse of :func:`_frozen`, for writing."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _scalar(value: Any, what: str) -> Any:
    """A parameter value: a number, text, true/false or a list of those (what a trainer or loss field takes)."""
    if isinstance(value, list | tuple):
        return tuple(_scalar(v, what) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise b.ConfigError(f"{what} must be a number, text or a list of them, got {shown(value)}")


@dataclass(frozen=True)
class TrainSection:
    """``train``: a :class:`~symmpo.train.config.TrainConfig` preset and its field overrides, as written."""

    preset: str = "default"
    overrides: Pairs = ()

    @classmethod
    def from_mapping(cls, value: Any) -> TrainSection:
        raw = b.as_mapping(value, "train")
        b.only_keys(raw, "train", ("preset", "overrides"))
        overrides = b.as_mapping(raw.get("overrides", {}), "train.overrides")
        b.only_keys(overrides, "train.overrides", [f.name for f in dataclasses.fields(TrainConfig)])
        return cls(
            b.as_text(raw.get("preset", "default"), "train.preset", MAX_IDENTIFIER_CHARS),
            tuple((k, _scalar(v, f"train.overrides.{k}")) for k, v in overrides.items()),
        )

    def to_mapping(self) -> dict[str, Any]:
        return {"preset": self.preset, "overrides": {k: _plain(v) for k, v in self.overrides}}

    def config(self, tasks: Sequence[str]) -> TrainConfig:
        """The trainer configuration of the fitness; a field it refuses is a user error."""
        try:
            return TrainConfig.preset(self.preset, tasks, **dict(self.overrides))
        except (SymmpoError, TypeError, ValueError, KeyError, OverflowError) as err:
            raise SymmpoError(f"train configuration: {' '.join(str(err).split())[:200]}") from None


@dataclass(frozen=True)
class CMAESSection:
    """``cmaes``: CMA-ES on the constants of one structure at a time (:class:`symmpo.search.evolve.GPStrategy`)."""

    enabled: bool
    popsize: int
    sigma0: float
    max_iterations: int

    @classmethod
    def from_mapping(cls, value: Any) -> CMAESSection:
        raw = b.as_mapping(value, "cmaes")
        keys = ("enabled", "popsize", "sigma0", "max_iterations")
        for key in keys:
            if key not in raw:
                raise b.ConfigError(f"cmaes has no {key!r}")
        b.only_keys(raw, "cmaes", keys)
        return cls(
            b.as_flag(raw["enabled"], "cmaes.enabled"),
            b.as_int(raw["popsize"], "cmaes.popsize", 2, b.MAX_CMAES_POPSIZE),
            b.as_positive(raw["sigma0"], "cmaes.sigma0", b.MAX_SIGMA0),
            b.as_int(raw["max_iterations"], "cmaes.max_iterations", 0, b.MAX_CMAES_ITERATIONS),
        )

    def to_mapping(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReferenceSpec:
    """``reference``: the named loss every candidate is trained next to (DPO) and its parameters."""

    name: str
    params: Pairs = ()

    @classmethod
    def from_mapping(cls, value: Any) -> ReferenceSpec:
        raw = b.as_mapping(value, "reference")
        name = b.as_text(raw.get("name"), "reference.name", MAX_IDENTIFIER_CHARS)
        return cls(name, tuple((k, _scalar(v, f"reference.{k}")) for k, v in raw.items() if k != "name"))

    def to_mapping(self) -> dict[str, Any]:
        return {"name": self.name, **{k: _plain(v) for k, v in self.params}}

    def get(self, key: str, default: Any = None) -> Any:
        """A parameter's value (``default`` when not given)."""
        return dict(self.params).get(key, default)

    def objective(self) -> Any:
        """The named :class:`~symmpo.objective.Objective` (an unknown loss or parameter is an ObjectiveError)."""
        from symmpo.objective import Objective

        return Objective.named(self.name, **dict(self.params))


@dataclass(frozen=True)
class HeldoutSection:
    """``heldout``: the final re-score's dataset seed, first evaluation reset and episodes (its training seeds
    are the run's ``rescore_seeds``); the protocol's defaults where not given."""

    dataset_seed: int = protocol.HELDOUT_DATASET_SEED
    reset_offset: int = protocol.HELDOUT_RESET_OFFSET
    eval_episodes: int = protocol.HELDOUT_EPISODES

    @classmethod
    def from_mapping(cls, value: Any) -> HeldoutSection:
        raw = b.as_mapping(value, "heldout")
        b.only_keys(raw, "heldout", ("dataset_seed", "reset_offset", "eval_episodes"))
        d = cls()
        return cls(
            b.as_int(raw.get("dataset_seed", d.dataset_seed), "heldout.dataset_seed", 0, b.MAX_SEED),
            b.as_int(raw.get("reset_offset", d.reset_offset), "heldout.reset_offset", 0, 2**31 - 1),
            b.as_int(raw.get("eval_episodes", d.eval_episodes), "heldout.eval_episodes", 1, 10**5),
        )

    def to_mapping(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def split(self, seeds: Sequence[int]) -> protocol.Split:
        """The held-out split of a measurement on training seeds ``seeds``."""
        return protocol.Split(
            self.dataset_seed, tuple(int(s) for s in seeds), self.reset_offset, self.eval_episodes
        )


@dataclass(frozen=True)
class NeuralSection:
    """``neural``: the architecture of a neural run's objective and its CMA-ES (:mod:`symmpo.neural.es`)."""

    phi_hidden: tuple[int, ...] = (8,)
    g_hidden: tuple[int, ...] = (8,)
    psi: str = "tied"
    tau: bool = False
    g_scale: float = 0.5
    beta: float = 0.1
    reduce: str = "sum"
    sigma0: float = 0.3
    bound: float = 8.0
    init_seed: int = 0
    sft: bool = False  # learn an imitation (NLL) weight too (NeuralArch.sft)

    @classmethod
    def from_mapping(cls, value: Any) -> NeuralSection:
        raw = {**NeuralSection().to_mapping(), "sft": False, **b.as_mapping(value, "neural")}
        b.only_keys(raw, "neural", [f.name for f in dataclasses.fields(cls)])
        return cls(
            b.as_widths(raw["phi_hidden"], "neural.phi_hidden"),
            b.as_widths(raw["g_hidden"], "neural.g_hidden"),
            b.as_text(raw["psi"], "neural.psi", 16),
            b.as_flag(raw["tau"], "neural.tau"),
            b.as_positive(raw["g_scale"], "neural.g_scale", 100.0),
            b.as_positive(raw["beta"], "neural.beta", 100.0),
            b.as_text(raw["reduce"], "neural.reduce", 16),
            b.as_positive(raw["sigma0"], "neural.sigma0", b.MAX_SIGMA0),
            b.as_positive(raw["bound"], "neural.bound", 1e6),
            b.as_int(raw["init_seed"], "neural.init_seed", 0, b.MAX_SEED),
            b.as_flag(raw["sft"], "neural.sft"),
        )

    def to_mapping(self) -> dict[str, Any]:
        # ``sft`` is written only when on: the config.yaml of a run from before it stays byte for byte the same
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "sft" or self.sft
        }

    def arch(self) -> dict[str, Any]:
        """The architecture's fields (``NeuralArch.from_dict``)."""
        m = {**self.to_mapping(), "sft": self.sft}
        return {k: m[k] for k in ("phi_hidden", "g_hidden", "psi", "tau", "g_scale", "beta", "reduce", "sft")}


def _gp(value: Any) -> GPConfig:
    """``gp``: GPConfig overrides; integer knobs are counts, the rest non-negative weights."""
    raw = b.as_mapping(value, "gp")
    fields = {f.name: f.default for f in dataclasses.fields(GPConfig)}
    b.only_keys(raw, "gp", list(fields))
    typed = {
        k: b.as_int(v, f"gp.{k}", 0, 10**6)
        if isinstance(fields[k], int)
        else b.as_number(v, f"gp.{k}", 0, 1e6)
        for k, v in raw.items()
    }
    gp = GPConfig(**typed)
    try:
        gp.operator_probs()
    except ValueError as err:
        raise SymmpoError(f"gp configuration: {' '.join(str(err).split())[:200]}") from None
    return gp


def _gp_mapping(gp: GPConfig) -> dict[str, Any]:
    """The fields that differ from GPConfig's defaults (what a preset's ``gp: {}`` means)."""
    default = GPConfig()
    return {
        f.name: getattr(gp, f.name)
        for f in dataclasses.fields(gp)
        if getattr(gp, f.name) != getattr(default, f.name)
    }


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
# in the order config.yaml has always had them: the presets' keys, then what a command adds
ORDER = (
    "grammar",
    "tasks",
    "seeds",
    "rescore_seeds",
    "heldout",
    "allow_heldout_env",
    "generations",
    "population",
    "seed",
    "chunk",
    "train",
    "gp",
    "cmaes",
    "hall_of_fame",
    "rescore_top",
    "reference",
    "preset",
    "fidelity",
    "grammar_name",
    "kind",
    "neural",
)


@dataclass(frozen=True)
class SearchConfig:
    """Everything a search run is configured by; ``train`` is the fitness's trainer configuration, derived from
    the ``train`` section and the tasks. Optional sections are None when absent (``grammar`` and ``gp`` belong to
    the GP strategy, ``kind`` and ``neural`` to the neural one, ``fidelity`` to successive halving)."""

    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    rescore_seeds: tuple[int, ...]
    generations: int
    population: int
    seed: int  # the search's own random generator
    chunk: int  # objectives trained together per job
    train_section: TrainSection
    cmaes: CMAESSection
    hall_of_fame: int
    rescore_top: int
    reference: ReferenceSpec
    heldout: HeldoutSection = HeldoutSection()
    allow_heldout_env: bool = False
    grammar: str | None = None
    grammar_name: str | None = None
    preset: str | None = None
    gp: GPConfig | None = None
    kind: str | None = None
    neural: NeuralSection | None = None
    fidelity: Fidelity | None = None
    train: TrainConfig = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """What no single field says: fresh re-score seeds, the protocol, the trainer and the reference loss."""
        if self.rescore_top > self.hall_of_fame:
            raise b.ConfigError(
                f"rescore_top must be an integer in [1, {self.hall_of_fame}], got {self.rescore_top}"
            )
        if self.fidelity is not None and self.fidelity.rungs[-1] != len(self.seeds):
            raise b.ConfigError(
                f"fidelity.rungs must increase and end at the number of fitness seeds ({len(self.seeds)}), "
                f"got {list(self.fidelity.rungs)}"
            )
        if set(self.seeds) & set(self.rescore_seeds):
            raise SymmpoError("rescore seeds must be fresh: they overlap the fitness seeds")
        protocol.check_fitness_tasks(self.tasks, self.allow_heldout_env)
        object.__setattr__(self, "train", self.train_section.config(self.tasks))
        if self.fidelity is not None:  # a rung's steps and rate end at the run's own
            object.__setattr__(self, "fidelity", self.fidelity.bind(self.train.steps, self.train.lr))
        # ProtocolError when the final re-score would not be held out
        protocol.check_heldout(self.fitness_split, self.heldout_split, "the end-of-run re-score")
        self.reference.objective()

    # -- the edge ---------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Any) -> SearchConfig:
        """A configuration from plain data (a preset, ``config.yaml``): every key checked, one-line errors."""
        raw = b.as_mapping(data, "the configuration")
        missing = [k for k in REQUIRED if k not in raw]
        if missing:
            raise b.ConfigError(f"the configuration has no {missing[0]!r}")
        unknown = [k for k in raw if k not in ORDER]
        if unknown:
            raise b.ConfigError(f"unknown configuration key {shown(unknown[0])}")
        seeds = b.as_seeds(raw["seeds"], "seeds (--seeds)")
        hof = b.as_int(raw["hall_of_fame"], "hall_of_fame", 1, b.MAX_HALL_OF_FAME)
        texts = {
            k: b.as_text(raw[k], k, 4096 if k == "grammar" else MAX_IDENTIFIER_CHARS)
            for k in ("grammar", "grammar_name", "preset", "kind")
            if k in raw
        }
        fidelity = raw.get("fidelity")
        return cls(
            tasks=b.as_tasks(raw["tasks"]),
            seeds=seeds,
            rescore_seeds=b.as_seeds(raw["rescore_seeds"], "rescore_seeds (--rescore-seeds)"),
            generations=b.as_int(raw["generations"], "generations (--generations)", 1, b.MAX_GENERATIONS),
            population=b.as_int(raw["population"], "population (--population)", 2, b.MAX_POPULATION),
            seed=b.as_int(raw["seed"], "seed (--search-seed)", 0, b.MAX_SEED),
            chunk=b.as_int(raw["chunk"], "chunk", 1, b.MAX_CHUNK),
            train_section=TrainSection.from_mapping(raw["train"]),
            cmaes=CMAESSection.from_mapping(raw["cmaes"]),
            hall_of_fame=hof,
            rescore_top=b.as_int(raw["rescore_top"], "rescore_top", 1, hof),
            reference=ReferenceSpec.from_mapping(raw["reference"]),
            heldout=HeldoutSection.from_mapping(raw.get("heldout", {})),
            allow_heldout_env=b.as_flag(raw.get("allow_heldout_env", False), "allow_heldout_env"),
            gp=_gp(raw["gp"]) if "gp" in raw else None,
            neural=NeuralSection.from_mapping(raw["neural"]) if "neural" in raw else None,
            fidelity=None if fidelity is None else Fidelity(*b.as_fidelity(fidelity, len(seeds))),
            **texts,
        )

    @classmethod
    def from_preset(cls, name: str) -> SearchConfig:
        """A named preset (:data:`symmpo.search.presets.PRESETS`)."""
        from symmpo.search.presets import preset_mapping

        return cls.from_mapping(preset_mapping(name))

    def override(self, **changes: Any) -> SearchConfig:
        """This configuration with the command line's (or the Python API's) values; ``None`` means 'not given'.
        The result is checked like any new configuration."""
        data = self.to_mapping()
        for key, value in changes.items():
            if value is None:
                continue
            if key not in data and key not in ORDER:
                raise SymmpoError(f"unknown configuration key {key!r}")
            data[key] = _plain(_frozen(value))
        return SearchConfig.from_mapping({k: data[k] for k in ORDER if k in data})

    def without(self, *keys: str) -> SearchConfig:
        """This configuration without the optional sections ``keys`` (a strategy's configuration drops the
        sections of another)."""
        return SearchConfig.from_mapping({k: v for k, v in self.to_mapping().items() if k not in keys})

    def to_mapping(self) -> dict[str, Any]:
        """Plain data for ``config.yaml``: the keys and order dict configurations always had."""
        sections: dict[str, Any] = {
            "grammar": self.grammar,
            "tasks": list(self.tasks),
            "seeds": list(self.seeds),
            "rescore_seeds": list(self.rescore_seeds),
            "heldout": self.heldout.to_mapping(),
            "allow_heldout_env": self.allow_heldout_env,
            "generations": self.generations,
            "population": self.population,
            "seed": self.seed,
            "chunk": self.chunk,
            "train": self.train_section.to_mapping(),
            "gp": None if self.gp is None else _gp_mapping(self.gp),
            "cmaes": self.cmaes.to_mapping(),
            "hall_of_fame": self.hall_of_fame,
            "rescore_top": self.rescore_top,
            "reference": self.reference.to_mapping(),
            "preset": self.preset,
            "fidelity": None if self.fidelity is None else self.fidelity.to_mapping(),
            "grammar_name": self.grammar_name,
            "kind": self.kind,
            "neural": None if self.neural is None else self.neural.to_mapping(),
        }
        return {k: sections[k] for k in ORDER if sections[k] is not None}

    # -- the protocol's splits --------------------------------------------------------------
    @property
    def fitness_split(self) -> protocol.Split:
        """What the search's fitness measures on: the trainer's dataset seed and resets, the fitness seeds."""
        return protocol.Split.of(self.train, self.seeds)

    @property
    def heldout_split(self) -> protocol.Split:
        """What the end-of-run re-score measures on: fresh dataset seed, re-score seeds and resets."""
        return self.heldout.split(self.rescore_seeds)

    @property
    def heldout_train(self) -> TrainConfig:
        """The re-score's trainer configuration: the fitness's moved to the held-out split."""
        return self.heldout_split.apply(self.train)
