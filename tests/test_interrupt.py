"""Ctrl-C during a search: one clean message, no worker tracebacks or leaked semaphores, a resumable run.

Ctrl-C signals the whole foreground process group, so the test starts the search in its own session and
sends SIGINT to that group, as a terminal would. The search is the real loop (real grammar space, local
process pool, the ``symmpo evolve`` driver); only the fitness is a cheap stand-in (it sleeps, then scores
by size), so the test takes seconds instead of training MuJoCo policies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

JOB_MODULE = '''
import time


def slow_job(job):
    """Stands in for training: a little wall time per objective, a deterministic score."""
    from symmpo.objective import Objective

    out = []
    for d in job.objectives:
        time.sleep(0.6)
        out.append({"score": -float(Objective.from_dict(d).size()), "reason": None, "seconds": 0.6})
    return out
'''

SEARCH = """
import argparse, dataclasses, sys
from slowjob import slow_job
from symmpo.commands._runs import drive
from symmpo.search.evolve import Evolution
from symmpo.search.config import SearchConfig
from symmpo.search.rundir import RunDir
from symmpo.search.space import ObjectiveSpace

out, resume = sys.argv[1], sys.argv[2] == "resume"
if resume:
    run = RunDir.open(out)
    config = run.read_config()
else:
    config = SearchConfig.from_preset("tiny").override(generations=4, population=4)
    config = dataclasses.replace(config, cmaes=dataclasses.replace(config.cmaes, enabled=False))
    run = RunDir.create(out, config)


def body(executor):
    space = ObjectiveSpace.from_config(config)
    result = Evolution(config, run, space, executor, job_fn=slow_job, progress=False).run()
    return f"finished with {len(result.hall_of_fame)} hall-of-fame entries"


args = argparse.Namespace(executor="local", workers=2, ray_address=None)
sys.exit(drive(args, "evolve", run, body))
"""


def _start(tmp_path: Path, mode: str) -> subprocess.Popen:
    (tmp_path / "slowjob.py").write_text(JOB_MODULE)
    root = Path(__file__).resolve().parents[1]
    path = os.pathsep.join([str(tmp_path), str(root), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg"}
    return subprocess.Popen(
        [sys.executable, "-c", SEARCH, str(tmp_path / "run"), mode],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
        # a terminal's job starts with Ctrl-C enabled, even when this test runs in the background (where
        # SIGINT is inherited as ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _assert_gone(pids: list[int], what: str) -> None:
    """Every process in ``pids`` ends within 10 s."""
    for pid in pids:
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"process {pid} outlived {what}")


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path):
    proc = _start(tmp_path, "new")
    checkpoint = tmp_path / "run" / "checkpoint.json"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoint.exists(), proc.communicate(timeout=30)[0]
    time.sleep(0.3)  # the next generation's jobs are running now; three generations and the re-score remain
    workers = _children(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    assert "interrupted: the last completed generation is saved" in output
    for bad in ("Traceback", "KeyboardInterrupt", "leaked semaphore", "resource_tracker"):
        assert bad not in output, output
    _assert_gone(workers, "the interrupted search")  # the pool's processes (and the resource tracker)
    done = json.loads(checkpoint.read_text())["state"]["generation"]
    assert 1 <= done < 4

    resumed = _start(tmp_path, "resume")
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output
    assert "finished with" in output and "Traceback" not in output
    state = json.loads(checkpoint.read_text())["state"]
    assert state["generation"] == 4 and len(state["history"]) == 4 and state["final"] is not None


def test_a_dropped_ctrl_c_still_stops_at_the_next_job():
    """Python drops a KeyboardInterrupt raised inside a finalizer; the remembered Ctrl-C stops the run anyway."""
    import pytest

    from symmpo.search.executors import InlineExecutor, ctrl_c_stops

    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest may run in the background
    done = []
    try:
        with ctrl_c_stops():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
            except KeyboardInterrupt:
                pass  # what a finalizer does with it: "Exception ignored in ..."
            with pytest.raises(KeyboardInterrupt):
                for r in InlineExecutor().imap(abs, [-1, -2, -3]):
                    done.append(r)
    finally:
        signal.signal(signal.SIGINT, outer)
    assert done == []  # stopped after the first job, before handing its result on


STUDY = """
import sys
from slowjob import sleepy
from symmpo.search.executors import make_executor, run_stoppable

executor = make_executor("local", 2)
finished, _ = run_stoppable(
    executor, lambda: list(executor.imap_unordered(sleepy, range(4))), "interrupted: rerun to resume", end_on_error=True
)
sys.exit(0 if finished else 130)
"""


def test_sigterm_to_a_background_study_ends_its_workers_too(tmp_path):
    """``kill PID`` of a study started in the background (SIGINT ignored, as a non-interactive shell's ``&``
    leaves it): the study stops as on Ctrl-C and its pool's workers end with it, instead of running on,
    orphaned, through runs of minutes whose results nobody collects."""
    (tmp_path / "slowjob.py").write_text(
        JOB_MODULE + "\n\ndef sleepy(i):\n    time.sleep(60)\n    return i\n"
    )
    root = Path(__file__).resolve().parents[1]
    path = os.pathsep.join([str(tmp_path), str(root), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-c", STUDY],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # both workers are inside a job now
    workers = _children(proc.pid)
    assert len(workers) >= 2, proc.communicate(timeout=30)[0]
    os.kill(proc.pid, signal.SIGTERM)  # the main process only, as `kill PID` does
    output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130, output
    assert "interrupted: rerun to resume" in output and "Traceback" not in output
    _assert_gone(workers, "the stopped study")
