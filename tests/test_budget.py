"""The sympy budget counts CPU time: a busy computation is cut off, waiting (another job's load) is not."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from symmpo.symbolic.budget import total, within

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread(),
    reason="the budget needs SIGPROF in the main thread",
)


def _spin(seconds: float) -> str:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return "finished"


def test_busy_work_is_cut_off():
    t0 = time.process_time()
    assert within(0.2, lambda: _spin(5.0), "cut") == "cut"
    assert time.process_time() - t0 < 2.0


def test_waiting_does_not_count():
    """Sleeping stands for time the process does not run (a loaded machine): it must not use up the budget."""
    assert within(0.2, lambda: (time.sleep(0.5), "finished")[1], "cut") == "finished"


def test_total_caps_calls_together():
    with total(0.3):
        assert within(5.0, lambda: _spin(0.2), "cut") == "finished"
        assert within(5.0, lambda: _spin(5.0), "cut") == "cut"
