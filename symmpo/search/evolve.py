"""The discovery strategy: GP on structures + CMA-ES on the constants of the most promising one.

One generation = breed a population (GP: elites, crossover, mutations, every child re-checked by the
validity checker; the checks and canonical keys are computed by the executor's workers, which would
otherwise wait for the main process), ask CMA-ES for constant vectors of the structure it is tuning, and
hand all of them to the search loop (:mod:`symmpo.search.loop`), which trains the new ones next to DPO on
the run's fitness seeds; then tell CMA-ES, merge the population and update the hall of fame. When CMA-ES stops
paying (its own criteria or ``max_iterations``), it moves on to the best structure whose constants
were not tuned yet.

Before a candidate enters the hall of fame, the additive terms of its φ⁻¹ and ψ that do nothing on the
log-probabilities its trainings saw are removed (:mod:`symmpo.objective.prune`); the hall of fame dedupes,
prints, exports and re-scores that pruned form, while breeding and the fitness cache keep the genome as bred.
The share of terms found dead is counted over every trained candidate and over the hall of fame
(``summary.json``, the closing report).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symmpo.objective.prune import THRESHOLD
from symmpo.search import gp
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.executors import Executor
from symmpo.search.loop import Candidate, Search
from symmpo.search.rundir import RunDir

PRUNING_ZERO = {"candidates": 0, "terms": 0, "dead": 0}  # counters over every trained candidate


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
        self.observed: dict[str, Any] = {}  # key -> what its trainings saw (this generation's, from the loop)
        self.fresh: set[str] = set()  # keys trained this generation (counted once)

    # -- state ------------------------------------------------------------------------------
    def start(self, rng: np.random.Generator) -> None:
        self.population: list[gp.Individual] = []
        self.hof = gp.HallOfFame(int(self.config["hall_of_fame"]))
        self.cma: ConstantSearch | None = None
        self.tuned: list[str] = []
        self.pruning = dict(PRUNING_ZERO)

    def restore(self, state: dict[str, Any]) -> None:
        self.population = [gp.Individual.from_state(self.space, s) for s in state["population"]]
        self.hof = gp.HallOfFame.from_state(
            self.space, int(self.config["hall_of_fame"]), state["hall_of_fame"]
        )
        self.cma = ConstantSearch.from_state(state["cmaes"]) if state["cmaes"] else None
        self.tuned = list(state["tuned"])
        self.pruning = {k: int(state.get("pruning", PRUNING_ZERO)[k]) for k in PRUNING_ZERO}

    def state(self) -> dict[str, Any]:
        return {
            "population": [ind.state(self.space) for ind in self.population],
            "hall_of_fame": self.hof.state(self.space),
            "cmaes": self.cma.state() if self.cma else None,
            "tuned": self.tuned,
            "pruning": self.pruning,
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

    def observe(self, occurring: dict[str, Any], trained: set[str]) -> None:
        """What the trainings of this generation's candidates saw (key -> task/seed -> sketch); ``trained``:
        the keys trained just now (counted once in the run's pruning share)."""
        self.observed = {k: v for k, v in occurring.items() if v}
        self.fresh = set(trained)

    def _prune(self, inds: list[gp.Individual]) -> None:
        """Count dead terms of the freshly trained candidates; prune those that could enter the hall of fame."""
        if not hasattr(self.space, "prune"):
            return
        fresh = self.fresh
        for ind in inds:
            occurring = self.observed.get(ind.key)
            if not occurring or not np.isfinite(ind.fitness):
                continue
            if ind.key in fresh:
                terms, dead = self.space.count_dead(ind.genome, occurring)
                self.pruning["candidates"] += 1
                self.pruning["terms"] += terms
                self.pruning["dead"] += dead
                fresh.discard(ind.key)
            if ind.shown is None and self.hof.admits(ind.fitness):
                p = self.space.prune(ind.genome, occurring)
                key = ind.key if p.objective is ind.genome else self.space.key(p.objective)
                ind.shown = gp.Shown(p.objective, key, p.terms, p.pruned, p.kept, p.notes)

    def tell(
        self, asked: list[Candidate], fitness: list[float], generation: int, rng: np.random.Generator
    ) -> tuple[list[float], dict[str, Any]]:
        for ind, f in zip(self.children + self.tuning, fitness, strict=True):
            ind.fitness = f
        self._prune(self.children + self.tuning)
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
        """The hall of fame in its pruned form (what is printed is what the held-out re-score trains), under
        the keys its fitness is cached by."""
        return [
            Candidate(
                ind.key, self.space.objective_dict(ind.display), ind.origin, self.space.formula(ind.display)
            )
            for ind in self.hof.entries
        ]

    def _named(self, genome: Any, rank: int) -> Any:
        """A hall-of-fame objective named for what found it, e.g. ``evolved-hopper-mixed-0.5-01``."""
        rename = getattr(genome, "renamed", None)  # spaces whose genomes are not Objectives keep theirs
        return rename(f"evolved-{'+'.join(self.config['tasks'])}-{rank:02d}") if rename else genome

    def describe(self, leader: Candidate, rank: int) -> dict[str, Any]:
        ind = self.hof.entries[rank - 1]
        shown = ind.display
        return {
            "formula": leader.formula,
            "latex": self.space.latex(shown),
            "objective": self.space.objective_dict(self._named(shown, rank)),
            "constants": self.space.named_constants(shown),
            "size": self.space.size(shown),
            "origin": ind.origin,
            **({"validity": self.space.validity(shown)} if hasattr(self.space, "validity") else {}),
            "key": ind.identity,
            **({"pruned": _pruned_fields(ind)} if ind.shown is not None else {}),
        }

    def pruning_summary(self) -> dict[str, Any]:
        """The share of dead terms: over every trained candidate, and over the hall of fame as printed."""
        hof = [e.shown for e in self.hof.entries if e.shown is not None]
        terms = sum(s.terms for s in hof)
        removed = sum(s.pruned for s in hof)
        c = self.pruning
        return {
            "threshold": THRESHOLD,
            "candidates": {
                **c,
                "dead_share": round(c["dead"] / c["terms"], 4) if c["terms"] else 0.0,
            },
            "hall_of_fame": {
                "entries": len(hof),
                "terms": terms,
                "pruned": removed,
                "kept_for_validity": sum(s.kept for s in hof),
                "pruned_share": round(removed / terms, 4) if terms else 0.0,
            },
        }

    def write(
        self, run: RunDir, entries: list[dict[str, Any]], history: list[dict[str, Any]], finished: bool
    ) -> None:
        """``summary.json`` (the pruning share) every generation; once re-scored: fitness and component plots,
        and the leaders (pruned) as objective files."""
        run.write_summary({"pruning": self.pruning_summary()})
        if not finished:
            return
        from symmpo.search import plots

        top = self.hof.entries[: int(self.config["rescore_top"])]
        plots.write_all(run, history, self.space, [e.display for e in top])
        for rank, ind in enumerate(top, start=1):
            self.space.save(self._named(ind.display, rank), run.file("objectives", f"hof_{rank:02d}.yaml"))


def _pruned_fields(ind: gp.Individual) -> dict[str, Any]:
    """A hall-of-fame entry's pruning: terms of φ⁻¹ and ψ, removed, kept for validity (and why)."""
    s = ind.shown
    assert s is not None
    out: dict[str, Any] = {"terms": s.terms, "removed": s.pruned, "kept_for_validity": s.kept}
    if s.notes:
        out["notes"] = list(s.notes)
    if s.pruned:
        out["as_bred"] = ind.key
    return out


class Evolution(Search):
    """A discovery run (GP + CMA-ES over ``space``) bound to its run directory; ``run()`` continues it.
    ``options`` are :class:`~symmpo.search.loop.Search`'s (``job_fn``, ``progress``, ``on_generation``)."""

    def __init__(self, config: dict[str, Any], run: RunDir, space: Any, executor: Executor, **options: Any):
        super().__init__(config, run, GPStrategy(config, space, executor), executor, **options)
