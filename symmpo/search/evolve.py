"""The discovery loop: GP on structures + CMA-ES on constants, resumable, with honest final scores.

One generation = breed a population (GP), ask CMA-ES for constant vectors of the structure it is
tuning, train every *new* candidate on the run's fitness seeds (cached by canonical key, so duplicates
are never re-trained), tell CMA-ES, update the hall of fame, write an atomic checkpoint. All candidates
share the same seeds and therefore the same batches (common random numbers). DPO is trained on the same
seeds as a reference. After the last generation the hall of fame and DPO are re-scored on fresh seeds,
with standard errors, because a fitness that selection maximized is optimistically biased.
"""

from __future__ import annotations

import math
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from symmpo.search import gp
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.executors import Executor, check_interrupt
from symmpo.search.fitness import FitnessJob, aggregate, make_jobs, run_job, standard_error
from symmpo.search.rundir import RunDir

GenerationHook = Callable[[int, "Evolution"], None]


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A ``kill`` behaves like Ctrl-C: the loop stops between checkpoints, the run directory stays consistent."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def train_config_dict(train: dict[str, Any]) -> dict[str, Any]:
    """A run's ``train`` section (preset + overrides) as the trainer's config dict; a bad field is a user error."""
    from symmpo.train.config import TrainConfig

    try:
        cfg = TrainConfig.preset(train.get("preset", "default"), **train.get("overrides", {}))
    except (TypeError, ValueError) as err:
        from symmpo.errors import SymmpoError

        raise SymmpoError(f"train configuration: {err}") from err
    return cfg.to_dict()


def heldout_train_dict(config: dict[str, Any]) -> dict[str, Any]:
    """The trainer config of a run's final re-score: fresh dataset seed and evaluation resets (the protocol),
    refused when it overlaps the run's fitness."""
    from symmpo import protocol

    fitness = train_config_dict(config["train"])
    heldout = protocol.heldout_train(fitness, config.get("heldout"))
    protocol.check_run_heldout(
        fitness, config["seeds"], heldout, config["rescore_seeds"], "the end-of-run re-score"
    )
    return heldout


def run_generations(search: Any, total: int, desc: str, extra_label: str, extra_key: str) -> None:
    """Drive ``search.step()`` to ``total`` generations, then re-score once; the loop both searches share.

    ``search`` has ``generation``, ``final``, ``progress``, ``on_generation``, ``step()``, ``_rescore()``,
    ``state()`` and ``run_dir``. Extending a finished run (a larger ``--generations``) makes its final scores
    stale, so they are recomputed. A progress bar when ``search.progress``, else one log line per generation.
    """
    bar = None
    if search.progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=min(search.generation, total), desc=desc, unit="gen")
    try:
        with sigterm_as_interrupt():
            while search.generation < total:
                search.final = None
                rec = search.step()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        {
                            "best": f"{rec['best']:.1f}",
                            "median": f"{rec['median']:.1f}",
                            "dpo": f"{rec['reference']:.1f}",
                            extra_label: f"{rec[extra_key]:.3g}",
                        }
                    )
                else:
                    print(
                        f"{desc} generation {search.generation}/{total}: best {rec['best']:.2f} · median "
                        f"{rec['median']:.2f} · DPO {rec['reference']:.2f} · {extra_label} {rec[extra_key]:.3g}",
                        flush=True,
                    )
                if search.on_generation is not None:
                    search.on_generation(search.generation, search)
                check_interrupt()  # a Ctrl-C that Python dropped still stops the run here
            if search.final is None:
                search.final = search._rescore()
                search.run_dir.save_checkpoint(search.state())
    finally:
        if bar is not None:
            bar.close()


@dataclass
class Result:
    """What ``symmpo evolve`` prints at the end."""

    run: RunDir
    hall_of_fame: list[dict[str, Any]]
    reference: dict[str, Any]


