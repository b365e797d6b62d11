"""The Ray executor: missing Ray is a clear error, and on a local Ray instance a tiny search with the
real trainer writes the same hall of fame, byte for byte, as the local process pool."""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import sys

import pytest

from symmpo.objective import Objective
from symmpo.search.config import SearchConfig
from symmpo.search.evolve import Evolution
from symmpo.search.executors import ExecutorError, LocalExecutor, make_executor
from symmpo.search.jobs import FitnessJob
from symmpo.search.rundir import RunDir
from symmpo.search.space import ObjectiveSpace
from symmpo.suite.datasets import DatasetConfig, build_dataset
from symmpo.train import train_population
from symmpo.train.fitness import make_evaluator
from symmpo.train.reference import get_reference

_DATASETS: dict[int, object] = {}  # per worker process, by dataset seed


def require_ray():
    """The ``ray`` module. Where Ray is genuinely absent the calling test skips, saying so; where it must be
    present it fails instead: CI (``.ci/run``) sets SYMMPO_REQUIRE_RAY=1 after ``.ci/setup`` installed the ray
    extra, so a broken install there fails loudly rather than skipping these tests. An installed Ray that does
    not import is an error either way."""
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("SYMMPO_REQUIRE_RAY"):
            pytest.fail(
                "SYMMPO_REQUIRE_RAY is set but Ray is not installed (pip install -e '.[ray]')", pytrace=False
            )
        pytest.skip(
            "Ray is not installed (pip install -e '.[ray]'; CI installs it and sets SYMMPO_REQUIRE_RAY=1)"
        )
    import ray

    return ray


def tiny_training_job(job: FitnessJob) -> list[dict]:
    """``run_job`` on a 12-pair dataset built in the worker (the full task takes minutes to build)."""
    config = job.train
    data_seed = job.seed if config.dataset_seed is None else config.dataset_seed  # the held-out re-score: 1
    if data_seed not in _DATASETS:
        _DATASETS[data_seed] = build_dataset(
            DatasetConfig(env="hopper", setting="mixed-0.5", n_pairs=12, horizon=15, seed=data_seed)
        )
    dataset = _DATASETS[data_seed]
    reference = get_reference(dataset, job.seed, config, use_cache=False)
    objectives = [Objective.from_dict(d) for d in job.objectives]
    results = train_population(
        objectives, dataset, reference, config, job.seed, evaluator=make_evaluator(job.task, config)
    )
    return [{"score": float(r.score), "reason": r.reason} for r in results]


def test_missing_ray_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, installed or not
    with pytest.raises(ExecutorError, match="pip install"):
        make_executor("ray")


def test_ray_executor_gives_back_the_sigterm_handler():
    """Ray's driver SIGTERM handler (sys.exit) outlives ray.shutdown; an executor that started Ray restores
    the process's own handler on close, so pools forked later still end their workers."""
    ray = require_ray()
    assert not ray.is_initialized()  # runs before the module's shared instance starts
    before = signal.getsignal(signal.SIGTERM)
    ex = make_executor("ray", workers=1)
    try:
        assert signal.getsignal(signal.SIGTERM) is not before  # what ray.init does
        assert list(ex.imap(math.factorial, [4])) == [24]
    finally:
        ex.close()
    assert not ray.is_initialized() and signal.getsignal(signal.SIGTERM) is before


@pytest.fixture(scope="module")
def ray_instance():
    ray = require_ray()  # CI installs the [ray] extra and sets SYMMPO_REQUIRE_RAY=1: there this always runs
    # The workers must unpickle the job function defined here; tests/ is not importable in them.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    signal.signal(signal.SIGTERM, sigterm)  # Ray's sys.exit handler outlives shutdown; later tests fork pools


def test_ray_executor_keeps_job_order(ray_instance):
    ex = make_executor("ray", workers=1)  # joins the running instance
    try:
        assert list(ex.imap(math.factorial, [3, 4, 5])) == [6, 24, 120]
    finally:
        ex.close()
    assert ray_instance.is_initialized()  # close() leaves an instance it did not start


def relay_job(job: tuple[int, str]) -> int:
    """Job 0 finishes only after job 1 has (job 1 leaves a file that job 0 waits for). A copy of
    test_search_infra's: imported from there, the function fails to import on the Ray workers."""
    import time
    from pathlib import Path

    index, marker = job
    if index == 1:
        Path(marker).write_text("done")
        return index
    deadline = time.monotonic() + 60
    while not Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    return index


def test_ray_imap_unordered_yields_results_as_they_finish(ray_instance, tmp_path):
    ex = make_executor("ray", workers=2)
    try:
        got = list(ex.imap_unordered(relay_job, [(0, str(tmp_path / "m")), (1, str(tmp_path / "m"))]))
    finally:
        ex.close()
    assert got == [(1, 1), (0, 0)]


def test_ray_hall_of_fame_equals_local_byte_for_byte(ray_instance, tmp_path):
    config = SearchConfig.from_preset("tiny").override(
        population=4,
        generations=2,
        chunk=2,
        cmaes={"enabled": True, "popsize": 2, "sigma0": 0.5, "max_iterations": 1},
    )
    hofs = {}
    for name, executor in [("local", LocalExecutor(workers=2)), ("ray", make_executor("ray", workers=2))]:
        run = RunDir.create(tmp_path / name, config)
        try:
            evo = Evolution(
                config,
                run,
                ObjectiveSpace.from_config(config),
                executor,
                job_fn=tiny_training_job,
                progress=False,
            )
            evo.run()
        finally:
            executor.close()
        hofs[name] = (tmp_path / name / "hall_of_fame.yaml").read_text()
    assert "fresh_fitness" in hofs["local"]
    assert hofs["ray"] == hofs["local"]
