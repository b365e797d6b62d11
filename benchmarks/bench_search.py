"""Whole-search throughput and idle workers: candidates per core-minute (1 vs 2 workers), and the main process's
share of a generation's wall time.

A candidate is "fully evaluated" when it has been trained and scored on every task × fitness seed of the
preset. All runs use the same preset, search seed and generations, so they train the same candidates (the
chunking and the screening do not depend on the worker count); only the wall time differs.

The main process's share is the part of a generation in which the workers have nothing to do: the time the
main process spends outside waiting for results (breeding, bookkeeping, checkpoints) over the generation's
wall time. With ``--compare-main`` the same search also runs once with the validity checks and canonical keys
computed in the main process (how the search worked before they moved to the workers), measured in the same
run.

    .venv/bin/python benchmarks/bench_search.py [--preset default] [--generations 2] [--compare-main]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from symmpo.search.config import SearchConfig
from symmpo.search.evolve import Evolution, FormulaRepresentation, GPStrategy
from symmpo.search.executors import make_executor
from symmpo.search.loop import Search
from symmpo.search.rundir import RunDir
from symmpo.search.space import ObjectiveSpace


class WaitClock:
    """An executor wrapper that adds up how long the main process waits for results."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name
        self.workers = inner.workers
        self.waiting = 0.0

    def imap(self, fn: Callable[[Any], Any], jobs: Sequence[Any]) -> Iterator[Any]:
        results = self.inner.imap(fn, jobs)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(results)
            except StopIteration:
                self.waiting += time.perf_counter() - t0
                return
            self.waiting += time.perf_counter() - t0
            yield item

    def close(self) -> None:
        self.inner.close()


def measure(config: SearchConfig, workers: int, root: Path, screen_in_main: bool = False) -> dict[str, float]:
    """Candidates trained, wall seconds and the main process's busy seconds of the search generations
    (without the final re-scoring)."""
    name = f"w{workers}{'-main' if screen_in_main else ''}"
    run = RunDir.create(root / name, config)
    space = ObjectiveSpace.from_config(config)
    clock = WaitClock(make_executor("local", workers))
    try:
        if screen_in_main:
            strategy = GPStrategy(config, space)  # no executor: children are screened in this process
            representation = FormulaRepresentation(config, space)
            evo: Search = Search(config, run, strategy, representation, clock, progress=False)
        else:
            evo = Evolution(config, run, space, clock, progress=False)
        list(clock.inner.imap(len, [()] * workers))  # start the workers before the clock runs
        wall = busy = 0.0
        while evo.generation < config.generations:
            t0, w0 = time.perf_counter(), clock.waiting
            evo.step()
            seconds = time.perf_counter() - t0
            wall += seconds
            busy += seconds - (clock.waiting - w0)
            print(
                f"  {name} generation {evo.generation}: {seconds:.1f} s, main process busy "
                f"{seconds - (clock.waiting - w0):.2f} s",
                flush=True,
            )
    finally:
        clock.close()
    return {"trained": sum(h["trained"] for h in evo.history), "seconds": wall, "main": busy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--population", type=int)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--compare-main", action="store_true", help="also run with the checks in the main process"
    )
    args = parser.parse_args()
    config = SearchConfig.from_preset(args.preset).override(
        generations=args.generations, population=args.population
    )
    with tempfile.TemporaryDirectory() as tmp:
        # warm the dataset and reference-policy caches so no run pays for building them
        measure(config.override(generations=1, population=2), 1, Path(tmp) / "warm")
        rates = {}
        runs = [(w, False) for w in args.workers] + ([(max(args.workers), True)] if args.compare_main else [])
        for workers, in_main in runs:
            m = measure(config, workers, Path(tmp), in_main)
            rate = m["trained"] / (m["seconds"] / 60.0) / workers
            where = "checks in the main process" if in_main else "checks in the workers"
            if not in_main:
                rates[workers] = rate
            print(
                f"{workers} worker(s), {where}: {m['trained']} candidates in {m['seconds']:.1f} s = "
                f"{rate:.2f} candidates per core-minute; main process busy {m['main']:.1f} s = "
                f"{100 * m['main'] / m['seconds']:.1f} % of the generations' wall time (target <= 5 %)"
            )
    if 1 in rates and 2 in rates:
        print(
            f"per-core efficiency 2 workers / 1 worker: {rates[2] / rates[1]:.2f} "
            f"(speed-up {2 * rates[2] / rates[1]:.2f}x)"
        )


if __name__ == "__main__":
    main()
