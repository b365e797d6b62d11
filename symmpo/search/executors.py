"""Where fitness jobs run: in-process, a local process pool (default), or a Ray cluster.

A job is a pure function of its arguments (objective dicts, task, seed, training config), so every
executor returns the same numbers; executors only differ in where the work happens. Results come
back in job order, which keeps a search bit-reproducible whatever the executor or worker count;
``imap_unordered`` gives them as they finish (with their job's index), for callers that store each result at
once, so that an interrupt loses only the jobs still running.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Protocol

from symmpo.errors import SymmpoError

EXECUTORS = ("local", "inline", "ray")


class ExecutorError(SymmpoError):
    """An executor cannot be created (unknown name, Ray missing, bad worker count)."""


@contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C (SIGINT) inside the block; processes started here inherit the ignore.

    Ctrl-C signals the whole foreground process group. Workers started with SIGINT ignored never see it:
    only the main process stops (and then ends the workers itself), so an interrupted run prints no worker
    tracebacks and leaves no half-torn-down pool (the source of "leaked semaphore" warnings). Main thread
    only; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_interrupted = threading.Event()


@contextmanager
def ctrl_c_stops() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, as usual, and is also remembered.

    Python drops a KeyboardInterrupt that lands inside a finalizer or weakref callback ("Exception ignored
    in ..."), and the run would go on. Remembered, it still stops the run at the next job boundary
    (:func:`check_interrupt`, called by the executors after each job and by the loop after each
    generation). Main thread only; a process started with Ctrl-C ignored keeps ignoring it.
    """
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        yield
        return
    _interrupted.clear()

    def handler(signum: int, frame: Any) -> None:
        _interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupted.clear()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A ``kill`` (SIGTERM) behaves like Ctrl-C: KeyboardInterrupt in the main thread, so a search stops between
    checkpoints and a study's workers are ended, not orphaned to finish runs of minutes whose results nobody
    collects. (A background job started by a non-interactive shell ignores SIGINT; SIGTERM is how it is stopped.)
    Main thread only; elsewhere the block runs unchanged."""

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


def check_interrupt() -> None:
    """Raise KeyboardInterrupt when Ctrl-C was pressed inside ``ctrl_c_stops`` (even if Python dropped it)."""
    if _interrupted.is_set():
        raise KeyboardInterrupt("interrupted")


def _ready() -> bool:
    """A no-op job: submitting one per worker starts every worker at once (inside ``sigint_ignored``)."""
    return True


def single_thread_worker() -> None:
    """Worker initializer: one torch / BLAS thread per process, so N workers use N cores, not N²."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        import torch

        torch.set_num_threads(1)
        # Interop threads can only be set once per process, before any parallel work.
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    except ImportError:
        pass


