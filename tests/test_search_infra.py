"""Run directories, executors and CMA-ES: the parts of the search that do not need a trainer."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from symmpo import files as files_mod
from symmpo.errors import SymmpoError
from symmpo.files import atomic_write_text
from symmpo.search.cmaes import ConstantSearch
from symmpo.search.config import SearchConfig
from symmpo.search.executors import ExecutorError, InlineExecutor, LocalExecutor, make_executor
from symmpo.search.jobs import aggregate, make_jobs
from symmpo.search.rundir import RunDir, RunDirError, resolve_run
from symmpo.stats import standard_error


def square_job(job: int) -> tuple[int, int]:
    """Module level, so spawned workers can import it."""
    return job, job * job


def relay_job(job: tuple[int, str]) -> int:
    """Job 0 finishes only after job 1 has (job 1 leaves a file that job 0 waits for)."""
    import time
    from pathlib import Path

    index, marker = job
    if index == 1:
        Path(marker).write_text("done")
        return index
    deadline = time.monotonic() + 60
    while not Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # job 1's result is on its way back by then
    return index


# -- run directory -------------------------------------------------------------------------------
def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_text(target, "old")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(files_mod.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary left behind


def test_checkpoint_roundtrip_and_log_cut_back(tmp_path):
    config = SearchConfig.from_preset("tiny")
    run = RunDir.create(tmp_path / "r", config)
    run.log_evaluations([{"x": 1}, {"x": 2}])
    rng = np.random.default_rng(5)
    state = {"generation": 1, "rng": rng.bit_generator.state, "f": -math.inf}
    run.save_checkpoint(state)
    run.log_evaluations([{"x": 3}])  # an unfinished generation
    reopened = RunDir.open(tmp_path / "r")
    loaded = reopened.load_checkpoint()
    assert loaded["generation"] == 1 and loaded["f"] == -math.inf
    again = np.random.default_rng()
    again.bit_generator.state = loaded["rng"]
    assert again.integers(1 << 60) == rng.integers(1 << 60)
    assert reopened.read_evaluations() == [{"x": 1}, {"x": 2}]
    assert reopened.read_config() == config


def test_run_dir_refuses_bad_inputs(tmp_path):
    config = SearchConfig.from_preset("tiny")
    RunDir.create(tmp_path / "r", config)
    with pytest.raises(RunDirError, match="already holds a run"):
        RunDir.create(tmp_path / "r", config)
    with pytest.raises(RunDirError, match="does not exist"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="not a symmpo run"):
        resolve_run("empty", results_dir=tmp_path)
    (tmp_path / "r" / "checkpoint.json").write_text("{not json")
    with pytest.raises(RunDirError, match="corrupt checkpoint"):
        RunDir.open(tmp_path / "r").load_checkpoint()
    assert isinstance(RunDirError("x"), SymmpoError)


def test_resolve_run_by_name(tmp_path):
    RunDir.create(tmp_path / "myrun", SearchConfig.from_preset("tiny"))
    assert resolve_run("myrun", results_dir=tmp_path).read_config().preset == "tiny"


# -- executors ------------------------------------------------------------------------------------
def test_executors_agree_and_keep_order():
    jobs = list(range(7))
    inline = list(InlineExecutor().imap(square_job, jobs))
    local = LocalExecutor(workers=2)
    try:
        pooled = list(local.imap(square_job, jobs))
    finally:
        local.close()
    assert inline == pooled == [(j, j * j) for j in jobs]


def test_imap_unordered_yields_results_as_they_finish(tmp_path):
    marker = str(tmp_path / "marker")
    jobs = [(0, marker), (1, marker)]
    assert list(InlineExecutor().imap_unordered(square_job, [3, 4])) == [(0, (3, 9)), (1, (4, 16))]
    local = LocalExecutor(workers=2)
    try:
        got = list(local.imap_unordered(relay_job, jobs))
    finally:
        local.close()
    assert got == [(1, 1), (0, 0)]  # job 1 first: it finished first; each result with its job's index


def test_executor_errors():
    with pytest.raises(ExecutorError, match="unknown executor"):
        make_executor("threads")
    with pytest.raises(ExecutorError, match="at least 1"):
        LocalExecutor(workers=0)


# -- fitness bookkeeping --------------------------------------------------------------------------
def test_jobs_cover_every_candidate_task_seed_once():
    objs = [{"i": i} for i in range(5)]
    jobs = make_jobs(objs, ["a", "b"], [0, 1], {}, chunk=2)
    seen = sorted((job.task, job.seed, i) for job, idx in jobs for i in idx)
    assert seen == sorted((t, s, i) for t in "ab" for s in (0, 1) for i in range(5))
    assert all(len(job.objectives) <= 2 for job, _ in jobs)
    # chunking depends on the chunk size only, never on workers: executors stay identical
    assert [idx for _, idx in jobs[:3]] == [[0, 1], [2], [3, 4]]
    balanced = make_jobs([{"i": i} for i in range(25)], ["a"], [0], {}, chunk=16)
    assert [len(idx) for _, idx in balanced] == [12, 13]


def test_aggregate_and_standard_error():
    assert aggregate([1.0, 3.0]) == 2.0
    assert aggregate([1.0, -math.inf]) == -math.inf
    assert aggregate([]) == -math.inf
    assert standard_error([1.0, 3.0]) == pytest.approx(1.0)
    assert math.isnan(standard_error([1.0]))


# -- CMA-ES ---------------------------------------------------------------------------------------
def _run_cma(search: ConstantSearch, rng: np.random.Generator, rounds: int) -> None:
    for _ in range(rounds):
        xs = search.ask(int(rng.integers(2**31)))
        search.tell([-float(np.sum((np.asarray(x) - 1.5) ** 2)) if x[0] < 5 else -math.inf for x in xs])


def test_cmaes_improves_and_resumes_exactly():
    a = ConstantSearch("s", {}, [0.0, 0.0], seed=3)
    rng_a = np.random.default_rng(0)
    _run_cma(a, rng_a, 3)
    state = json.loads(json.dumps(a.state()))  # through JSON, as in a checkpoint
    rng_state = rng_a.bit_generator.state
    _run_cma(a, rng_a, 15)

    b = ConstantSearch.from_state(state)
    rng_b = np.random.default_rng()
    rng_b.bit_generator.state = rng_state
    _run_cma(b, rng_b, 15)
    assert a.history == b.history
    best_x, best_f = a.best()
    assert best_f > -0.05 and np.allclose(best_x, 1.5, atol=0.2)


def test_cmaes_leaves_global_numpy_state_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    s = ConstantSearch("s", {}, [0.0], seed=1)
    s.tell([0.0] * len(s.ask(7)))
    assert np.random.rand() == expected


def test_cmaes_protocol_errors():
    s = ConstantSearch("s", {}, [0.0], seed=1)
    with pytest.raises(SymmpoError):
        s.tell([1.0])
    s.ask(1)
    with pytest.raises(SymmpoError):
        s.state()
    with pytest.raises(SymmpoError):
        ConstantSearch("s", {}, [])


def test_environment_for_workers_is_single_threaded():
    from symmpo.search.executors import single_thread_worker

    saved = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    try:
        single_thread_worker()
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
