"""Statistics of the field for every table symmpo writes: IQM, stratified bootstrap CIs, probability of
improvement, paired tests with a Holm correction, and the effect size of the objective factor.

Why these: with a handful of training seeds, means and standard errors are fragile and "two standard errors"
rules have large false-positive rates once many cells are compared (``mean_se`` stays for the search's own
bookkeeping and quick summaries). The RL community's reporting standard
(Agarwal et al., 2021, "Deep RL at the edge of the statistical precipice", the rliable library) is the
interquartile mean (robust to one diverged seed, more efficient than the median) with percentile bootstrap
CIs that resample runs within each task (stratified), and the probability of improvement P(X > Y). Every
resampling and every test here is scipy's (`scipy.stats.bootstrap`, `trim_mean`, `ttest_rel`, `f_oneway`);
nothing is a hand-written bootstrap. P(X > Y) is the Mann-Whitney U over n·m counted pairwise, so one call
scores every resample (tests check it equals scipy's `mannwhitneyu`). Comparisons between objectives are *paired*:
symmpo trains every objective of a cell on the same seeds, minibatches and evaluation resets, so the per-seed
difference removes most of the seed-to-seed variance. Verdicts ("beats", "ties", "loses") come only from
Holm-corrected p-values over the whole table.

A diverged run (score −inf) counts as ``DIVERGED_SCORE`` (0 = random policy) in every statistic: such a loss
produced no usable policy, and an infinite value would make every mean and test meaningless.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

DIVERGED_SCORE = 0.0
ALPHA = 0.05
N_RESAMPLES = 2000


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean (nan for fewer than two values or any non-finite value)."""
    n = len(values)
    if n < 2 or any(not math.isfinite(v) for v in values):
        return math.nan
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(var / n)


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error; a run that died (−inf) makes the mean −inf, no values give nan."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan, math.nan
    if any(not math.isfinite(v) for v in vals):
        return -math.inf, math.nan
    return sum(vals) / len(vals), standard_error(vals)


