"""The discovery strategy: GP on structures + CMA-ES on the constants of the most promising one.

One generation = breed a population (GP: elites, crossover, mutations, every child re-checked by the
validity checker; the checks and canonical keys are computed by the executor's workers, which would
otherwise wait for the main process), ask CMA-ES for constant vectors of the structure it is tuning, and
hand all of them to the search loop (:mod:`symmpo.search.loop`), which trains the new ones next to DPO on
the run's fitness seeds; then tell CMA-ES, merge the population and update the hall of fame. When CMA-ES stops
paying (its own criteria or ``max_iterations``), it moves on to the best structure whose constants
were not tuned yet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symmpo.search import gp
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.executors import Executor
from symmpo.search.loop import Candidate, Search
from symmpo.search.rundir import RunDir


class GPStrategy:
    """Typed GP over a search space's genomes plus CMA-ES on one structure's constants (see
    :class:`symmpo.search.loop.Strategy`)."""

    label = "evolve"
    shown = ("evals_min", "evals_per_min")
    load = None  # candidates travel as objective files

    def __init__(self, config: dict[str, Any], space: Any, executor: Executor | None = None):
        self.config = config
        self.space = space
        self.gp_config = gp.GPConfig(**config.get("gp", {}))
        # children are screened (checker + canonical key) in the workers, a batch at a time
        self.screen = gp.executor_screen(space, executor) if executor else gp.screen_here(space)
        self.keys = gp.executor_screen(space, executor, check=False) if executor else self._keys_here
        self.lookahead = int(getattr(executor, "workers", 1))
        self._reference: Candidate | None = None
        # this generation's children and CMA-ES candidates (ask → tell), and the breeding counters
        self.children: list[gp.Individual] = []
        self.tuning: list[gp.Individual] = []
        self.breeding: dict[str, int] = {}

    # -- state ------------------------------------------------------------------------------
    def start(self, rng: np.random.Generator) -> None:
        self.population: list[gp.Individual] = []
        self.hof = gp.HallOfFame(int(self.config["hall_of_fame"]))
        self.cma: ConstantSearch | None = None
        self.tuned: list[str] = []

    def restore(self, state: dict[str, Any]) -> None:
        self.population = [gp.Individual.from_state(self.space, s) for s in state["population"]]
        self.hof = gp.HallOfFame.from_state(
            self.space, int(self.config["hall_of_fame"]), state["hall_of_fame"]
        )
        self.cma = ConstantSearch.from_state(state["cmaes"]) if state["cmaes"] else None
        self.tuned = list(state["tuned"])

    def state(self) -> dict[str, Any]:
        return {
            "population": [ind.state(self.space) for ind in self.population],
            "hall_of_fame": self.hof.state(self.space),
            "cmaes": self.cma.state() if self.cma else None,
            "tuned": self.tuned,
        }

    # -- ask / tell -------------------------------------------------------------------------
    def candidate(self, ind: gp.Individual) -> Candidate:
        return Candidate(
            ind.key, self.space.objective_dict(ind.genome), ind.origin, self.space.formula(ind.genome)
        )

    def reference(self) -> Candidate:
        if self._reference is None:
            ref = dict(self.config["reference"])
            genome = self.space.reference(ref.pop("name"), **ref)
            self._reference = self.candidate(gp.make_individual(self.space, genome, "reference"))
        return self._reference

    def ask(self, rng: np.random.Generator, generation: int) -> list[Candidate]:
        n = int(self.config["population"])
        self.breeding = {"invalid": 0, "duplicate": 0, "failed": 0}
        if generation == 0:
            self.children = gp.initial_population(
                self.space, n, rng, screen=self.screen, lookahead=self.lookahead
            )
        else:
            pool = self.population + [
                e for e in self.hof.entries if e.key not in {p.key for p in self.population}
            ]
            self.children, self.breeding = gp.next_generation(
                self.space, pool, n, self.gp_config, rng, screen=self.screen, lookahead=self.lookahead
            )
        self.tuning = self._cma_candidates(rng)
        return [self.candidate(ind) for ind in self.children + self.tuning]

    def _cma_candidates(self, rng: np.random.Generator) -> list[gp.Individual]:
        if self.cma is None:
            return []
        template = self.space.from_dict(self.cma.template)
        genomes = [self.space.with_constants(template, raw) for raw in self.cma.ask(int(rng.integers(2**31)))]
        return [
            gp.Individual(g, v.key, v.size, "cmaes") for g, v in zip(genomes, self.keys(genomes), strict=True)
        ]

    def _keys_here(self, genomes: list[Any]) -> list[gp.Screened]:
        return [gp.screen_one(self.space, g, check=False) for g in genomes]

    def tell(
        self, asked: list[Candidate], fitness: list[float], generation: int, rng: np.random.Generator
    ) -> tuple[list[float], dict[str, Any]]:
        for ind, f in zip(self.children + self.tuning, fitness, strict=True):
            ind.fitness = f
        if self.cma is not None:
            self.cma.tell([c.fitness for c in self.tuning])
        merged = {p.key: p for p in self.children}
        for c in self.tuning:  # CMA-ES candidates compete in selection like any child
            merged.setdefault(c.key, c)
        self.population = list(merged.values())
        self.hof.update(self.population)
        self._update_cma(rng)
        return [p.fitness for p in self.population], dict(self.breeding)

    def _update_cma(self, rng: np.random.Generator) -> None:
        """Keep tuning while it pays; else start on the best structure with constants not tuned yet."""
        cfg = self.config["cmaes"]
        if not cfg.get("enabled", True):
            return
        if self.cma is not None and not (
            self.cma.stopped() or self.cma.iterations >= int(cfg["max_iterations"])
        ):
            return
        self.cma = None
        for ind in self.hof.entries:
            structure = self.space.structure_key(ind.genome)
            x0 = self.space.constants(ind.genome)
            if structure in self.tuned or not x0:
                continue
            self.tuned.append(structure)
            self.cma = ConstantSearch(
                structure,
                self.space.to_dict(ind.genome),
                x0,
                float(cfg["sigma0"]),
                int(cfg["popsize"]),
                int(rng.integers(2**31)),
            )
            return

    # -- hall of fame and outputs -----------------------------------------------------------
    def leaders(self) -> list[Candidate]:
        return [self.candidate(ind) for ind in self.hof.entries]

    def _named(self, genome: Any, rank: int) -> Any:
        """A hall-of-fame objective named for what found it, e.g. ``evolved-hopper-mixed-0.5-01``."""
        rename = getattr(genome, "renamed", None)  # spaces whose genomes are not Objectives keep theirs
        return rename(f"evolved-{'+'.join(self.config['tasks'])}-{rank:02d}") if rename else genome

    def describe(self, leader: Candidate, rank: int) -> dict[str, Any]:
        ind = self.hof.entries[rank - 1]
        return {
            "formula": leader.formula,
            "latex": self.space.latex(ind.genome),
            "objective": self.space.objective_dict(self._named(ind.genome, rank)),
            "constants": self.space.named_constants(ind.genome),
            "size": ind.size,
            "origin": ind.origin,
            **({"validity": self.space.validity(ind.genome)} if hasattr(self.space, "validity") else {}),
            "key": ind.key,
        }

    def write(
        self, run: RunDir, entries: list[dict[str, Any]], history: list[dict[str, Any]], finished: bool
    ) -> None:
        """Once re-scored: fitness and component plots, and the leaders as objective files."""
        if not finished:
            return
        from symmpo.search import plots

        top = self.hof.entries[: int(self.config["rescore_top"])]
        plots.write_all(run, history, self.space, [e.genome for e in top])
        for rank, ind in enumerate(top, start=1):
            self.space.save(self._named(ind.genome, rank), run.file("objectives", f"hof_{rank:02d}.yaml"))


class Evolution(Search):
    """A discovery run (GP + CMA-ES over ``space``) bound to its run directory; ``run()`` continues it.
    ``options`` are :class:`~symmpo.search.loop.Search`'s (``job_fn``, ``progress``, ``on_generation``)."""

    def __init__(self, config: dict[str, Any], run: RunDir, space: Any, executor: Executor, **options: Any):
        super().__init__(config, run, GPStrategy(config, space, executor), executor, **options)
