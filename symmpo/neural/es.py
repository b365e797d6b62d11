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

import math
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import SymmpoError
from symmpo.neural.components import NeuralArch, NeuralObjective, objective_from_any
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.executors import Executor
from symmpo.search.loop import Candidate, Search
from symmpo.search.rundir import RunDir

NEURAL_DEFAULTS: dict[str, Any] = {
    "phi_hidden": [8],
    "g_hidden": [8],
    "psi": "tied",
    "tau": False,
    "g_scale": 0.5,
    "beta": 0.1,
    "reduce": "sum",
    "sigma0": 0.3,
    "bound": 8.0,
    "init_seed": 0,
}
BEST_DIR = "neural"


def neural_config(search_config: dict[str, Any], **neural: Any) -> dict[str, Any]:
    """A search preset's configuration with the neural section added (``None`` values keep defaults)."""
    config = dict(search_config)
    config["kind"] = "neural"
    config["neural"] = {**NEURAL_DEFAULTS, **{k: v for k, v in neural.items() if v is not None}}
    config.pop("grammar", None)
    config.pop("gp", None)
    NeuralArch.from_dict(arch_dict(config))  # refuse a bad architecture before any work
    return config


def arch_dict(config: dict[str, Any]) -> dict[str, Any]:
    n = config["neural"]
    return {k: n[k] for k in ("phi_hidden", "g_hidden", "psi", "tau", "g_scale", "beta", "reduce")}


class WeightStrategy:
    """CMA-ES over a neural objective's flat weight vector (see :class:`symmpo.search.loop.Strategy`)."""

    label = "evolve-neural"
    shown = ("sigma", "sigma")
    load = staticmethod(objective_from_any)

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.arch = NeuralArch.from_dict(arch_dict(config))
        self._reference: Candidate | None = None

    # -- state ------------------------------------------------------------------------------
    def start(self, rng: np.random.Generator) -> None:
        n = self.config["neural"]
        self.cma = ConstantSearch(
            "neural",
            self.arch.to_dict(),
            self.arch.init(int(n["init_seed"])).tolist(),
            float(n["sigma0"]),
            int(self.config["population"]),
            int(rng.integers(2**31)),
            float(n["bound"]),
        )
        self.hof: list[dict[str, Any]] = []  # {"key", "theta", "fitness", "generation"}, best first

    def restore(self, state: dict[str, Any]) -> None:
        self.cma = ConstantSearch.from_state(state["cmaes"])
        self.hof = state["hall_of_fame"]

    def state(self) -> dict[str, Any]:
        return {"cmaes": self.cma.state(), "hall_of_fame": self.hof}

    # -- ask / tell -------------------------------------------------------------------------
    def reference(self) -> Candidate:
        if self._reference is None:
            from symmpo.objective import Objective

            ref = dict(self.config["reference"])
            obj = Objective.named(ref.pop("name"), **ref)
            d = obj.to_dict()
            self._reference = Candidate("reference:" + obj.canonical_key(), d, "reference", d.get("g"))
        return self._reference

    def network(self, theta: Any, name: str = "neural", key: str | None = None) -> Candidate:
        """A weight vector as a candidate; its key is the digest of architecture and weights."""
        net = NeuralObjective(self.arch, np.asarray(theta), name)
        return Candidate(key or net.digest(), net.to_dict(), "es", "neural")

    def ask(self, rng: np.random.Generator, generation: int) -> list[Candidate]:
        asked = self.cma.ask(int(rng.integers(2**31)))
        return [self.network(x, f"neural-g{generation}-{i}") for i, x in enumerate(asked)]

    def tell(
        self, asked: list[Candidate], fitness: list[float], generation: int, rng: np.random.Generator
    ) -> tuple[list[float], dict[str, Any]]:
        self.cma.tell(fitness)
        for c, f in zip(asked, fitness, strict=True):
            if math.isfinite(f):
                theta = c.objective["theta"]
                self.hof.append({"key": c.key, "theta": theta, "fitness": f, "generation": generation})
        # best first; ties keep the earlier candidate (stable sort)
        self.hof = sorted(self.hof, key=lambda e: -e["fitness"])[: int(self.config["hall_of_fame"])]
        return fitness, {"sigma": self.cma.sigma}

    # -- hall of fame and outputs -----------------------------------------------------------
    def leaders(self) -> list[Candidate]:
        return [self.network(e["theta"], key=e["key"]) for e in self.hof]

    def describe(self, leader: Candidate, rank: int) -> dict[str, Any]:
        return {
            "kind": "neural",
            "key": leader.key,
            "file": f"{BEST_DIR}/hof_{rank:02d}.yaml",
            "n_params": self.arch.size,
            "generation": self.hof[rank - 1]["generation"],
        }

    def write(
        self, run: RunDir, entries: list[dict[str, Any]], history: list[dict[str, Any]], finished: bool
    ) -> None:
        """Every leader as a network file (YAML + npz, with its scores), and the fitness plot."""
        for entry, e in zip(entries, self.hof, strict=True):
            run.file(str(Path(entry["file"]).with_suffix(".npz")))  # the weights beside it: checked too
            NeuralObjective(self.arch, np.asarray(e["theta"]), f"neural-hof-{entry['rank']:02d}").save(
                run.file(entry["file"]),
                extra={k: entry[k] for k in ("search_fitness", "fresh_fitness") if k in entry},
            )
        if history:
            from symmpo.search.plots import plot_fitness

            run.file("plots").mkdir(exist_ok=True)
            plot_fitness(history, run.file("plots", "fitness.png"))


class NeuralEvolution(Search):
    """A neural run (CMA-ES over network weights) bound to its run directory; ``run()`` continues it.
    ``options`` are :class:`~symmpo.search.loop.Search`'s (``job_fn``, ``progress``, ``on_generation``)."""

    def __init__(self, config: dict[str, Any], run: RunDir, executor: Executor, **options: Any):
        if config.get("kind") != "neural":
            raise SymmpoError(
                f"{run.path} is not a neural run (use symmpo evolve --resume for symbolic runs)"
            )
        super().__init__(config, run, WeightStrategy(config), executor, **options)


def load_best(run: RunDir, rank: int = 1) -> tuple[NeuralObjective, dict[str, Any]]:
    """A neural run's ``rank``-th network and its hall-of-fame entry (for distillation)."""
    config = run.read_config()
    if config.get("kind") != "neural":
        raise SymmpoError(f"{run.path} is not a neural run (made by symmpo evolve-neural)")
    entries = run.read_hall_of_fame()
    if not entries:
        raise SymmpoError(f"{run.path}: the hall of fame is empty (no candidate survived training yet)")
    if not 1 <= rank <= len(entries):
        raise SymmpoError(f"{run.path}: --rank must be in 1..{len(entries)}")
    entry = entries[rank - 1]
    if not isinstance(entry.get("file"), str):
        raise SymmpoError(f"{run.path}: hall-of-fame entry {rank} names no network file")
    run.file(str(Path(entry["file"]).with_suffix(".npz")))
    return NeuralObjective.load(run.file(entry["file"])), entry
