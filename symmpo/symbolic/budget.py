"""A CPU-time budget for sympy, whose simplify / limit / assumptions can run for minutes on some inputs.

``within(seconds, fn, default)`` runs ``fn()`` and returns ``default`` when the budget runs out;
``total(seconds)`` caps all ``within`` calls in a block together (one component's sympy work). The budget
counts the process's CPU time (a ``SIGPROF`` timer, ``time.process_time``), not wall-clock time: on a
loaded machine a wall-clock budget ran out for some trees and not for others, so canonical keys and
verdicts depended on what else was running (a search on Ray and the same search on the local pool
disagreed). CPU time makes them depend on the tree alone, up to the machine's speed. The timer only
applies in the main thread of a Unix process (the CLI, the search's main process and its workers);
elsewhere ``fn`` runs without one. Callers pass a fallback
that is always correct (e.g. "undecided, check numerically"), so running out of time never changes a
verdict from wrong to right, only from proved to not-disproved.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class OutOfTime(BaseException):  # noqa: N818 - BaseException so sympy's broad `except Exception` cannot swallow it
    """Raised inside the budgeted computation when its time is up."""


_deadlines: list[float] = []  # innermost total budget last (see ``total``)


@contextmanager
def total(seconds: float) -> Iterator[None]:
    """A budget shared by every ``within`` call inside the block (e.g. all sympy work on one component)."""
    _deadlines.append(time.process_time() + seconds)
    try:
        yield
    finally:
        _deadlines.pop()


def _usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def within(seconds: float, fn: Callable[[], T], default: T) -> T:
    """fn() if it finishes within ``seconds``, else ``default`` (no budget where SIGPROF is unusable).

    An outer timer (someone else's alarm) is respected: the budget is cut to what it has left, and it is
    re-armed afterwards with its remaining time, so it still fires in its own context.
    """
    if _deadlines:
        seconds = min(seconds, _deadlines[-1] - time.process_time())
        if seconds <= 0.01:
            return default
    if not _usable():
        return fn()
    outer = signal.getitimer(signal.ITIMER_PROF)[0]
    start = time.process_time()

    def expire(signum: int, frame: Any) -> None:
        raise OutOfTime

    previous = signal.signal(signal.SIGPROF, expire)
    try:
        signal.setitimer(signal.ITIMER_PROF, min(seconds, outer) if outer > 0 else seconds)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
    except OutOfTime:
        return default
    finally:
        signal.signal(signal.SIGPROF, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_PROF, max(outer - (time.process_time() - start), 1e-3))
