"""The evolution loop's bookkeeping on a toy search space with a cheap deterministic fitness.

Resume, caching, CMA-ES hand-over and the run-directory contract do not depend on what is evolved, so
they are tested here in seconds; tests/test_search_ray.py runs the real space and trainer.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from symmpo.search.config import SearchConfig
from symmpo.search.evolve import Evolution
from symmpo.search.executors import InlineExecutor
from symmpo.search.jobs import FitnessJob
from symmpo.search.rundir import RunDir


class ToySpace:
    """Genomes are (digits, raw constant): fitness rewards large digits and a constant near 1.5."""

    grammar_name = "toy"

    def sample(self, rng):
        n = int(rng.integers(1, 4))
        return (tuple(int(d) for d in rng.integers(0, 10, size=n)), float(rng.normal()))

    def crossover(self, a, b, rng):
        cut = int(rng.integers(0, len(a[0]) + 1))
        digits = (a[0][:cut] + b[0][cut:])[:5]
        return (digits, a[1]) if digits else None

    def mutate(self, genome, kind, rng):
        digits, c = genome
        if kind == "jitter":
            return (digits, c + 0.3 * float(rng.normal()))
        if kind == "hoist":
            return (digits[:1], c) if len(digits) > 1 else None
        i = int(rng.integers(len(digits)))
        return (digits[:i] + (int(rng.integers(10)),) + digits[i + 1 :], c)

    def check(self, genome):
        return "digit 8 is forbidden" if 8 in genome[0] else None

    def key(self, genome):
        return f"{genome[0]}|{round(genome[1], 6)}"

    def structure_key(self, genome):
        return str(genome[0])

    def size(self, genome):
        return len(genome[0]) + 1

    def constants(self, genome):
        return [genome[1]]

    def with_constants(self, genome, raw):
        return (genome[0], float(raw[0]))

    def to_dict(self, genome):
        return {"digits": list(genome[0]), "c": genome[1]}

    def objective_dict(self, genome):
        return self.to_dict(genome)

    def from_dict(self, data):
        return (tuple(data["digits"]), float(data["c"]))

    def formula(self, genome):
        return f"{'+'.join(map(str, genome[0]))} @ {genome[1]:.3f}"

    def latex(self, genome):
        return self.formula(genome)

    def named_constants(self, genome):
        return {"c": genome[1]}

    def reference(self, name, **params):
        return ((5,), 1.5)

    def curves(self, genome, p, z, tau):
        return {"phi_inv": np.log(p) * (1 + genome[1] ** 2), "psi": np.log(p), "g": -np.logaddexp(0, -z)}

    def save(self, genome, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(yaml.safe_dump(self.to_dict(genome)))


def toy_job(job: FitnessJob) -> list[dict]:
    out = []
    for obj in job.objectives:
        if 7 in obj["digits"]:
            out.append({"score": -math.inf, "reason": "non-finite loss at step 3"})
        else:
            score = sum(obj["digits"]) - (obj["c"] - 1.5) ** 2 + 0.01 * job.seed
            out.append({"score": score, "reason": None})
    return out


def toy_config(**overrides):
    config = SearchConfig.from_preset("tiny")
    config = config.override(population=8, generations=5, chunk=3, hall_of_fame=5, rescore_top=3)
    return config.override(**overrides)


def evolve(path, config, hook=None):
    run = RunDir.open(path) if (path / "config.yaml").exists() else RunDir.create(path, config)
    evo = Evolution(
        config, run, ToySpace(), InlineExecutor(), job_fn=toy_job, progress=False, on_generation=hook
    )
    return evo.run(), evo


class Stop(Exception):
    pass


def test_resume_after_interrupt_equals_uninterrupted(tmp_path):
    config = toy_config()
    full, full_evo = evolve(tmp_path / "full", config)

    def stop_after_2(gen, evo):
        if gen == 2:
            raise Stop

    with pytest.raises(Stop):
        evolve(tmp_path / "cut", config, hook=stop_after_2)
    # an unfinished third generation left lines in the log: they must be dropped on resume
    RunDir(tmp_path / "cut").log_evaluations([{"generation": 2, "junk": True}])
    resumed, resumed_evo = evolve(tmp_path / "cut", config)

    full_hof = (tmp_path / "full" / "hall_of_fame.yaml").read_text()
    assert full_hof == (tmp_path / "cut" / "hall_of_fame.yaml").read_text()
    assert full_evo.cache == resumed_evo.cache
    strip = [
        {k: v for k, v in r.items() if k != "seconds"} for r in RunDir(tmp_path / "full").read_evaluations()
    ]
    strip_cut = [
        {k: v for k, v in r.items() if k != "seconds"} for r in RunDir(tmp_path / "cut").read_evaluations()
    ]
    assert strip == strip_cut


def test_duplicates_are_never_retrained(tmp_path):
    _, evo = evolve(tmp_path / "r", toy_config())
    search = [r for r in RunDir(tmp_path / "r").read_evaluations() if r["phase"] == "search"]
    pairs = [(r["key"], r["task"], r["seed"]) for r in search]
    assert len(pairs) == len(set(pairs))
    assert sum(h["trained"] for h in evo.history) == len({k for k, _, _ in pairs})
    assert sum(h["candidates"] for h in evo.history) > len({k for k, _, _ in pairs})  # the cache did work


def test_hall_of_fame_contract(tmp_path):
    result, evo = evolve(tmp_path / "r", toy_config())
    hof = yaml.safe_load((tmp_path / "r" / "hall_of_fame.yaml").read_text())["hall_of_fame"]
    assert [e["rank"] for e in hof] == list(range(1, len(hof) + 1))
    fits = [e["search_fitness"]["mean"] for e in hof]
    assert fits == sorted(fits, reverse=True) and all(math.isfinite(f) for f in fits)
    rescored = [e for e in hof if "fresh_fitness" in e]
    assert len(rescored) == 3
    for e in rescored:
        assert e["fresh_fitness"]["seeds"] == [1000, 1001]
        assert math.isfinite(e["fresh_fitness"]["se"])
        assert 8 not in e["objective"]["digits"]  # every candidate passed the checker
    assert result.reference["seeds"] == [1000, 1001]
    assert result.reference["mean"] == pytest.approx(5 + 0.01 * 1000.5)
    assert (tmp_path / "r" / "plots" / "fitness.png").stat().st_size > 0
    assert (tmp_path / "r" / "plots" / "components.png").stat().st_size > 0
    assert (tmp_path / "r" / "objectives" / "hof_01.yaml").exists()
    # diverged candidates are logged with their reason, never crash the run
    logged = RunDir(tmp_path / "r").read_evaluations()
    assert all(r["reason"] for r in logged if r["score"] == -math.inf)
    # the search found the optimum region: big digits and a tuned constant
    assert hof[0]["search_fitness"]["mean"] > evo.history[0]["best"] + 1.0


def test_cmaes_tunes_constants_of_a_leader(tmp_path):
    _, evo = evolve(tmp_path / "r", toy_config(generations=6))
    assert evo.strategy.tuned, "CMA-ES never started"
    origins = [r["origin"] for r in RunDir(tmp_path / "r").read_evaluations()]
    assert "cmaes" in origins


def test_extending_a_finished_run(tmp_path):
    config = toy_config(generations=3)
    evolve(tmp_path / "r", config)
    longer = config.override(generations=4)
    RunDir(tmp_path / "r").write_config(longer)
    _, evo = evolve(tmp_path / "r", longer)
    assert evo.generation == 4 and len(evo.history) == 4
    assert evo.final is not None


def test_bad_configurations_are_refused():
    from symmpo.errors import SymmpoError

    with pytest.raises(SymmpoError, match="unknown preset"):
        SearchConfig.from_preset("gigantic")
    with pytest.raises(SymmpoError, match="fresh"):
        toy_config(seeds=[1000])
    with pytest.raises(SymmpoError, match="population"):
        toy_config(population=1)


def test_sigterm_stops_between_generations_and_resumes(tmp_path):
    import os
    import signal

    config = toy_config(generations=4)
    evolve(tmp_path / "full", config)

    def kill_self(gen, evo):
        if gen == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        evolve(tmp_path / "cut", config, hook=kill_self)
    assert RunDir(tmp_path / "cut").load_checkpoint()["generation"] == 2
    evolve(tmp_path / "cut", config)
    assert (tmp_path / "full" / "hall_of_fame.yaml").read_text() == (
        tmp_path / "cut" / "hall_of_fame.yaml"
    ).read_text()


def test_screening_ahead_gives_the_same_generation():
    """Proposals screened in batches (as the workers do) give exactly the one-at-a-time generation: the same
    children, counters and random state, whatever the batch size."""
    from symmpo.search import gp

    space = ToySpace()
    outcomes = []
    for lookahead in (1, 4, 9):
        rng = np.random.default_rng(0)
        pop = gp.initial_population(space, 8, rng, screen=gp.screen_here(space), lookahead=lookahead)
        seen = [[(p.key, p.origin) for p in pop]]
        rejected = 0
        for generation in range(8):  # max_attempts 1 in odd generations: "fresh blood" is drawn in between
            for ind in pop:
                ind.fitness = float(sum(ind.genome[0]) - (ind.genome[1] - 1.5) ** 2)
            config = gp.GPConfig(max_attempts=1 + 19 * (generation % 2 == 0))
            pop, stats = gp.next_generation(space, pop, 8, config, rng, lookahead=lookahead)
            seen.append([(p.key, p.origin, p.size) for p in pop] + [stats])
            rejected += stats["invalid"]
        outcomes.append((seen, rng.integers(1 << 60)))
    assert rejected > 0  # the checker did reject proposals (digit 8), so the replay mattered
    assert any(child[1] == "sample" for gen in seen[1:] for child in gen[:-1])  # and fresh blood was drawn
    assert outcomes[0] == outcomes[1] == outcomes[2]


class RecordingExecutor(InlineExecutor):
    """In-process, but claims three workers and records what it ran (to see the screening dispatched)."""

    def __init__(self):
        super().__init__()
        self.workers = 3
        self.ran: list[str] = []

    def imap(self, fn, jobs):
        self.ran += [fn.__name__] * len(jobs)
        return super().imap(fn, jobs)


def test_workers_screen_children_and_the_run_is_unchanged(tmp_path):
    config = toy_config()
    evolve(tmp_path / "inline", config)
    run = RunDir.create(tmp_path / "workers", config)
    executor = RecordingExecutor()
    Evolution(config, run, ToySpace(), executor, job_fn=toy_job, progress=False).run()
    assert "screen_job" in executor.ran and "toy_job" in executor.ran
    same = [(tmp_path / d / "hall_of_fame.yaml").read_text() for d in ("inline", "workers")]
    assert same[0] == same[1]


def test_final_rescore_is_held_out(tmp_path):
    """The loop re-scores on the held-out split: fresh training seeds, dataset seed and evaluation resets,
    while every search evaluation stays on the fitness split."""
    from symmpo import protocol

    seen = []

    def recording_job(job: FitnessJob) -> list[dict]:
        seen.append((job.seed, job.train.dataset_seed, job.train.eval_reset_offset))
        return toy_job(job)

    config = toy_config(generations=2)
    run = RunDir.create(tmp_path / "r", config)
    Evolution(config, run, ToySpace(), InlineExecutor(), job_fn=recording_job, progress=False).run()
    fitness = {s for s in seen if s[0] in config.seeds}
    heldout = {s for s in seen if s[0] in config.rescore_seeds}
    assert fitness and heldout and len(fitness) + len(heldout) == len(set(seen))
    assert {(d, r) for _, d, r in fitness} == {(protocol.FITNESS_DATASET_SEED, 0)}
    assert {(d, r) for _, d, r in heldout} == {(protocol.HELDOUT_DATASET_SEED, protocol.HELDOUT_RESET_OFFSET)}


def test_a_fresh_run_with_the_real_trainer_prepares_its_data_first(tmp_path, monkeypatch):
    """The datasets and references of every fitness task x seed are built before generation 0 (its own
    progress bar), and only by a run that trains with the real job function on a fresh run directory."""
    import symmpo.train.fitness as fitness
    from symmpo.search import jobs

    calls = []
    monkeypatch.setattr(
        fitness, "prepare", lambda task, seed, config, progress=False: calls.append((task, seed, progress))
    )
    config = toy_config(generations=1)
    run = RunDir.create(tmp_path / "real", config)
    evo = Evolution(config, run, ToySpace(), InlineExecutor(), job_fn=jobs.run_job, progress=True)

    def stop(self):
        raise Stop

    step = Evolution.step
    monkeypatch.setattr(Evolution, "step", stop)
    with pytest.raises(Stop):
        evo.run()
    monkeypatch.setattr(Evolution, "step", step)
    # progress reaches the pool's simulation: a fresh pool is minutes of work the outer bar shows as 0 %
    assert calls == [(t, s, True) for t in config.tasks for s in config.seeds]
    calls.clear()
    evolve(tmp_path / "toy", toy_config(generations=1))  # a custom job function trains no real data
    assert calls == []
