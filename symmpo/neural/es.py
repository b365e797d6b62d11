"""ES over the weights of a neural objective: CMA-ES (separable when the vector is long), resumable.

A strategy of the one search loop (:mod:`symmpo.search.loop`): configurations from
:mod:`symmpo.search.presets` (tasks, fitness seeds, held-out re-score, training preset, chunking), the
loop's evaluation, cache, checkpoints, hall-of-fame file and re-score, the executors, and the
pickle-free, replayable CMA-ES of :mod:`symmpo.search.cmaes` (``CMA_diagonal`` above 20 parameters).
Neural objectives travel to workers as ``symmpo-neural/1`` dicts (architecture + weights, exact
float64), which :func:`symmpo.neural.components.objective_from_any` rebuilds; symbolic dicts (the DPO
reference) work there too, so one job can hold both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import SymmpoError
from symmpo.neural.components import NeuralArch, NeuralObjective, objective_from_any
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.config import NeuralSection, ReferenceSpec, SearchConfig
from symmpo.search.executors import Executor
from symmpo.search.loop import Search
from symmpo.search.rundir import RunDir
from symmpo.search.strategy import Candidate, Leader

BEST_DIR = "neural"
KIND = "neural"  # the strategy's name in symmpo.strategies and in a run's config.yaml


def neural_config(search_config: SearchConfig, **neural: Any) -> SearchConfig:
    """A search preset's configuration made a neural run's: ``kind``, the ``neural`` section (``None`` values keep
    :class:`~symmpo.search.config.NeuralSection`'s defaults), without the GP strategy's grammar and ``gp``."""
    given = {k: v for k, v in neural.items() if v is not None}
    config = search_config.without("grammar", "gp").override(
        kind=KIND, neural={**NeuralSection().to_mapping(), **given}
    )
    NeuralArch.from_dict(config_arch(config))  # refuse a bad architecture before any work
    return config


def config_arch(config: SearchConfig) -> dict[str, Any]:
    """The architecture fields of a neural run's configuration."""
    if config.neural is None:
        raise SymmpoError("the configuration has no neural section (it is not a neural run's)")
    return config.neural.arch()


class WeightStrategy:
    """CMA-ES over a neural objective's flat weight vector (the optimiser of
    :class:`symmpo.search.strategy.Strategy`)."""

    def __init__(self, config: SearchConfig):
        self.config = config
        self.networks = NetworkRepresentation(config)

    # -- state ------------------------------------------------------------------------------
    def restore(self, state: dict[str, Any] | None, rng: np.random.Generator) -> None:
        if state is not None:
            self.cma = ConstantSearch.from_state(state["cmaes"])
            return
        n = self.networks.section
        arch = self.networks.arch
        self.cma = ConstantSearch(
            "neural",
            arch.to_dict(),
            arch.init(n.init_seed).tolist(),
            n.sigma0,
            self.config.population,
            int(rng.integers(2**31)),
            n.bound,
        )

    def state(self) -> dict[str, Any]:
        return {"cmaes": self.cma.state()}

    # -- ask / tell -------------------------------------------------------------------------
    def ask(self, rng: np.random.Generator, generation: int, leaders: Sequence[Leader]) -> list[Candidate]:
        asked = self.cma.ask(int(rng.integers(2**31)))
        return [self.networks.network(x, f"neural-g{generation}-{i}") for i, x in enumerate(asked)]

    def tell(
        self, fitness: list[float], rng: np.random.Generator, leaders: Sequence[Leader]
    ) -> dict[str, Any]:
        self.cma.tell(fitness)
        return {"sigma": self.cma.sigma}


class NetworkRepresentation:
    """Neural objectives of one architecture as candidates (see :class:`symmpo.search.strategy.Representation`):
    jobs receive ``symmpo-neural/1`` dicts, the hall of fame keeps the weights, every leader is saved as a
    network file (YAML + npz) beside ``hall_of_fame.yaml``."""

    label = "evolve-neural"
    load = staticmethod(objective_from_any)

    def __init__(self, config: SearchConfig):
        self.config = config
        self.arch = NeuralArch.from_dict(config_arch(config))
        assert config.neural is not None
        self.section = config.neural

    def reference(self, spec: ReferenceSpec) -> Candidate:
        obj = spec.objective()
        d = obj.to_dict()
        return Candidate("reference:" + obj.canonical_key(), d, "reference", d.get("g"))

    def network(self, theta: Any, name: str = "neural", key: str | None = None) -> Candidate:
        """A weight vector as a candidate; its key is the digest of architecture and weights."""
        net = NeuralObjective(self.arch, np.asarray(theta), name)
        return Candidate(key or net.digest(), net.to_dict(), "es", "neural")

    def leader_state(self, leader: Leader) -> dict[str, Any]:
        theta = leader.candidate.objective["theta"]
        return {"key": leader.key, "theta": theta, "fitness": leader.fitness, "generation": leader.generation}

    def leader_from_state(self, st: dict[str, Any]) -> Leader:
        return Leader(
            self.network(st["theta"], key=str(st["key"])), float(st["fitness"]), int(st["generation"])
        )

    def describe(self, leader: Leader, rank: int) -> dict[str, Any]:
        return {
            "kind": KIND,
            "key": leader.key,
            "file": f"{BEST_DIR}/hof_{rank:02d}.yaml",
            "n_params": self.arch.size,
            "generation": leader.generation,
            # the learned imitation weight, readable without loading the network (--sft)
            **({"w_sft": self.arch.sft_weight(leader.candidate.objective["theta"])} if self.arch.sft else {}),
        }

    def save(
        self, run: RunDir, leaders: Sequence[Leader], entries: list[dict[str, Any]], finished: bool
    ) -> None:
        """Every leader as a network file (YAML + npz, with its scores), after every generation."""
        for entry, leader in zip(entries, leaders, strict=True):
            run.file(str(Path(entry["file"]).with_suffix(".npz")))  # the weights beside it: checked too
            theta = np.asarray(leader.candidate.objective["theta"])
            NeuralObjective(self.arch, theta, f"neural-hof-{entry['rank']:02d}").save(
                run.file(entry["file"]),
                extra={k: entry[k] for k in ("search_fitness", "fresh_fitness") if k in entry},
            )


class NeuralEvolution(Search):
    """A neural run (CMA-ES over network weights) bound to its run directory; ``run()`` continues it.
    ``options`` are :class:`~symmpo.search.loop.Search`'s (``job_fn``, ``progress``, ``on_generation``)."""

    def __init__(self, config: SearchConfig, run: RunDir, executor: Executor, **options: Any):
        if config.kind != KIND:
            raise SymmpoError(
                f"{run.path} is not a neural run (use symmpo evolve --resume for symbolic runs)"
            )
        strategy = WeightStrategy(config)
        super().__init__(config, run, strategy, strategy.networks, executor, **options)


def load_best(run: RunDir, rank: int = 1) -> tuple[NeuralObjective, dict[str, Any]]:
    """A neural run's ``rank``-th network and its hall-of-fame entry (for distillation)."""
    best = run.best(rank)
    if best.entry.get("kind") != KIND:
        raise SymmpoError(f"{run.path} is not a neural run (made by symmpo evolve-neural)")
    return NeuralObjective.load(best.file), best.entry