class Evolution:
    """One search run bound to its run directory; :meth:`run` continues from the last checkpoint."""

    def __init__(
        self,
        config: dict[str, Any],
        run: RunDir,
        space: Any,
        executor: Executor,
        *,
        job_fn: Callable[[FitnessJob], list[dict[str, Any]]] = run_job,
        progress: bool = True,
        on_generation: GenerationHook | None = None,
    ):
        self.config = config
        self.run_dir = run
        self.space = space
        self.executor = executor
        self.job_fn = job_fn
        self.progress = progress
        self.on_generation = on_generation
        self.gp_config = gp.GPConfig(**config.get("gp", {}))
        self.train = train_config_dict(config["train"])
        self.heldout_train = heldout_train_dict(config)
        self._restore(run.load_checkpoint())

    # -- state ------------------------------------------------------------------------------
    def _restore(self, state: dict[str, Any] | None) -> None:
        if state is None:
            self.generation = 0
            self.rng = np.random.default_rng(int(self.config["seed"]))
            self.population: list[gp.Individual] = []
            self.cache: dict[str, dict[str, Any]] = {}
            self.hof = gp.HallOfFame(int(self.config["hall_of_fame"]))
            self.cma: ConstantSearch | None = None
            self.tuned: list[str] = []
            self.history: list[dict[str, Any]] = []
            self.final: dict[str, Any] | None = None
            return
        self.generation = int(state["generation"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.population = [gp.Individual.from_state(self.space, s) for s in state["population"]]
        self.cache = state["cache"]
        self.hof = gp.HallOfFame.from_state(
            self.space, int(self.config["hall_of_fame"]), state["hall_of_fame"]
        )
        self.cma = ConstantSearch.from_state(state["cmaes"]) if state["cmaes"] else None
        self.tuned = list(state["tuned"])
        self.history = state["history"]
        self.final = state.get("final")

    def state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "rng": self.rng.bit_generator.state,
            "population": [ind.state(self.space) for ind in self.population],
            "cache": self.cache,
            "hall_of_fame": self.hof.state(self.space),
            "cmaes": self.cma.state() if self.cma else None,
            "tuned": self.tuned,
            "history": self.history,
            "final": self.final,
        }

    # -- evaluation -------------------------------------------------------------------------
    def _evaluate(
        self, candidates: list[gp.Individual], seeds: list[int], tag: str, train: dict[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Train every candidate on tasks × ``seeds`` (fitness config unless ``train``); returns
        {key: {"scores": {task/seed: score}, ...}}."""
        unique: dict[str, gp.Individual] = {}
        for c in candidates:
            unique.setdefault(c.key, c)
        todo = list(unique.values())
        if not todo:
            return {}
        dicts = [self.space.objective_dict(c.genome) for c in todo]
        jobs = make_jobs(dicts, self.config["tasks"], seeds, train or self.train, int(self.config["chunk"]))
        out: dict[str, dict[str, Any]] = {c.key: {"scores": {}, "reasons": []} for c in todo}
        results = self.executor.imap(self.job_fn, [job for job, _ in jobs])
        for (job, idx), records in zip(jobs, results, strict=True):
            log = []
            for i, rec in zip(idx, records, strict=True):
                ind = todo[i]
                out[ind.key]["scores"][f"{job.task}/{job.seed}"] = rec["score"]
                if rec.get("reason"):
                    out[ind.key]["reasons"].append(f"{job.task}/{job.seed}: {rec['reason']}")
                log.append(
                    {
                        "generation": self.generation,
                        "phase": tag,
                        "key": ind.key,
                        "origin": ind.origin,
                        "formula": self.space.formula(ind.genome),
                        "task": job.task,
                        "seed": job.seed,
                        "score": rec["score"],
                        "reason": rec.get("reason"),
                        "seconds": round(float(rec.get("seconds", 0.0)), 3),
                    }
                )
            self.run_dir.log_evaluations(log)
        return out

    def _score_generation(self, candidates: list[gp.Individual]) -> int:
        """Fill in fitness from the cache, training only unseen keys; returns how many were trained."""
        fresh = [c for c in candidates if c.key not in self.cache]
        results = self._evaluate(fresh, list(self.config["seeds"]), "search")
        for key, res in results.items():
            scores = list(res["scores"].values())
            self.cache[key] = {
                "fitness": aggregate(scores),
                "scores": res["scores"],
                "reasons": res["reasons"],
            }
        for c in candidates:
            c.fitness = float(self.cache[c.key]["fitness"])
        return len(results)

    # -- CMA-ES --------------------------------------------------------------------------------
    def _cma_candidates(self) -> list[gp.Individual]:
        if self.cma is None:
            return []
        template = self.space.from_dict(self.cma.template)
        out = []
        for raw in self.cma.ask(int(self.rng.integers(2**31))):
            genome = self.space.with_constants(template, raw)
            out.append(gp.make_individual(self.space, genome, "cmaes"))
        return out

    def _update_cma(self) -> None:
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
                int(self.rng.integers(2**31)),
            )
            return

    # -- the loop ---------------------------------------------------------------------------------
    def _reference(self) -> gp.Individual:
        ref = dict(self.config["reference"])
        genome = self.space.reference(ref.pop("name"), **ref)
        return gp.make_individual(self.space, genome, "reference")

    def step(self) -> dict[str, Any]:
        """Run one generation and checkpoint it."""
        t0 = time.perf_counter()
        n = int(self.config["population"])
        stats = {"invalid": 0, "duplicate": 0, "failed": 0}
        if self.generation == 0:
            population = gp.initial_population(self.space, n, self.rng)
        else:
            pool = self.population + [
                e for e in self.hof.entries if e.key not in {p.key for p in self.population}
            ]
            population, stats = gp.next_generation(self.space, pool, n, self.gp_config, self.rng)
        cma_inds = self._cma_candidates()
        reference = self._reference()
        trained = self._score_generation(population + cma_inds + [reference])
        if self.cma is not None:
            self.cma.tell([c.fitness for c in cma_inds])
        merged = {p.key: p for p in population}
        for c in cma_inds:  # CMA-ES candidates compete in selection like any child
            merged.setdefault(c.key, c)
        self.population = list(merged.values())
        self.hof.update(self.population)
        self._update_cma()
        finite = [p.fitness for p in self.population if math.isfinite(p.fitness)]
        seconds = time.perf_counter() - t0
        record = {
            "generation": self.generation,
            "best": max(finite) if finite else -math.inf,
            "median": statistics.median(finite) if finite else -math.inf,
            "hof_best": self.hof.best().fitness if self.hof.best() else -math.inf,
            "reference": self.cache[reference.key]["fitness"],
            "candidates": len(population) + len(cma_inds),
            "trained": trained,
            "diverged": len(self.population) - len(finite),
            **stats,
            "seconds": round(seconds, 2),
            "evals_per_min": round(60.0 * trained / seconds, 2) if seconds > 0 else 0.0,
        }
        self.history.append(record)
        self.generation += 1
        self.run_dir.save_checkpoint(self.state())
        self.run_dir.write_hall_of_fame(self._hall_of_fame_entries())
        return record

    def run(self) -> Result:
        """Continue to the configured number of generations, then re-score; safe to interrupt anywhere."""
        run_generations(self, int(self.config["generations"]), "evolve", "evals_min", "evals_per_min")
        entries = self._hall_of_fame_entries()
        self.run_dir.write_hall_of_fame(entries, self.final["reference"])
        self._write_artefacts()
        return Result(self.run_dir, entries, self.final["reference"])

    # -- final scores and outputs ------------------------------------------------------------------
    def _rescore(self) -> dict[str, Any]:
        """Hall-of-fame leaders and DPO held out (fresh dataset, training seeds and resets; see
        ``symmpo.protocol``): per-seed means over tasks, mean ± standard error."""
        top = self.hof.entries[: int(self.config["rescore_top"])]
        reference = self._reference()
        seeds = [int(s) for s in self.config["rescore_seeds"]]
        results = self._evaluate(top + [reference], seeds, "rescore", self.heldout_train)
        summary = {}
        for key, res in results.items():
            per_seed = []
            for s in seeds:
                vals = [res["scores"][f"{t}/{s}"] for t in self.config["tasks"]]
                per_seed.append(aggregate(vals))
            summary[key] = {
                "mean": aggregate(per_seed),
                "se": standard_error(per_seed),
                "per_seed": per_seed,
                "seeds": seeds,
                "reasons": res["reasons"],
            }
        return {"scores": summary, "reference": {"key": reference.key, **summary[reference.key]}}

    def _named(self, genome: Any, rank: int) -> Any:
        """A hall-of-fame objective named for what found it, e.g. ``evolved-hopper-mixed-0.5-01``."""
        rename = getattr(genome, "renamed", None)  # spaces whose genomes are not Objectives keep theirs
        return rename(f"evolved-{'+'.join(self.config['tasks'])}-{rank:02d}") if rename else genome

    def _hall_of_fame_entries(self) -> list[dict[str, Any]]:
        entries = []
        scores = self.final["scores"] if self.final else {}
        for rank, ind in enumerate(self.hof.entries, start=1):
            cached = self.cache[ind.key]
            entry = {
                "rank": rank,
                "formula": self.space.formula(ind.genome),
                "latex": self.space.latex(ind.genome),
                "objective": self.space.objective_dict(self._named(ind.genome, rank)),
                "constants": self.space.named_constants(ind.genome),
                "size": ind.size,
                "origin": ind.origin,
                **({"validity": self.space.validity(ind.genome)} if hasattr(self.space, "validity") else {}),
                "key": ind.key,
                "search_fitness": {
                    "mean": cached["fitness"],
                    "seeds": list(self.config["seeds"]),
                    "tasks": list(self.config["tasks"]),
                },
            }
            if ind.key in scores:
                s = scores[ind.key]
                entry["fresh_fitness"] = {
                    "mean": s["mean"],
                    "se": s["se"],
                    "seeds": s["seeds"],
                    "per_seed": s["per_seed"],
                }
            entries.append(entry)
        return entries

    def _write_artefacts(self) -> None:
        from symmpo.search import plots

        plots.write_all(
            self.run_dir.path,
            self.history,
            self.space,
            [e.genome for e in self.hof.entries[: int(self.config["rescore_top"])]],
        )
        for rank, ind in enumerate(self.hof.entries[: int(self.config["rescore_top"])], start=1):
            self.space.save(
                self._named(ind.genome, rank), self.run_dir.path / "objectives" / f"hof_{rank:02d}.yaml"
            )
