"""One search loop for every strategy: ask, train, tell, hall of fame, checkpoint; a held-out re-score at the end.

A :class:`Strategy` proposes candidates and learns from their fitness, in the ask/tell style of pycma and
evosax; :class:`Search` does everything else once, whatever is evolved (formulas by GP + CMA-ES in
:mod:`symmpo.search.evolve`, network weights by CMA-ES in :mod:`symmpo.neural.es`):

* **evaluation** — every candidate not seen before trains on the run's tasks × fitness seeds through the
  executor (:func:`symmpo.search.jobs.train_objectives`), next to the reference loss (DPO), all on the same
  seeds and batches (common random numbers); results are cached by key, so a duplicate never trains twice;
* **what occurred** — the jobs report a sketch of the log-probabilities each training saw
  (:mod:`symmpo.train.occurring`); it is cached with the fitness and handed to a strategy that has ``observe``
  (the GP strategy prunes dead terms with it before the hall of fame: :mod:`symmpo.objective.prune`);
* **bookkeeping** — one history record and one line of ``evaluations.jsonl`` per training, an atomic
  checkpoint per generation (the strategy's state inside), the hall of fame rewritten after each;
* **resume** — a checkpoint restores the generation, the search's random generator, the cache and the
  strategy, so a resumed run makes the very same choices as an uninterrupted one;
* **re-score** — after the last generation the hall-of-fame leaders and the reference train again on the
  held-out split (a fresh dataset seed, fresh training seeds and evaluation resets; see
  :mod:`symmpo.protocol`), because a fitness that selection maximized is optimistically biased.
"""

from __future__ import annotations

import math
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from symmpo.search.executors import Executor, check_interrupt
from symmpo.search.jobs import FitnessJob, JobFn, aggregate, run_job, seed_summary, train_objectives
from symmpo.search.presets import fitness_train_config, heldout_train_config
from symmpo.search.rundir import RunDir


@dataclass(frozen=True)
class Candidate:
    """One objective to train: ``key`` is its identity in the cache (equal keys train once), ``objective``
    the dict a fitness job rebuilds, ``origin`` what proposed it, ``formula`` its line in the evaluation log."""

    key: str
    objective: dict[str, Any]
    origin: str
    formula: str


