"""A table report's statistics: the vectorized bootstrap CIs of ``symmpo.stats`` against scipy's bootstrap
with the same statistics scored one resample at a time (the reference), measured in the same run.

A benchmark report makes one IQM CI per (objective, column) and one probability-of-improvement CI per
comparison; the suite-v3 table (22 objectives, 12 columns, 20 seeds) makes hundreds. Both sides resample
with the same generator, so the CIs must agree; the script checks that before it prints the ratio.

    .venv/bin/python benchmarks/bench_stats.py [--seeds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import mannwhitneyu, trim_mean

from symmpo import stats


def _reference(samples: list[np.ndarray], statistic) -> list[float]:
    """scipy's bootstrap calling the plain statistic once per resample (symmpo's own non-vectorized path)."""
    return list(stats._bootstrap(samples, statistic, seed=0, vectorized=False))


def _u(*xs: np.ndarray) -> float:
    k = len(xs) // 2
    return float(
        np.mean(
            [mannwhitneyu(a, b).statistic / (len(a) * len(b)) for a, b in zip(xs[:k], xs[k:], strict=True)]
        )
    )


def _timed(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="runs per sample (a table's held-out seeds)")
    ap.add_argument("--repeats", type=int, default=3, help="timings per case; the best is reported")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = [np.round(rng.normal(30, 10, args.seeds), 1)]
    y = [np.round(rng.normal(35, 10, args.seeds), 1)]
    cases = {
        "IQM CI": (
            lambda: stats.iqm_ci(x)["ci"],
            lambda: _reference(x, lambda *s: trim_mean(np.concatenate(s), 0.25)),
        ),
        "P(improvement) CI": (
            lambda: stats.probability_of_improvement(x, y)["ci"],
            lambda: _reference([*x, *y], _u),
        ),
    }
    print(f"{stats.N_RESAMPLES} resamples, {args.seeds} runs per sample, best of {args.repeats}")
    for name, (ours, ref) in cases.items():
        t_ours, ci_ours = _timed(ours, args.repeats)
        t_ref, ci_ref = _timed(ref, args.repeats)
        if not np.allclose(ci_ours, ci_ref):
            raise SystemExit(f"{name}: CIs differ: {ci_ours} vs reference {ci_ref}")
        print(
            f"{name:<18} symmpo {t_ours * 1e3:8.1f} ms   per-resample reference {t_ref * 1e3:8.1f} ms   "
            f"speed-up {t_ref / t_ours:6.1f}x   (same CI {np.round(ci_ours, 3).tolist()})"
        )


if __name__ == "__main__":
    main()
