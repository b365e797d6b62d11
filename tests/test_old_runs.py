"""Run directories written before the strategy API was split (the loop owning the hall of fame and the DPO
reference) still resume, and finish exactly as an uninterrupted run of today's code.

``tests/data/old_runs/`` holds two runs cut after their second generation by the code of commit 1203641 (written
by ``make_old_runs`` below with that checkout on ``PYTHONPATH``): a symbolic run (GP + CMA-ES over the mirror
grammar, with dead-term pruning) and a neural one (CMA-ES over network weights). Both use cheap deterministic
stand-in fitness jobs, so the test takes seconds.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np

from symmpo.objective import Objective
from symmpo.objective.prune import sketch
from symmpo.search.config import SearchConfig
from symmpo.search.executors import InlineExecutor
from symmpo.search.jobs import FitnessJob
from symmpo.search.rundir import RunDir

DATA = Path(__file__).parent / "data" / "old_runs"
SUMMED = np.linspace(-560.0, -530.0, 64)
PER_STEP = np.linspace(-6.0, -5.6, 64)


def symbolic_job(job: FitnessJob) -> list[dict]:
    """Score from the canonical key; the trainings 'saw' summed or per-step log-probabilities (for pruning)."""
    out = []
    for d in job.objectives:
        obj = Objective.from_dict(d)
        seen = sketch(SUMMED if obj.reduce == "sum" else PER_STEP)
        out.append({"score": float(int(obj.canonical_key()[:6], 16) % 97), "reason": None, "occurring": seen})
    return out


def neural_job(job: FitnessJob) -> list[dict]:
    """Networks near 0.3 score high; the DPO reference scores 0."""
    out = []
    for d in job.objectives:
        if "theta" in d:
            out.append(
                {"score": float(-np.sum((np.asarray(d["theta"])[:6] - 0.3) ** 2)) + job.seed, "reason": None}
            )
        else:
            out.append({"score": 0.0, "reason": None})
    return out


def symbolic_config() -> SearchConfig:
    config = SearchConfig.from_preset("tiny").override(population=6, generations=4)
    return dataclasses.replace(config, cmaes=dataclasses.replace(config.cmaes, max_iterations=1))


def neural_config_() -> SearchConfig:
    from symmpo.neural.es import neural_config

    config = SearchConfig.from_preset("tiny").override(generations=4, population=5, seeds=[0, 1])
    return neural_config(config, phi_hidden=[4], g_hidden=[3])


def make_old_runs(out: Path) -> None:
    """Write the fixtures with the code on ``sys.path`` (run once, by hand, on the old checkout)."""
    from symmpo.neural.es import NeuralEvolution
    from symmpo.search.evolve import Evolution
    from symmpo.search.space import ObjectiveSpace

    class Stop(Exception):
        pass

    def stop(gen, evo):
        if gen == 2:
            raise Stop

    config = symbolic_config()
    run = RunDir.create(out / "symbolic", config)
    try:
        Evolution(
            config,
            run,
            ObjectiveSpace.from_config(config),
            InlineExecutor(),
            job_fn=symbolic_job,
            progress=False,
            on_generation=stop,
        ).run()
    except Stop:
        pass
    config = neural_config_()
    run = RunDir.create(out / "neural", config)
    try:
        NeuralEvolution(
            config, run, InlineExecutor(), job_fn=neural_job, progress=False, on_generation=stop
        ).run()
    except Stop:
        pass


if __name__ == "__main__":
    make_old_runs(Path(sys.argv[1]))


def _finish(path: Path, kind: str) -> None:
    from symmpo.strategies import open_search

    run = RunDir.open(path) if (path / "config.yaml").exists() else None
    config = run.read_config() if run else (symbolic_config() if kind == "symbolic" else neural_config_())
    run = run or RunDir.create(path, config)
    job = symbolic_job if kind == "symbolic" else neural_job
    open_search(config, run, InlineExecutor(), job_fn=job, progress=False).run()


def _same_run(a: Path, b: Path) -> None:
    for name in ("hall_of_fame.yaml", "summary.json"):
        assert (a / name).exists() == (b / name).exists(), name
        if (a / name).exists():
            assert (a / name).read_text() == (b / name).read_text(), name
    saved = sorted(p.relative_to(a) for p in a.rglob("*.yaml") if p.parent != a)
    assert saved and saved == sorted(p.relative_to(b) for p in b.rglob("*.yaml") if p.parent != b)
    for rel in saved:  # objective files or networks of the leaders
        assert (a / rel).read_text() == (b / rel).read_text(), rel

    def evaluations(path: Path) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(path).read_evaluations()]

    assert evaluations(a) == evaluations(b)


def test_a_run_cut_by_the_old_code_resumes_and_equals_an_uninterrupted_run(tmp_path):
    for kind in ("symbolic", "neural"):
        shutil.copytree(DATA / kind, tmp_path / "old" / kind)
        _finish(tmp_path / "old" / kind, kind)  # resumed from the old checkpoint by today's code
        _finish(tmp_path / "new" / kind, kind)  # all four generations by today's code
        _same_run(tmp_path / "old" / kind, tmp_path / "new" / kind)
        hof = RunDir(tmp_path / "new" / kind).read_hall_of_fame()
        assert hof and all("fresh_fitness" in e for e in hof[:2]), kind
    # the symbolic fixture's hall of fame was pruned by the old code: today's keeps those entries pruned
    pruned = [e for e in RunDir(tmp_path / "old" / "symbolic").read_hall_of_fame() if "pruned" in e]
    assert pruned
