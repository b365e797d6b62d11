"""The discovery strategy: GP on structures + CMA-ES on the constants of the most promising one.

One generation = breed a population (GP: elites, crossover, mutations, every child re-checked by the
validity checker; the checks and canonical keys are computed by the executor's workers, which would
otherwise wait for the main process), ask CMA-ES for constant vectors of the structure it is tuning, and
hand all of them to the search loop (:mod:`symmpo.search.loop`), which trains the new ones next to DPO on
the run's fitness seeds and updates the hall of fame; then tell CMA-ES and merge the population. Parents are
drawn from the population and the search's hall of fame. When CMA-ES stops paying (its own criteria or
``max_iterations``), it moves on to the best structure in the hall of fame whose constants were not tuned yet.

:class:`GPStrategy` is the optimiser; :class:`FormulaRepresentation` is how its candidates (objectives of a
search space) travel, are kept, pruned, described and saved. Before a candidate enters the hall of fame, the
additive terms of its φ⁻¹ and ψ that do nothing on the log-probabilities its trainings saw are removed
(:mod:`symmpo.objective.prune`); the hall of fame dedupes, prints, exports and re-scores that pruned form, while
breeding and the fitness cache keep the genome as bred. The share of terms found dead is counted over every
trained candidate and over the hall of fame (``summary.json``, the closing report).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symmpo.search import gp
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.config import ReferenceSpec, SearchConfig
from symmpo.search.executors import Executor
from symmpo.search.loop import Search
from symmpo.search.rundir import RunDir
from symmpo.search.strategy import Candidate, Leader, Pruned


class GPStrategy:
    """Typed GP over a search space's genomes plus CMA-ES on one structure's constants (the optimiser of
    :class:`symmpo.search.strategy.Strategy`)."""

    def __init__(self, config: SearchConfig, space: Any, executor: Executor | None = None):
        self.config = config
        self.space = space
        self.gp_config = config.gp or gp.GPConfig()
        # children are screened (checker + canonical key) in the workers, a batch at a time
        self.screen = gp.executor_screen(space, executor) if executor else gp.screen_here(space)
        self.keys = gp.executor_screen(space, executor, check=False) if executor else self._keys_here
        self.lookahead = int(getattr(executor, "workers", 1))
        # this generation's children and CMA-ES candidates (ask → tell), and the breeding counters
        self.children: list[gp.Individual] = []
        self.tuning: list[gp.Individual] = []
        self.breeding: dict[str, int] = {}

    # -- state ------------------------------------------------------------------------------
    def restore(self, state: dict[str, Any] | None, rng: np.random.Generator) -> None:
        if state is None:
            self.population: list[gp.Individual] = []
            self.cma: ConstantSearch | None = None
            self.tuned: list[str] = []
            return
        self.population = [gp.Individual.from_state(self.space, s) for s in state["population"]]
        self.cma = ConstantSearch.from_state(state["cmaes"]) if state["cmaes"] else None
        self.tuned = list(state["tuned"])

    def state(self) -> dict[str, Any]:
        return {
            "population": [ind.state(self.space) for ind in self.population],
            "cmaes": self.cma.state() if self.cma else None,
            "tuned": self.tuned,
        }

    # -- ask / tell -------------------------------------------------------------------------
    def _candidate(self, ind: gp.Individual) -> Candidate:
        return candidate(self.space, ind.genome, ind.key, ind.size, ind.origin)

    def ask(self, rng: np.random.Generator, generation: int, leaders: Sequence[Leader]) -> list[Candidate]:
        n = self.config.population
        self.breeding = {"invalid": 0, "duplicate": 0, "failed": 0}
        if generation == 0:
            self.children = gp.initial_population(
                self.space, n, rng, screen=self.screen, lookahead=self.lookahead
            )
        else:
            keys = {p.key for p in self.population}
            pool = self.population + [_individual(e) for e in leaders if e.key not in keys]
            self.children, self.breeding = gp.next_generation(
                self.space, pool, n, self.gp_config, rng, screen=self.screen, lookahead=self.lookahead
            )
        self.tuning = self._cma_candidates(rng)
        return [self._candidate(ind) for ind in self.children + self.tuning]

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
        self, fitness: list[float], rng: np.random.Generator, leaders: Sequence[Leader]
    ) -> dict[str, Any]:
        for ind, f in zip(self.children + self.tuning, fitness, strict=True):
            ind.fitness = f
        if self.cma is not None:
            self.cma.tell([c.fitness for c in self.tuning])
        merged = {p.key: p for p in self.children}
        for c in self.tuning:  # CMA-ES candidates compete in selection like any child
            merged.setdefault(c.key, c)
        self.population = list(merged.values())
        self._update_cma(rng, leaders)
        return dict(self.breeding)

    def _update_cma(self, rng: np.random.Generator, leaders: Sequence[Leader]) -> None:
        """Keep tuning while it pays; else start on the best structure with constants not tuned yet."""
        cfg = self.config.cmaes
        if not cfg.enabled:
            return
        if self.cma is not None and not (self.cma.stopped() or self.cma.iterations >= cfg.max_iterations):
            return
        self.cma = None
        for leader in leaders:
            genome = leader.candidate.genome
            structure = self.space.structure_key(genome)
            x0 = self.space.constants(genome)
            if structure in self.tuned or not x0:
                continue
            self.tuned.append(structure)
            self.cma = ConstantSearch(
                structure,
                self.space.to_dict(genome),
                x0,
                cfg.sigma0,
                cfg.popsize,
                int(rng.integers(2**31)),
            )
            return


def candidate(space: Any, genome: Any, key: str, size: int, origin: str) -> Candidate:
    """A genome of ``space`` as the search sees it."""
    return Candidate(key, space.objective_dict(genome), origin, space.formula(genome), genome, size)


def _individual(leader: Leader) -> gp.Individual:
    c = leader.candidate
    return gp.Individual(c.genome, c.key, c.size, c.origin, leader.fitness)


class FormulaRepresentation:
    """Objectives of a search space as candidates (see :class:`symmpo.search.strategy.Representation`): jobs
    receive objective files, the hall of fame shows them pruned, the finished run saves the leaders as objective
    files and plots."""

    label = "evolve"
    load = None  # candidates travel as objective files

    def __init__(self, config: SearchConfig, space: Any):
        self.config = config
        self.space = space

    def reference(self, spec: ReferenceSpec) -> Candidate:
        genome = self.space.reference(spec.name, **dict(spec.params))
        return candidate(self.space, genome, self.space.key(genome), self.space.size(genome), "reference")

    # -- pruning ----------------------------------------------------------------------------
    def count_dead(self, c: Candidate, occurring: dict[str, Any]) -> tuple[int, int]:
        if not hasattr(self.space, "count_dead"):
            return 0, 0
        return self.space.count_dead(c.genome, occurring)

    def prune(self, c: Candidate, occurring: dict[str, Any]) -> Pruned | None:
        if not hasattr(self.space, "prune"):
            return None
        p = self.space.prune(c.genome, occurring)
        key = c.key if p.objective is c.genome else self.space.key(p.objective)
        shown = candidate(self.space, p.objective, key, self.space.size(p.objective), c.origin)
        return Pruned(shown, p.terms, p.pruned, p.kept, p.notes, p.branches)

    # -- checkpoints ------------------------------------------------------------------------
    def leader_state(self, leader: Leader) -> dict[str, Any]:
        c = leader.candidate
        out = {
            "objective": self.space.to_dict(c.genome),
            "key": c.key,
            "size": c.size,
            "origin": c.origin,
            "fitness": leader.fitness,
        }
        if leader.pruned is not None:
            s = leader.pruned
            out["shown"] = {
                "objective": self.space.to_dict(s.candidate.genome),
                "key": s.candidate.key,
                "terms": s.terms,
                "pruned": s.pruned,
                "kept": s.kept,
                "notes": list(s.notes),
                **({"branches": s.branches} if s.branches else {}),
            }
        return out

    def leader_from_state(self, st: dict[str, Any]) -> Leader:
        genome = self.space.from_dict(st["objective"])
        c = candidate(self.space, genome, str(st["key"]), int(st["size"]), str(st["origin"]))
        pruned = None
        if st.get("shown") is not None:
            s = st["shown"]
            g = self.space.from_dict(s["objective"])
            shown = candidate(self.space, g, str(s["key"]), self.space.size(g), c.origin)
            notes = tuple(str(n) for n in s["notes"])
            branches = int(s.get("branches", 0))
            pruned = Pruned(shown, int(s["terms"]), int(s["pruned"]), int(s["kept"]), notes, branches)
        return Leader(c, float(st["fitness"]), 0, pruned)

    # -- hall of fame and outputs -----------------------------------------------------------
    def _named(self, genome: Any, rank: int) -> Any:
        """A hall-of-fame objective named for what found it, e.g. ``evolved-hopper-mixed-0.5-01``."""
        rename = getattr(genome, "renamed", None)  # spaces whose genomes are not Objectives keep theirs
        return rename(f"evolved-{'+'.join(self.config.tasks)}-{rank:02d}") if rename else genome

    def describe(self, leader: Leader, rank: int) -> dict[str, Any]:
        shown = leader.shown
        g = shown.genome
        return {
            "formula": shown.formula,
            "latex": self.space.latex(g),
            "objective": self.space.objective_dict(self._named(g, rank)),
            "constants": self.space.named_constants(g),
            "size": self.space.size(g),
            "origin": leader.candidate.origin,
            **({"validity": self.space.validity(g)} if hasattr(self.space, "validity") else {}),
            "key": leader.identity,
            **({"pruned": leader.pruned.fields(leader.key)} if leader.pruned is not None else {}),
        }

    def save(
        self, run: RunDir, leaders: Sequence[Leader], entries: list[dict[str, Any]], finished: bool
    ) -> None:
        """Once re-scored: the re-scored leaders (pruned) as objective files, and their components plotted."""
        if not finished:
            return
        from symmpo.search.plots import plot_components

        top = [e.shown.genome for e in leaders[: self.config.rescore_top]]
        run.file("plots").mkdir(parents=True, exist_ok=True)
        plot_components(self.space, top, run.file("plots", "components.png"))
        for rank, genome in enumerate(top, start=1):
            self.space.save(self._named(genome, rank), run.file("objectives", f"hof_{rank:02d}.yaml"))


class Evolution(Search):
    """A discovery run (GP + CMA-ES over ``space``) bound to its run directory; ``run()`` continues it.
    ``options`` are :class:`~symmpo.search.loop.Search`'s (``job_fn``, ``progress``, ``on_generation``)."""

    def __init__(self, config: SearchConfig, run: RunDir, space: Any, executor: Executor, **options: Any):
        strategy = GPStrategy(config, space, executor)
        super().__init__(config, run, strategy, FormulaRepresentation(config, space), executor, **options)