class Executor(Protocol):
    """Runs ``fn(job)`` for every job; results in job order."""

    name: str
    workers: int

    def imap(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[Any]: ...

    def imap_unordered(
        self, fn: Callable[[Any], Any], jobs: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]: ...  # (job index, result) as jobs finish

    def close(self) -> None: ...

    def terminate(self) -> None: ...  # stop now, without waiting for running jobs (after Ctrl-C)


class InlineExecutor:
    """Runs jobs in this process: for tests, debugging and profiling."""

    name = "inline"

    def __init__(self) -> None:
        self.workers = 1

    def imap(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[Any]:
        for job in jobs:
            result = fn(job)
            check_interrupt()
            yield result

    def imap_unordered(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        yield from enumerate(self.imap(fn, jobs))

    def close(self) -> None:
        pass

    def terminate(self) -> None:
        pass


class LocalExecutor:
    """A process pool on this machine; ``spawn`` (or ``forkserver``) so no torch state is forked."""

    name = "local"

    def __init__(self, workers: int | None = None, start_method: str = "spawn"):
        if workers is not None and workers < 1:
            raise ExecutorError(f"--workers must be at least 1, got {workers}")
        if start_method not in mp.get_all_start_methods():
            raise ExecutorError(f"start method {start_method!r} is not available here")
        self.workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._context = mp.get_context(start_method)

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            with sigint_ignored():  # workers (spawned by these submits) inherit "ignore Ctrl-C"
                pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=self._context, initializer=single_thread_worker
                )
                for _ in range(self.workers):
                    pool.submit(_ready)
            self._pool = pool
        return self._pool

    def imap(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[Any]:
        pool = self._ensure()
        futures = [pool.submit(fn, job) for job in jobs]
        try:
            for fut in futures:
                result = fut.result()
                check_interrupt()
                yield result
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise

    def imap_unordered(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        pool = self._ensure()
        index = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        try:
            for fut in as_completed(index):
                result = fut.result()
                check_interrupt()
                yield index[fut], result
        except BaseException:
            for fut in index:
                fut.cancel()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def terminate(self) -> None:
        """Cancel queued jobs and end the workers now (a training job may run for minutes)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        stop = getattr(pool, "terminate_workers", None)  # Python >= 3.14
        if stop is not None:
            stop()
        else:  # before 3.14 there is no public way to end a pool's workers
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Jobs as Ray tasks (one CPU each) on a running cluster (``address``) or a fresh local instance."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError as err:
            raise ExecutorError(
                "--executor ray needs Ray: pip install 'symmpo[ray]' (or use --executor local)"
            ) from err
        self._ray = ray
        self._started_here = False
        self._sigterm: Any = None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            elif workers:
                kwargs["num_cpus"] = workers
            self._sigterm = signal.getsignal(signal.SIGTERM)
            ray.init(**kwargs)
            self._started_here = True
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))
        self._remote_cache: dict[Callable[[Any], Any], Any] = {}

    def _remote(self, fn: Callable[[Any], Any]) -> Any:
        if fn not in self._remote_cache:

            def run(job: Any, _fn: Callable[[Any], Any] = fn) -> Any:
                single_thread_worker()
                return _fn(job)

            self._remote_cache[fn] = self._ray.remote(num_cpus=1)(run)
        return self._remote_cache[fn]

    def imap(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[Any]:
        remote = self._remote(fn)
        refs = [remote.remote(job) for job in jobs]
        try:
            for ref in refs:
                result = self._ray.get(ref)
                check_interrupt()
                yield result
        except BaseException:
            for ref in refs:
                self._ray.cancel(ref, force=True)
            raise

    def imap_unordered(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        remote = self._remote(fn)
        refs = [remote.remote(job) for job in jobs]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                ready, pending = self._ray.wait(pending, num_returns=1)
                for ref in ready:
                    result = self._ray.get(ref)
                    check_interrupt()
                    yield index[ref], result
        except BaseException:
            for ref in pending:
                self._ray.cancel(ref, force=True)
            raise

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()
        # ray.init installs a sys.exit SIGTERM handler and shutdown keeps it: give back what was there, so
        # SIGTERM (and process pools forked later, which end their workers with it) behaves as before.
        if self._started_here and self._sigterm is not None and _main_thread():
            signal.signal(signal.SIGTERM, self._sigterm)
            self._sigterm = None

    def terminate(self) -> None:
        self.close()  # imap already cancelled the outstanding tasks


def run_stoppable(
    executor: Executor, body: Callable[[], Any], interrupted: str, end_on_error: bool = False
) -> tuple[bool, Any]:
    """``(True, body())``, or ``(False, None)`` when Ctrl-C or SIGTERM stopped it: the workers are then ended at once (not
    waited for) with further Ctrl-C ignored until they are gone, so nothing is left half torn down, and
    ``interrupted`` (how to resume) is printed. ``end_on_error``: an error in ``body`` ends them at once too
    (for jobs of minutes whose results would be lost anyway). The executor is closed in every case."""
    try:
        with ctrl_c_stops(), sigterm_as_interrupt():
            return True, body()
    except KeyboardInterrupt:
        with sigint_ignored():
            getattr(executor, "terminate", executor.close)()
            print(f"\n{interrupted}", flush=True)
        return False, None
    except BaseException:
        if end_on_error:
            with sigint_ignored():
                getattr(executor, "terminate", executor.close)()
        raise
    finally:
        with sigint_ignored():
            executor.close()


def make_executor(name: str, workers: int | None = None, address: str | None = None) -> Executor:
    """Build the executor named on the command line (``local``, ``inline`` or ``ray``)."""
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, address)
    raise ExecutorError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