class Strategy(Protocol):
    """What a search strategy supplies; :class:`Search` calls these in this order every generation:
    ``ask`` → (training) → ``tell``, then ``leaders`` / ``describe`` / ``write`` for the hall of fame. A strategy
    may also define ``observe(occurring, trained)``, called just before ``tell`` with what each asked
    candidate's trainings saw (key → task/seed → sketch of log-probabilities) and the keys trained just now."""

    label: str  # progress bar and log prefix, e.g. "evolve"
    shown: tuple[str, str]  # (label, history key) of the number shown beside best / median / DPO
    load: Callable[[dict[str, Any]], Any] | None  # how a job rebuilds a candidate dict (None: formulas)

    def start(self, rng: np.random.Generator) -> None: ...  # a new run (no checkpoint yet)
    def restore(self, state: dict[str, Any]) -> None: ...  # from the checkpoint's state
    def state(self) -> dict[str, Any]: ...  # JSON-able; merged into the checkpoint's state
    def reference(self) -> Candidate: ...  # the loss every generation is compared with (DPO)
    def ask(self, rng: np.random.Generator, generation: int) -> list[Candidate]: ...
    def tell(
        self, asked: list[Candidate], fitness: list[float], generation: int, rng: np.random.Generator
    ) -> tuple[list[float], dict[str, Any]]: ...  # (population fitness for the record, extra record fields)

    def leaders(self) -> list[Candidate]: ...  # the hall of fame, best first
    def describe(self, leader: Candidate, rank: int) -> dict[str, Any]: ...  # its hall-of-fame fields
    def write(
        self, run: RunDir, entries: list[dict[str, Any]], history: list[dict[str, Any]], finished: bool
    ) -> None: ...  # the strategy's own files beside hall_of_fame.yaml (objective files, networks, plots)


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
}


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
        config: dict[str, Any],
        run: RunDir,
        strategy: Strategy,
        executor: Executor,
        *,
        job_fn: JobFn = run_job,
        progress: bool = True,
        on_generation: GenerationHook | None = None,
    ):
        self.config = config
        self.run_dir = run
        self.strategy = strategy
        self.executor = executor
        self.job_fn = job_fn
        self.progress = progress
        self.on_generation = on_generation
        self.train = fitness_train_config(config)
        self.heldout_train = heldout_train_config(config)
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
        if state is None:
            self.generation = 0
            self.rng = np.random.default_rng(int(self.config["seed"]))
            self.cache: dict[str, dict[str, Any]] = {}
            self.history: list[dict[str, Any]] = []
            self.final: dict[str, Any] | None = None
            self.strategy.start(self.rng)
            return
        self.generation = int(state["generation"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.cache = state["cache"]
        self.history = state["history"]
        self.final = state.get("final")
        self.strategy.restore(state)
        missing = [c.key for c in self.strategy.leaders() if c.key not in self.cache]
        if missing:  # the hall of fame refers to trainings the cache does not hold: an edited checkpoint
            raise ValueError(f"hall-of-fame entry {missing[0][:40]!r} has no cached fitness")

    def state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "rng": self.rng.bit_generator.state,
            **self.strategy.state(),
            "cache": self.cache,
            "history": self.history,
            "final": self.final,
        }

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self, candidates: list[Candidate], seeds: list[int], phase: str, train: dict[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Train each distinct candidate on tasks × ``seeds`` with trainer config ``train``, logging every
        training; ``{key: {"scores": {task/seed: score}, "reasons": [...]}}``."""
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
                    }
                    for i, rec in zip(idx, records, strict=True)
                ]
            )

        results = train_objectives(
            self.executor,
            [c.objective for c in unique],
            self.config["tasks"],
            seeds,
            train,
            int(self.config["chunk"]),
            job_fn=self.job_fn,
            load=self.strategy.load,
            on_job=log,
        )
        return {c.key: res for c, res in zip(unique, results, strict=True)}

    def step(self) -> dict[str, Any]:
        """Run one generation and checkpoint it."""
        t0 = time.perf_counter()
        asked = self.strategy.ask(self.rng, self.generation)
        reference = self.strategy.reference()
        fresh = [c for c in [*asked, reference] if c.key not in self.cache]
        results = self.evaluate(fresh, [int(s) for s in self.config["seeds"]], "search", self.train)
        observe = getattr(self.strategy, "observe", None)  # what trainings saw, for dead-term pruning
        for key, res in results.items():
            self.cache[key] = {
                "fitness": aggregate(list(res["scores"].values())),
                "scores": res["scores"],
                "reasons": res["reasons"],
                **({"occurring": res["occurring"]} if observe is not None and res.get("occurring") else {}),
            }
        fitness = [float(self.cache[c.key]["fitness"]) for c in asked]
        if observe is not None:
            observe({c.key: self.cache[c.key].get("occurring") for c in asked}, set(results))
        population, extra = self.strategy.tell(asked, fitness, self.generation, self.rng)
        leaders = self.strategy.leaders()
        finite = [f for f in population if math.isfinite(f)]
        seconds = time.perf_counter() - t0
        record = {
            "generation": self.generation,
            "best": max(finite) if finite else -math.inf,
            "median": statistics.median(finite) if finite else -math.inf,
            "hof_best": self.cache[leaders[0].key]["fitness"] if leaders else -math.inf,
            "reference": self.cache[reference.key]["fitness"],
            "candidates": len(asked),
            "trained": len(results),
            "diverged": len(population) - len(finite),
            **extra,
            "seconds": round(seconds, 2),
            "evals_per_min": round(60.0 * len(results) / seconds, 2) if seconds > 0 else 0.0,
        }
        self.history.append(record)
        self.generation += 1
        self.run_dir.save_checkpoint(self.state())
        self.write_outputs()
        return record

    def rescore(self) -> dict[str, Any]:
        """The top ``rescore_top`` leaders and the reference on the held-out split (fresh dataset, training
        seeds and resets; see ``symmpo.protocol``): per-seed means over tasks, mean ± standard error."""
        top = self.strategy.leaders()[: int(self.config["rescore_top"])]
        reference = self.strategy.reference()
        seeds = [int(s) for s in self.config["rescore_seeds"]]
        results = self.evaluate([*top, reference], seeds, "rescore", self.heldout_train)
        summary = {key: seed_summary(res, self.config["tasks"], seeds) for key, res in results.items()}
        return {"scores": summary, "reference": {"key": reference.key, **summary[reference.key]}}

    def prepare_data(self) -> None:
        """Build (or load) every fitness dataset and π_ref before the first generation, behind a progress bar of
        its own: on a fresh machine this is minutes of work a generation bar would show as 0 %."""
        from symmpo.train.fitness import as_config, prepare

        config = as_config(self.train)
        work = [(t, int(s)) for t in self.config["tasks"] for s in self.config["seeds"]]
        if self.progress:
            from tqdm import tqdm

            work = tqdm(work, desc="datasets and references", unit="task-seed")
        for task, seed in work:
            prepare(task, seed, config)

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> Result:
        """Continue to the configured number of generations, then re-score; safe to interrupt anywhere.

        Extending a finished run (a larger ``--generations``) makes its final scores stale, so they are
        recomputed. A progress bar when ``progress``, else one log line per generation.
        """
        total = int(self.config["generations"])
        label, key = self.strategy.shown
        if self.generation == 0 and not self.cache and self.job_fn is run_job:
            self.prepare_data()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=min(self.generation, total), desc=self.strategy.label, unit="gen")
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
                                label: f"{rec[key]:.3g}",
                            }
                        )
                    else:
                        print(
                            f"{self.strategy.label} generation {self.generation}/{total}: best "
                            f"{rec['best']:.2f} · median {rec['median']:.2f} · DPO {rec['reference']:.2f} · "
                            f"{label} {rec[key]:.3g}",
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
        """The hall of fame as written to ``hall_of_fame.yaml``: the strategy's fields, the search fitness,
        and the held-out scores once the run is re-scored."""
        scores = self.final["scores"] if self.final else {}
        entries = []
        for rank, leader in enumerate(self.strategy.leaders(), start=1):
            entry = {
                "rank": rank,
                **self.strategy.describe(leader, rank),
                "search_fitness": {
                    "mean": self.cache[leader.key]["fitness"],
                    "seeds": list(self.config["seeds"]),
                    "tasks": list(self.config["tasks"]),
                },
            }
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
        """``hall_of_fame.yaml`` (with the reference's held-out score once there is one) and the strategy's
        own files; returns the entries."""
        entries = self.hall_of_fame_entries()
        self.run_dir.write_hall_of_fame(entries, (self.final or {}).get("reference"))
        self.strategy.write(self.run_dir, entries, self.history, self.final is not None)
        return entries
