"""One search loop for every strategy: ask, train, tell, hall of fame, checkpoint; a held-out re-score at the end.

A :class:`~symmpo.search.strategy.Strategy` proposes candidates and learns from their fitness, in the ask/tell
style of pycma and evosax, and its :class:`~symmpo.search.strategy.Representation` says how its candidates
travel, are kept and are described; :class:`Search` does everything else once, whatever is evolved (formulas by
GP + CMA-ES in :mod:`symmpo.search.evolve`, network weights by CMA-ES in :mod:`symmpo.neural.es`):

* **evaluation** — every candidate not seen before trains on the run's tasks × fitness seeds through the
  executor (:func:`symmpo.search.jobs.train_objectives`), next to the reference loss (DPO, which the search
  owns), all on the same seeds and batches (common random numbers); results are cached by key, so a duplicate
  never trains twice;
* **multi-fidelity** — optionally (``fidelity`` in the configuration) successive halving over the fitness seeds:
  every candidate on the first seeds, the best share promoted to more (:mod:`symmpo.search.multifidelity`);
* **hall of fame** — the search keeps it (:mod:`symmpo.search.halloffame`) and hands it to the strategy, which
  may breed from it;
* **what occurred** — the jobs report a sketch of the log-probabilities each training saw
  (:mod:`symmpo.train.occurring`); for a representation that can prune, it is cached with the fitness, and the
  dead terms of a candidate are removed before it enters the hall of fame (:mod:`symmpo.objective.prune`);
* **bookkeeping** — one history record and one line of ``evaluations.jsonl`` per training, an atomic
  checkpoint per generation (the strategy's state inside), the hall of fame rewritten after each;
* **resume** — a checkpoint restores the generation, the search's random generator, the cache and the
  strategy, so a resumed run makes the very same choices as an uninterrupted one;
* **re-score** — after the last generation the hall-of-fame leaders and the reference train again on the
  held-out split (a fresh dataset seed, fresh training seeds and evaluation resets; see
  :mod:`symmpo.protocol`), because a fitness that selection maximized is optimistically biased.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from symmpo.machine import fingerprint
from symmpo.search.config import SearchConfig
from symmpo.search.executors import Executor, check_interrupt, sigterm_as_interrupt
from symmpo.search.halloffame import PRUNING_ZERO, HallOfFame, pruning_summary
from symmpo.search.jobs import FitnessJob, JobFn, aggregate, run_job, seed_summary, train_objectives
from symmpo.search.multifidelity import promote, rekey, rung_fitness, rung_of, score_key
from symmpo.search.rundir import RunDir
from symmpo.search.strategy import Candidate, Leader, Representation, Strategy
from symmpo.train.config import TrainConfig

__all__ = ["Candidate", "Result", "Search"]


GenerationHook = Callable[[int, "Search"], None]

# The loop's own fields of a checkpoint's state, checked before use (the strategy checks its own by rebuilding)
STATE_FIELDS: dict[str, Callable[[Any], bool]] = {
    "generation": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "rng": lambda v: isinstance(v, dict),
    "cache": lambda v: (
        isinstance(v, dict) and all(isinstance(c, dict) and "fitness" in c for c in v.values())
    ),
    "history": lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v),
    "final": lambda v: v is None or (isinstance(v, dict) and isinstance(v.get("reference"), dict)),
    "hall_of_fame": lambda v: isinstance(v, list) and all(isinstance(e, dict) for e in v),
}


@dataclass
class Result:
    """What a finished search reports: its run directory, hall of fame and the reference's held-out score."""

    run: RunDir
    hall_of_fame: list[dict[str, Any]]
    reference: dict[str, Any]