def finite_scores(values: Sequence[float]) -> np.ndarray:
    """Scores as float64 with diverged runs (−inf / nan) replaced by ``DIVERGED_SCORE``."""
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, DIVERGED_SCORE)


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50 % (scipy's 25 %-trimmed mean)."""
    from scipy.stats import trim_mean

    arr = finite_scores(values)
    return float(trim_mean(arr, 0.25)) if arr.size else math.nan


def _bootstrap(
    samples: Sequence[np.ndarray],
    statistic: Callable[..., Any],
    seed: int,
    paired: bool = False,
    vectorized: bool = True,
) -> tuple[float, float]:
    """Percentile-bootstrap 95 % CI of ``statistic``. ``vectorized``: it takes the samples with the resamples
    on leading axes and the runs on the last, so one call scores every resample (a table's report makes
    hundreds of these CIs: per-resample calls made it minutes)."""
    from scipy.stats import bootstrap

    if any(len(s) < 2 for s in samples):
        return math.nan, math.nan
    if all(np.ptp(s) == 0 for s in samples):  # no spread anywhere: the CI is the point
        v = float(statistic(*samples))
        return v, v
    res = bootstrap(
        tuple(samples),
        (lambda *xs, axis=-1: statistic(*(np.moveaxis(x, axis, -1) for x in xs)))
        if vectorized
        else statistic,
        n_resamples=N_RESAMPLES,
        confidence_level=0.95,
        method="percentile",
        vectorized=vectorized,
        paired=paired,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def iqm_ci(scores_by_task: Sequence[Sequence[float]], seed: int = 0) -> dict[str, Any]:
    """IQM over all runs of all tasks, with a stratified percentile-bootstrap 95 % CI (runs are resampled
    within each task, tasks are kept). One task gives the plain bootstrap CI of that task's IQM."""
    samples = [finite_scores(s) for s in scores_by_task if len(s)]
    if not samples:
        return {"iqm": math.nan, "ci": [math.nan, math.nan], "n": 0}

    def stat(*xs: np.ndarray) -> np.ndarray:
        from scipy.stats import trim_mean

        return trim_mean(np.concatenate(xs, axis=-1), 0.25, axis=-1)  # iqm() of each resample

    lo, hi = _bootstrap(samples, stat, seed)
    return {"iqm": iqm(np.concatenate(samples)), "ci": [lo, hi], "n": int(sum(len(s) for s in samples))}


def probability_of_improvement(
    x_by_task: Sequence[Sequence[float]], y_by_task: Sequence[Sequence[float]], seed: int = 0
) -> dict[str, Any]:
    """P(X > Y) averaged over tasks (ties count one half), the Mann-Whitney U statistic over n·m; with a
    stratified bootstrap 95 % CI. 0.5 means neither objective tends to score higher."""
    pairs = [(finite_scores(x), finite_scores(y)) for x, y in zip(x_by_task, y_by_task, strict=True)]
    pairs = [(x, y) for x, y in pairs if len(x) and len(y)]
    if not pairs:
        return {"p": math.nan, "ci": [math.nan, math.nan]}

    def stat(*xs: np.ndarray) -> np.ndarray:
        """Mann-Whitney U / (n·m) of every resample at once: the share of (x, y) pairs with x > y, ties one
        half (exact: the counts are half-units)."""
        k = len(xs) // 2
        per_task = [
            np.mean(
                (x[..., :, None] > y[..., None, :]) + 0.5 * (x[..., :, None] == y[..., None, :]),
                axis=(-2, -1),
            )
            for x, y in zip(xs[:k], xs[k:], strict=True)
        ]
        return np.mean(per_task, axis=0)

    samples = [x for x, _ in pairs] + [y for _, y in pairs]
    lo, hi = _bootstrap(samples, stat, seed)
    return {"p": float(stat(*samples)), "ci": [lo, hi]}


def paired_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired t-test of ``a`` against ``b`` on common seeds (two-sided): mean difference, t and p.

    Why a t-test: with 5 seeds the exact sign-flip permutation test and Wilcoxon's signed-rank test cannot
    reach p < 0.0625, so they could never declare a difference; the paired t-test can, and the per-seed
    differences of objectives trained on common random numbers are close to symmetric. Differences that are
    all zero give p = 1; identical non-zero differences (no spread) give p = 0.
    """
    from scipy.stats import ttest_rel

    x, y = finite_scores(a), finite_scores(b)
    if len(x) != len(y):
        raise ValueError(f"paired test needs common seeds: {len(x)} vs {len(y)} scores")
    d = x - y
    diff = float(d.mean()) if len(d) else math.nan
    if len(d) < 2:
        return {"diff": diff, "t": math.nan, "p": math.nan, "n": int(len(d))}
    if np.ptp(d) == 0:
        return {"diff": diff, "t": math.nan, "p": 1.0 if diff == 0 else 0.0, "n": int(len(d))}
    res = ttest_rel(x, y)
    return {"diff": diff, "t": float(res.statistic), "p": float(res.pvalue), "n": int(len(d))}


def minimum_detectable_effect(sd: float, n: int, alpha: float, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided paired t-test at level ``alpha`` detects with ``power``,
    for paired differences of standard deviation ``sd`` over ``n`` seeds (noncentral t, solved exactly).

    Why report it: a "tie" means little unless the reader knows which differences the table could have seen.
    Pass the level of the test's Holm step (``alpha / m`` for the first, most stringent step) to get the
    effect the corrected table resolves.
    """
    from scipy.optimize import brentq
    from scipy.stats import nct
    from scipy.stats import t as student_t

    if n < 2 or not (math.isfinite(sd) and sd >= 0) or not 0 < alpha < 1:
        return math.nan
    if sd == 0:
        return 0.0
    df = n - 1
    crit = float(student_t.ppf(1 - alpha / 2, df))

    def shortfall(delta: float) -> float:
        nc = delta * math.sqrt(n) / sd
        lower = float(nct.cdf(-crit, df, nc))  # the wrong-sign tail: tiny, and nan far out in scipy
        return float(nct.sf(crit, df, nc)) + (lower if math.isfinite(lower) else 0.0) - power

    hi = sd
    while shortfall(hi) < 0:
        hi *= 2
    return float(brentq(shortfall, 0.0, hi, xtol=1e-6 * sd))


def paired_sd(a: Sequence[float], b: Sequence[float]) -> float:
    """Standard deviation (ddof 1) of the per-seed differences ``a - b``: what a paired test's power rests on."""
    d = finite_scores(a) - finite_scores(b)
    return float(d.std(ddof=1)) if len(d) >= 2 else math.nan


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (controls the family-wise error rate; nan stays nan)."""
    p = np.asarray(pvalues, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(p))
    out = np.full(p.shape, math.nan)
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def verdict(diff: float, p_adjusted: float, alpha: float = ALPHA) -> str:
    """'beats' / 'loses' when the corrected test rejects equality, else 'ties'."""
    if not (math.isfinite(p_adjusted) and p_adjusted < alpha):
        return "ties"
    return "beats" if diff > 0 else "loses"


def eta_squared(groups: Sequence[Sequence[float]]) -> float:
    """Share of the score variance explained by the objective (one-way ANOVA η² = SS_between / SS_total),
    from scipy's F statistic: η² = F·df_b / (F·df_b + df_w). Near 0: the cell cannot tell objectives apart."""
    from scipy.stats import f_oneway

    gs = [finite_scores(g) for g in groups if len(g)]
    n = sum(len(g) for g in gs)
    df_b, df_w = len(gs) - 1, n - len(gs)
    if df_b < 1 or df_w < 1:
        return math.nan
    allv = np.concatenate(gs)
    if np.ptp(allv) == 0:
        return 0.0
    if all(np.ptp(g) == 0 for g in gs):  # no spread within groups: the objective explains everything
        return 1.0
    f = float(f_oneway(*gs).statistic)
    return f * df_b / (f * df_b + df_w)


def spearman_ci(x: Sequence[float], y: Sequence[float], seed: int = 0) -> dict[str, Any]:
    """Spearman rank correlation of paired values with a percentile-bootstrap 95 % CI over the pairs."""
    from scipy.stats import spearmanr

    a, b = finite_scores(x), finite_scores(y)

    def stat(u: np.ndarray, v: np.ndarray) -> float:
        if np.ptp(u) == 0 or np.ptp(v) == 0:  # a constant side has no ranking: no correlation
            return 0.0
        r = spearmanr(u, v).statistic
        return float(r) if np.isfinite(r) else 0.0

    rho = stat(a, b)
    lo, hi = (
        (math.nan, math.nan) if len(a) < 3 else _bootstrap([a, b], stat, seed, paired=True, vectorized=False)
    )
    return {"spearman": rho, "ci": [lo, hi], "n": int(len(a))}
