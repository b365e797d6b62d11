"""ES over the weights of a neural objective: CMA-ES (separable when the vector is long), resumable.

It reuses the discovery search's parts rather than copying them: configurations from
:mod:`symmpo.search.presets` (tasks, fitness seeds, fresh re-scoring seeds, training preset, chunking),
fitness jobs and aggregation from :mod:`symmpo.search.fitness`, executors, run directories with atomic
checkpoints and a truncatable evaluation log (:mod:`symmpo.search.rundir`), and the pickle-free,
replayable CMA-ES of :mod:`symmpo.search.cmaes` (``CMA_diagonal`` above 20 parameters). Only the job
function differs: neural objectives travel to workers as ``symmpo-neural/1`` dicts (architecture +
weights, exact float64), which :func:`run_neural_job` rebuilds; symbolic dicts (the DPO reference) still
work there, so one job can hold both.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from symmpo.errors import SymmpoError
from symmpo.neural.components import NeuralArch, NeuralObjective, objective_from_any
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.evolve import run_generations
from symmpo.search.executors import Executor
from symmpo.search.fitness import FitnessJob, aggregate, make_jobs, standard_error
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


def run_neural_job(job: FitnessJob) -> list[dict[str, Any]]:
    """:func:`symmpo.search.fitness.run_job` for neural and symbolic objective dicts alike."""
    from symmpo.train.fitness import fitness_records

    t0 = time.perf_counter()
    objectives = [objective_from_any(d) for d in job.objectives]
    records = fitness_records(objectives, job.task, job.seed, job.train)
    seconds = time.perf_counter() - t0
    return [
        {"score": float(r["score"]), "reason": r.get("reason"), "seconds": seconds / max(1, len(records))}
        for r in records
    ]


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


class NeuralEvolution:
    """CMA-ES over a neural objective's flat weight vector, bound to a run directory."""

    def __init__(
        self,
        config: dict[str, Any],
        run: RunDir,
        executor: Executor,
        *,
        job_fn: Callable[[FitnessJob], list[dict[str, Any]]] = run_neural_job,
        progress: bool = True,
        on_generation: Callable[[int, NeuralEvolution], None] | None = None,
    ):
        if config.get("kind") != "neural":
            raise SymmpoError(
                f"{run.path} is not a neural run (use symmpo evolve --resume for symbolic runs)"
            )
        from symmpo.search.evolve import heldout_train_dict, train_config_dict

        self.config = config
        self.run_dir = run
        self.executor = executor
        self.job_fn = job_fn
        self.progress = progress
        self.on_generation = on_generation
        self.arch = NeuralArch.from_dict(arch_dict(config))
        self.train = train_config_dict(config["train"])
        self.heldout_train = heldout_train_dict(config)
        self._restore(run.load_checkpoint())

    # -- state ------------------------------------------------------------------------------
    def _new_cma(self) -> ConstantSearch:
        n = self.config["neural"]
        x0 = self.arch.init(int(n["init_seed"]))
        return ConstantSearch(
            "neural",
            self.arch.to_dict(),
            x0.tolist(),
            float(n["sigma0"]),
            int(self.config["population"]),
            int(self.rng.integers(2**31)),
            float(n["bound"]),
        )

    def _restore(self, state: dict[str, Any] | None) -> None:
        if state is None:
            self.generation = 0
            self.rng = np.random.default_rng(int(self.config["seed"]))
            self.cma = self._new_cma()
            self.cache: dict[str, dict[str, Any]] = {}
            self.hof: list[dict[str, Any]] = []  # {"key", "theta", "fitness", "generation"}, best first
            self.history: list[dict[str, Any]] = []
            self.final: dict[str, Any] | None = None
            return
        self.generation = int(state["generation"])
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.cma = ConstantSearch.from_state(state["cmaes"])
        self.cache = state["cache"]
        self.hof = state["hall_of_fame"]
        self.history = state["history"]
        self.final = state.get("final")

    def state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "rng": self.rng.bit_generator.state,
            "cmaes": self.cma.state(),
            "cache": self.cache,
            "hall_of_fame": self.hof,
            "history": self.history,
            "final": self.final,
        }

    # -- evaluation -------------------------------------------------------------------------
    def _reference(self) -> tuple[str, dict[str, Any]]:
        from symmpo.objective import Objective

        ref = dict(self.config["reference"])
        obj = Objective.named(ref.pop("name"), **ref)
        return "reference:" + obj.canonical_key(), obj.to_dict()

    def _evaluate(
        self,
        todo: list[tuple[str, dict[str, Any], str]],
        seeds: list[int],
        phase: str,
        train: dict[str, Any] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Train (key, objective dict, origin) on tasks × seeds; {key: {"scores": {task/seed: s}, "reasons"}}."""
        if not todo:
            return {}
        jobs = make_jobs(
            [d for _, d, _ in todo],
            self.config["tasks"],
            seeds,
            train or self.train,
            int(self.config["chunk"]),
        )
        out = {k: {"scores": {}, "reasons": []} for k, _, _ in todo}
        for (job, idx), records in zip(
            jobs, self.executor.imap(self.job_fn, [j for j, _ in jobs]), strict=True
        ):
            log = []
            for i, rec in zip(idx, records, strict=True):
                key, d, origin = todo[i]
                out[key]["scores"][f"{job.task}/{job.seed}"] = rec["score"]
                if rec.get("reason"):
                    out[key]["reasons"].append(f"{job.task}/{job.seed}: {rec['reason']}")
                log.append(
                    {
                        "generation": self.generation,
                        "phase": phase,
                        "key": key,
                        "origin": origin,
                        "formula": "neural" if origin != "reference" else d.get("g"),
                        "task": job.task,
                        "seed": job.seed,
                        "score": rec["score"],
                        "reason": rec.get("reason"),
                        "seconds": round(float(rec.get("seconds", 0.0)), 3),
                    }
                )
            self.run_dir.log_evaluations(log)
        return out

    def step(self) -> dict[str, Any]:
        """One ES generation: ask, train (with the DPO reference on the same seeds), tell, checkpoint."""
        t0 = time.perf_counter()
        asked = self.cma.ask(int(self.rng.integers(2**31)))
        cands = [
            NeuralObjective(self.arch, np.asarray(x), f"neural-g{self.generation}-{i}")
            for i, x in enumerate(asked)
        ]
        ref_key, ref_dict = self._reference()
        todo = [(c.digest(), c.to_dict(), "es") for c in cands]
        todo = [t for t in todo if t[0] not in self.cache]
        if ref_key not in self.cache:
            todo.append((ref_key, ref_dict, "reference"))
        seeds = [int(s) for s in self.config["seeds"]]
        for key, res in self._evaluate(todo, seeds, "search").items():
            self.cache[key] = {
                "fitness": aggregate(list(res["scores"].values())),
                "scores": res["scores"],
                "reasons": res["reasons"],
            }
        fitness = [float(self.cache[c.digest()]["fitness"]) for c in cands]
        self.cma.tell(fitness)
        for c, f in zip(cands, fitness, strict=True):
            if math.isfinite(f):
                self.hof.append(
                    {
                        "key": c.digest(),
                        "theta": c.theta.tolist(),
                        "fitness": f,
                        "generation": self.generation,
                    }
                )
        # best first; ties keep the earlier candidate (stable sort)
        self.hof = sorted(self.hof, key=lambda e: -e["fitness"])[: int(self.config["hall_of_fame"])]
        finite = [f for f in fitness if math.isfinite(f)]
        seconds = time.perf_counter() - t0
        record = {
            "generation": self.generation,
            "best": max(finite) if finite else -math.inf,
            "median": statistics.median(finite) if finite else -math.inf,
            "hof_best": self.hof[0]["fitness"] if self.hof else -math.inf,
            "reference": self.cache[ref_key]["fitness"],
            "candidates": len(cands),
            "trained": len(todo),
            "diverged": len(fitness) - len(finite),
            "sigma": float(self.cma._es.sigma),
            "seconds": round(seconds, 2),
            "evals_per_min": round(60.0 * len(todo) / seconds, 2) if seconds > 0 else 0.0,
        }
        self.history.append(record)
        self.generation += 1
        self.run_dir.save_checkpoint(self.state())
        self._write_outputs()
        return record

    def run(self) -> dict[str, Any]:
        """Continue to the configured number of generations, then re-score on fresh seeds."""
        run_generations(self, int(self.config["generations"]), "evolve-neural", "sigma", "sigma")
        self._write_outputs()
        return self.final

    def _rescore(self) -> dict[str, Any]:
        """The top ``rescore_top`` networks and DPO held out (symmpo.protocol; mean over tasks per seed, ± s.e.)."""
        top = self.hof[: int(self.config["rescore_top"])]
        ref_key, ref_dict = self._reference()
        todo = [(e["key"], NeuralObjective(self.arch, np.asarray(e["theta"])).to_dict(), "es") for e in top]
        todo.append((ref_key, ref_dict, "reference"))
        seeds = [int(s) for s in self.config["rescore_seeds"]]
        summary = {}
        for key, res in self._evaluate(todo, seeds, "rescore", self.heldout_train).items():
            per_seed = [aggregate([res["scores"][f"{t}/{s}"] for t in self.config["tasks"]]) for s in seeds]
            summary[key] = {
                "mean": aggregate(per_seed),
                "se": standard_error(per_seed),
                "per_seed": per_seed,
                "seeds": seeds,
                "reasons": res["reasons"],
            }
        return {"scores": summary, "reference": {"key": ref_key, **summary[ref_key]}}

    # -- outputs ---------------------------------------------------------------------------
    def hall_of_fame_entries(self) -> list[dict[str, Any]]:
        scores = self.final["scores"] if self.final else {}
        out = []
        for rank, e in enumerate(self.hof, start=1):
            entry = {
                "rank": rank,
                "kind": "neural",
                "key": e["key"],
                "file": f"{BEST_DIR}/hof_{rank:02d}.yaml",
                "n_params": self.arch.size,
                "generation": e["generation"],
                "search_fitness": {
                    "mean": e["fitness"],
                    "seeds": list(self.config["seeds"]),
                    "tasks": list(self.config["tasks"]),
                },
            }
            if e["key"] in scores:
                s = scores[e["key"]]
                entry["fresh_fitness"] = {
                    "mean": s["mean"],
                    "se": s["se"],
                    "seeds": list(s["seeds"]),
                    "per_seed": list(s["per_seed"]),
                }
            out.append(entry)
        return out

    def _write_outputs(self) -> None:
        entries = self.hall_of_fame_entries()
        for entry, e in zip(entries, self.hof, strict=True):
            NeuralObjective(self.arch, np.asarray(e["theta"]), f"neural-hof-{entry['rank']:02d}").save(
                self.run_dir.path / entry["file"],
                extra={k: entry[k] for k in ("search_fitness", "fresh_fitness") if k in entry},
            )
        self.run_dir.write_hall_of_fame(entries, (self.final or {}).get("reference"))
        if self.history:
            from symmpo.search.plots import plot_fitness

            (self.run_dir.path / "plots").mkdir(exist_ok=True)
            plot_fitness(self.history, self.run_dir.path / "plots" / "fitness.png")


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
    return NeuralObjective.load(run.path / entry["file"]), entry