class Search:
    """One search run bound to its run directory; :meth:`run` continues from the last checkpoint."""

    def __init__(
        self,
        config: SearchConfig,
        run: RunDir,
        strategy: Strategy,
        representation: Representation,
        executor: Executor,
        *,
        job_fn: JobFn = run_job,
        progress: bool = True,
        on_generation: GenerationHook | None = None,
    ):
        self.config = config
        self.run_dir = run
        self.strategy = strategy
        self.representation = representation
        self.executor = executor
        self.job_fn = job_fn
        self.progress = progress
        self.on_generation = on_generation
        self.train = config.train  # the fitness split
        self.heldout_train = config.heldout_train  # the held-out split (the end-of-run re-score)
        self.reference = representation.reference(config.reference)
        self.prunes = hasattr(representation, "prune")
        self.fidelity = config.fidelity
        state = run.load_checkpoint()
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as err:
            # the fields every checkpoint has were checked by RunDir.read_checkpoint; the strategy's own are
            # checked by rebuilding them, and what fails to rebuild is an edited or foreign checkpoint
            from symmpo.search.rundir import RunDirError

            what = " ".join(f"{type(err).__name__}: {err}".split())[:160]
            raise RunDirError(
                f"{run.file('checkpoint.json')}: the checkpoint cannot be restored ({what})"
            ) from None

    # -- state ------------------------------------------------------------------------------
    def _restore(self, state: dict[str, Any] | None) -> None:
        if state is not None:
            for key, ok in STATE_FIELDS.items():
                if key not in state or not ok(state[key]):
                    raise ValueError(f"the state's {key!r} is missing or malformed")
        self.hall_of_fame = HallOfFame(self.config.hall_of_fame)
        if state is None:
            self.generation = 0
            self.rng = np.random.default_rng(self.config.seed)
            self.cache: dict[str, dict[str, Any]] = {}
            self.history: list[dict[str, Any]] = []
            self.final: dict[str, Any] | None = None
            self.pruning = dict(PRUNING_ZERO)
            self.strategy.restore(None, self.rng)
            return
        self.generation = int(state["generation"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.cache = state["cache"]
        self.history = state["history"]
        self.final = state.get("final")
        self.pruning = {k: int(state.get("pruning", PRUNING_ZERO)[k]) for k in PRUNING_ZERO}
        self.hall_of_fame.leaders = [self.representation.leader_from_state(e) for e in state["hall_of_fame"]]
        self.strategy.restore(state, self.rng)
        missing = [e.key for e in self.hall_of_fame.leaders if e.key not in self.cache]
        if missing:  # the hall of fame refers to trainings the cache does not hold: an edited checkpoint
            raise ValueError(f"hall-of-fame entry {missing[0][:40]!r} has no cached fitness")
        if self.fidelity is not None:  # the rungs read per-seed scores; an edited checkpoint may lack them
            for entry in self.cache.values():
                if not isinstance(entry.get("scores"), dict) or not isinstance(entry.get("reasons"), list):
                    raise ValueError("a cached fitness has no per-seed scores")
        for leader in self.hall_of_fame.leaders:
            leader.rung = self.rung(leader.key)

    def rung(self, key: str) -> int:
        """The fidelity rung a cached candidate's fitness was measured at (0 for a flat fitness)."""
        return rung_of(self.cache[key], self.config.tasks, self.config.seeds, self.fidelity)

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds: the loop's fields, the hall of fame, and the strategy's own."""
        return {
            "generation": self.generation,
            "rng": self.rng.bit_generator.state,
            **self.strategy.state(),
            "hall_of_fame": [self.representation.leader_state(e) for e in self.hall_of_fame.leaders],
            **({"pruning": self.pruning} if self.prunes else {}),
            "cache": self.cache,
            "history": self.history,
            "final": self.final,
        }

    @property
    def leaders(self) -> list[Leader]:
        """The hall of fame, best first."""
        return self.hall_of_fame.leaders

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self,
        candidates: list[Candidate],
        seeds: list[int],
        phase: str,
        train: TrainConfig,
        rung: dict[str, Any] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Train each distinct candidate on tasks × ``seeds`` with trainer config ``train``, logging every
        training (with ``rung``, the ``steps`` and ``lr`` a fidelity rung trains at other than the run's);
        ``{key: {"scores": {task/seed: score}, "reasons": [...]}}``."""
        distinct: dict[str, Candidate] = {}
        for c in candidates:
            distinct.setdefault(c.key, c)
        unique = list(distinct.values())

        def log(job: FitnessJob, idx: list[int], records: list[dict[str, Any]]) -> None:
            self.run_dir.log_evaluations(
                [
                    {
                        "generation": self.generation,
                        "phase": phase,
                        "key": unique[i].key,
                        "origin": unique[i].origin,
                        "formula": unique[i].formula,
                        "task": job.task,
                        "seed": job.seed,
                        "score": rec["score"],
                        "reason": rec.get("reason"),
                        "seconds": round(float(rec.get("seconds", 0.0)), 3),
                        **(rung or {}),
                    }
                    for i, rec in zip(idx, records, strict=True)
                ]
            )

        results = train_objectives(
            self.executor,
            [c.objective for c in unique],
            self.config.tasks,
            seeds,
            train,
            self.config.chunk,
            job_fn=self.job_fn,
            load=self.representation.load,
            on_job=log,
        )
        return {c.key: res for c, res in zip(unique, results, strict=True)}

    def enter(self, candidates: list[Candidate], trained: set[str]) -> None:
        """Offer this generation's distinct candidates to the hall of fame. With a representation that prunes,
        the dead terms of the candidates trained just now are counted (once each), and those that could enter
        are shown pruned (judged on what their trainings saw)."""
        entering = []
        for c in candidates:
            leader = Leader(c, float(self.cache[c.key]["fitness"]), self.generation, rung=self.rung(c.key))
            occurring = self.cache[c.key].get("occurring") if self.prunes else None
            if occurring and math.isfinite(leader.fitness):
                if c.key in trained:
                    terms, dead = self.representation.count_dead(c, occurring)  # type: ignore[attr-defined]
                    self.pruning["candidates"] += 1
                    self.pruning["terms"] += terms
                    self.pruning["dead"] += dead
                if self.hall_of_fame.admits(leader.fitness, leader.rung):
                    leader.pruned = self.representation.prune(c, occurring)  # type: ignore[attr-defined]
            entering.append(leader)
        self.hall_of_fame.update(entering)

    def step(self) -> dict[str, Any]:
        """Run one generation and checkpoint it."""
        t0 = time.perf_counter()
        asked = self.strategy.ask(self.rng, self.generation, self.leaders)
        reference = self.reference
        distinct = list({c.key: c for c in reversed(asked)}.values())[::-1]  # first of each key, in order
        rungs: dict[str, Any] = {}
        if self.fidelity is None:
            fresh = [c for c in [*asked, reference] if c.key not in self.cache]
            results = self.evaluate(fresh, list(self.config.seeds), "search", self.train)
            for key, res in results.items():
                self.cache[key] = {
                    "fitness": aggregate(list(res["scores"].values())),
                    "scores": res["scores"],
                    "reasons": res["reasons"],
                    **({"occurring": res["occurring"]} if self.prunes and res.get("occurring") else {}),
                }
            trained = set(results)
        else:
            trained, rungs = self.climb(distinct, reference)
        fitness = [float(self.cache[c.key]["fitness"]) for c in asked]
        self.enter(distinct, trained)
        extra = self.strategy.tell(fitness, self.rng, self.leaders)
        population = [float(self.cache[c.key]["fitness"]) for c in distinct]
        finite = [f for f in population if math.isfinite(f)]
        seconds = time.perf_counter() - t0
        record = {
            "generation": self.generation,
            "best": max(finite) if finite else -math.inf,
            "median": statistics.median(finite) if finite else -math.inf,
            "hof_best": self.leaders[0].fitness if self.leaders else -math.inf,
            "reference": self.cache[reference.key]["fitness"],
            "candidates": len(asked),
            "trained": len(trained),
            "diverged": len(population) - len(finite),
            **rungs,
            **extra,
            "seconds": round(seconds, 2),
            "evals_per_min": round(60.0 * len(trained) / seconds, 2) if seconds > 0 else 0.0,
            "machine": fingerprint(),  # the same seeds give other numbers on another CPU (symmpo/machine.py)
        }
        self.history.append(record)
        self.generation += 1
        self.run_dir.save_checkpoint(self.state())
        self.write_outputs()
        return record

    def climb(self, distinct: list[Candidate], reference: Candidate) -> tuple[set[str], dict[str, Any]]:
        """Successive halving over the fitness seeds (:mod:`symmpo.search.multifidelity`): this generation's
        distinct candidates train on the first rung's seeds, the best share of them on the next rung's, and so
        on; each trains only the seeds its cache entry lacks. The reference climbs every rung. Returns the keys
        new to the cache and the history fields (candidates per rung, seed-trainings)."""
        assert self.fidelity is not None
        fid, tasks, seeds = self.fidelity, self.config.tasks, self.config.seeds
        new = {c.key for c in [*distinct, reference] if c.key not in self.cache}
        pool, per_rung, trainings = list(distinct), [], 0
        for i in range(len(fid.rungs)):
            rung_seeds, tag, overrides = fid.seeds(seeds, i), fid.tag(i), fid.overrides(i)
            train = dataclasses.replace(self.train, **overrides) if overrides else self.train
            per_rung.append(len(pool))
            members = list({c.key: c for c in [*pool, reference]}.values())
            groups: dict[tuple[int, ...], list[Candidate]] = {}
            for c in members:
                scores = self.cache.get(c.key, {}).get("scores", {})
                lack = tuple(s for s in rung_seeds if any(score_key(t, s, tag) not in scores for t in tasks))
                if lack:
                    groups.setdefault(lack, []).append(c)
            for lack, group in groups.items():
                results = self.evaluate(group, list(lack), "search", train, overrides)
                trainings += len(group) * len(lack) * len(tasks)
                for key, res in results.items():
                    self.merge(key, rekey(res, tag))
            if i + 1 < len(fid.rungs):
                score = {c.key: rung_fitness(self.cache[c.key], tasks, rung_seeds, tag) for c in pool}
                keep = set(
                    promote(
                        [c.key for c in pool],
                        score,
                        {c.key: c.size for c in pool},
                        fid.promoted_count(len(pool)),
                    )
                )
                pool = [c for c in pool if c.key in keep]
        return new, {"per_rung": per_rung, "seed_trainings": trainings}

    def merge(self, key: str, res: dict[str, Any]) -> None:
        """Add a candidate's new per-seed results to its cache entry; its fitness is the mean over the seeds of
        the highest rung it reached."""
        entry = self.cache.setdefault(key, {"fitness": -math.inf, "scores": {}, "reasons": []})
        entry["scores"].update(res["scores"])
        entry["reasons"].extend(res["reasons"])
        if self.prunes and res.get("occurring"):
            entry.setdefault("occurring", {}).update(res["occurring"])
        assert self.fidelity is not None
        rung = self.rung(key)
        reached = self.fidelity.seeds(self.config.seeds, rung)
        entry["fitness"] = rung_fitness(entry, self.config.tasks, reached, self.fidelity.tag(rung))

    def rescore(self) -> dict[str, Any]:
        """The top ``rescore_top`` leaders (as shown) and the reference on the held-out split (fresh dataset,
        training seeds and resets; see ``symmpo.protocol``): per-seed means over tasks, mean ± standard error."""
        top = [e.shown for e in self.leaders[: self.config.rescore_top]]
        reference = self.reference
        seeds = list(self.config.rescore_seeds)
        results = self.evaluate([*top, reference], seeds, "rescore", self.heldout_train)
        summary = {key: seed_summary(res, self.config.tasks, seeds) for key, res in results.items()}
        return {"scores": summary, "reference": {"key": reference.key, **summary[reference.key]}}

    def prepare_data(self) -> None:
        """Build (or load) every fitness dataset and π_ref before the first generation, behind a progress bar of
        its own: on a fresh machine this is minutes of work a generation bar would show as 0 %."""
        from symmpo.train.fitness import prepare

        work = [(t, s) for t in self.config.tasks for s in self.config.seeds]
        if self.progress:
            from tqdm import tqdm

            work = tqdm(work, desc="datasets and references", unit="task-seed")
        for task, seed in work:
            prepare(task, seed, self.train, progress=self.progress)  # a pool's simulation has its own bar

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> Result:
        """Continue to the configured number of generations, then re-score; safe to interrupt anywhere.

        Extending a finished run (a larger ``--generations``) makes its final scores stale, so they are
        recomputed. A progress bar when ``progress``, else one log line per generation.
        """
        total = self.config.generations
        label = self.representation.label
        if self.generation == 0 and not self.cache and self.job_fn is run_job:
            self.prepare_data()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=min(self.generation, total), desc=label, unit="gen")
        try:
            with sigterm_as_interrupt():
                while self.generation < total:
                    self.final = None
                    rec = self.step()
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(
                            {
                                "best": f"{rec['best']:.1f}",
                                "median": f"{rec['median']:.1f}",
                                "dpo": f"{rec['reference']:.1f}",
                                "evals/min": f"{rec['evals_per_min']:.3g}",
                            }
                        )
                    else:
                        print(
                            f"{label} generation {self.generation}/{total}: best {rec['best']:.2f} · median "
                            f"{rec['median']:.2f} · DPO {rec['reference']:.2f} · evals/min "
                            f"{rec['evals_per_min']:.3g}",
                            flush=True,
                        )
                    if self.on_generation is not None:
                        self.on_generation(self.generation, self)
                    check_interrupt()  # a Ctrl-C that Python dropped still stops the run here
                if self.final is None:
                    self.final = self.rescore()
                    self.run_dir.save_checkpoint(self.state())
        finally:
            if bar is not None:
                bar.close()
        entries = self.write_outputs()
        return Result(self.run_dir, entries, self.final["reference"])

    # -- outputs ----------------------------------------------------------------------------
    def hall_of_fame_entries(self) -> list[dict[str, Any]]:
        """The hall of fame as written to ``hall_of_fame.yaml``: the representation's fields, the search
        fitness, and the held-out scores once the run is re-scored."""
        scores = self.final["scores"] if self.final else {}
        entries = []
        for rank, leader in enumerate(self.leaders, start=1):
            entry = {
                "rank": rank,
                **self.representation.describe(leader, rank),
                "search_fitness": {
                    "mean": self.cache[leader.key]["fitness"],
                    "seeds": list(self.config.seeds),
                    "tasks": list(self.config.tasks),
                },
            }
            if self.fidelity is not None:  # the seeds it was measured on, and its rung (1-based) of how many
                rung = self.rung(leader.key)
                entry["search_fitness"]["seeds"] = self.fidelity.seeds(self.config.seeds, rung)
                entry["search_fitness"]["rung"] = rung + 1
                entry["search_fitness"]["rungs"] = len(self.fidelity.rungs)
                fid = self.fidelity
                if fid.steps is not None:
                    entry["search_fitness"]["steps"] = fid.steps[rung]
                if fid.lr is not None:
                    entry["search_fitness"]["lr"] = fid.lr[rung]
            if leader.key in scores:
                s = scores[leader.key]
                entry["fresh_fitness"] = {
                    "mean": s["mean"],
                    "se": s["se"],
                    "seeds": list(s["seeds"]),
                    "per_seed": list(s["per_seed"]),
                }
            entries.append(entry)
        return entries

    def write_outputs(self) -> list[dict[str, Any]]:
        """``hall_of_fame.yaml`` (with the reference's held-out score once there is one), ``summary.json`` (the
        share of dead terms) when the representation prunes, ``plots/fitness.png`` (the generations so far) and the
        representation's own files; returns the entries."""
        entries = self.hall_of_fame_entries()
        self.run_dir.write_hall_of_fame(entries, (self.final or {}).get("reference"))
        if self.prunes:
            from symmpo.objective.prune import THRESHOLD

            self.run_dir.write_summary({"pruning": pruning_summary(self.pruning, self.leaders, THRESHOLD)})
        if self.history:  # the generations' record is the search's, whatever is evolved
            from symmpo.search.plots import plot_fitness

            self.run_dir.file("plots").mkdir(parents=True, exist_ok=True)
            plot_fitness(self.history, self.run_dir.file("plots", "fitness.png"))
        self.representation.save(self.run_dir, self.leaders, entries, self.final is not None)
        return entries
