"""Per-candidate cost of the search's admission check (validity checker + limits), as the search calls it.

    .venv/bin/python benchmarks/bench_validity.py [--grammar mirror] [-n 60] [--seed 0]

Candidates are what the search checks: grammar samples and point-mutated children (point mutation may
leave the grammar, so those go through the full numeric checker). A third line times the checker alone on
other grammar samples without grammar knowledge (every component checked symbolically / numerically, as
``symmpo check`` does). Single-threaded; prints the median and 90th percentile per candidate, never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from symmpo.search.space import ObjectiveSpace

try:
    from symmpo.objective import check_objective
except ImportError:  # older versions, to compare against: the checker held it
    from symmpo.objective.component_checks import check_objective


def full_check(obj) -> str | None:
    """check_objective without grammar knowledge (older versions had no ``limits`` argument)."""
    try:
        verdicts = check_objective(obj, limits=True)
    except TypeError:
        verdicts = check_objective(obj)
    bad = [k for k, v in verdicts.items() if not v.valid]
    return ", ".join(bad) or None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grammar", default="mirror")
    ap.add_argument("-n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = ObjectiveSpace.load(args.grammar)
    rng = np.random.default_rng(args.seed)
    samples = [space.sample(rng) for _ in range(args.n)]
    children = [c for c in (space.mutate(s, "point", rng) for s in samples) if c is not None]
    fresh = [space.sample(rng) for _ in range(args.n)]  # unseen trees: no cache helps the checker alone
    space.check(samples[0])  # imports and caches out of the timing
    runs = (("grammar sample", samples, space.check), ("point-mutated child", children, space.check))
    runs += (("checker alone, sample", fresh, full_check),)
    for label, cands, check in runs:
        times, rejected = [], 0
        for c in cands:
            t0 = time.perf_counter()
            verdict = check(c)
            times.append(time.perf_counter() - t0)
            rejected += verdict is not None
        q = np.quantile(times, [0.5, 0.9])
        print(
            f"{label:>22}: n={len(cands)}  median {1000 * q[0]:.1f} ms  p90 {1000 * q[1]:.1f} ms  "
            f"mean {1000 * statistics.fmean(times):.1f} ms  rejected {rejected}"
        )


if __name__ == "__main__":
    main()
