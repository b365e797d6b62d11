"""Whole-search throughput: candidates fully evaluated per core-minute, 1 vs 2 worker processes.

A candidate is "fully evaluated" when it has been trained and scored on every task × fitness seed of the
preset. Both runs use the same preset, search seed and generations, so they train the same candidates
(the chunking does not depend on the worker count); only the wall time differs.

    .venv/bin/python benchmarks/bench_search.py [--preset default] [--generations 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from symmpo.search.evolve import Evolution
from symmpo.search.executors import make_executor
from symmpo.search.presets import apply_overrides, preset_config
from symmpo.search.rundir import RunDir
from symmpo.search.space import ObjectiveSpace


def measure(config: dict, workers: int, root: Path) -> tuple[int, float]:
    """(candidates trained, wall seconds) of the search generations, without the final re-scoring."""
    run = RunDir.create(root / f"w{workers}", config)
    space = ObjectiveSpace.from_config(config)
    executor = make_executor("local", workers)
    try:
        evo = Evolution(config, run, space, executor, progress=False)
        t0 = time.perf_counter()
        while evo.generation < int(config["generations"]):
            evo.step()
        seconds = time.perf_counter() - t0
    finally:
        executor.close()
    return sum(h["trained"] for h in evo.history), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--population", type=int)
    args = parser.parse_args()
    config = apply_overrides(
        preset_config(args.preset), generations=args.generations, population=args.population
    )
    with tempfile.TemporaryDirectory() as tmp:
        # warm the dataset and reference-policy caches so neither run pays for building them
        measure(apply_overrides(config, generations=1, population=2), 1, Path(tmp) / "warm")
        rates = {}
        for workers in (1, 2):
            n, seconds = measure(config, workers, Path(tmp))
            rates[workers] = n / (seconds / 60.0) / workers
            print(
                f"{workers} worker(s): {n} candidates in {seconds:.1f} s = "
                f"{rates[workers]:.2f} candidates per core-minute"
            )
    print(
        f"per-core efficiency 2 workers / 1 worker: {rates[2] / rates[1]:.2f} "
        f"(speed-up {2 * rates[2] / rates[1]:.2f}x)"
    )


if __name__ == "__main__":
    main()
