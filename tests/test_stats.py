"""symmpo.stats against small worked examples computed by hand."""

import math

import numpy as np
import pytest

from symmpo import stats


def test_iqm_is_the_mean_of_the_middle_half():
    # 8 values: drop 2 from each end -> mean(3, 4, 5, 6) = 4.5
    assert stats.iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    # a diverged run counts as a random policy (0) and lands in the trimmed tail
    assert stats.iqm([10, 11, 12, 13, -math.inf, 14, 15, 16]) == pytest.approx((11 + 12 + 13 + 14) / 4)


def test_iqm_ci_stratified_contains_point_and_is_reproducible():
    by_task = [[1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 5.0, 6.0, 7.0]]
    a = stats.iqm_ci(by_task, seed=3)
    b = stats.iqm_ci(by_task, seed=3)
    assert a == b
    # pooled 10 values, 25 % trimmed: int(2.5) = 2 cut per end -> mean(3, 3, 4, 4, 5, 5) = 4
    assert a["iqm"] == pytest.approx(4.0)
    assert a["ci"][0] <= a["iqm"] <= a["ci"][1]
    assert a["n"] == 10


def test_probability_of_improvement_counts_ties_as_half():
    # x = [1, 2, 3], y = [0, 2, 4]: wins 1>0; 2>0, 2=2 (1/2); 3>0, 3>2 -> 4.5 of 9 pairs
    assert stats.probability_of_improvement([[1, 2, 3]], [[0, 2, 4]])["p"] == pytest.approx(0.5)
    # all of x above all of y -> 1; averaged over two tasks with 1 and 0 -> 0.5
    assert stats.probability_of_improvement([[5, 6]], [[1, 2]])["p"] == pytest.approx(1.0)
    assert stats.probability_of_improvement([[5, 6], [1, 2]], [[1, 2], [5, 6]])["p"] == pytest.approx(0.5)


def test_paired_t_by_hand():
    # d = [1, 2, 3, 4, 5]: mean 3, sd sqrt(2.5), t = 3 / (sqrt(2.5) / sqrt(5)) = 4.2426
    r = stats.paired_test([1, 2, 3, 4, 5], [0, 0, 0, 0, 0])
    assert r["diff"] == pytest.approx(3.0)
    assert r["t"] == pytest.approx(3 / math.sqrt(2.5 / 5))
    assert 0.01 < r["p"] < 0.02  # t(4) two-sided at 4.24
    assert stats.paired_test([1, 2], [1, 2])["p"] == 1.0
    with pytest.raises(ValueError, match="common seeds"):
        stats.paired_test([1, 2, 3], [1, 2])


def test_holm_by_hand():
    # sorted p: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone: 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    out = stats.holm([0.01, math.nan])
    assert out[0] == pytest.approx(0.01) and math.isnan(out[1])


def test_verdicts_come_from_corrected_p():
    assert stats.verdict(2.0, 0.01) == "beats"
    assert stats.verdict(-2.0, 0.01) == "loses"
    assert stats.verdict(2.0, 0.2) == "ties"
    assert stats.verdict(2.0, math.nan) == "ties"


def test_eta_squared_by_hand():
    # grand mean 3.5; SS_between = 3 (1.5^2) * 2 = 13.5; SS_total = 17.5
    assert stats.eta_squared([[1, 2, 3], [4, 5, 6]]) == pytest.approx(13.5 / 17.5)
    assert stats.eta_squared([[1, 1], [1, 1]]) == 0.0


def test_spearman_ci():
    r = stats.spearman_ci([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5], seed=0)
    # d = [1, 1, 1, 1, 1, 1] in ranks: rho = 1 - 6 * 6 / (6 * 35) = 0.8286
    assert r["spearman"] == pytest.approx(1 - 6 * 6 / (6 * 35))
    assert r["ci"][0] <= r["spearman"] <= r["ci"][1]
    assert np.isfinite(r["ci"]).all()


def test_minimum_detectable_effect_matches_the_normal_approximation_and_simulation():
    # large n: the paired t-test's MDE tends to (z_{1-a/2} + z_{power}) * sd / sqrt(n)
    from scipy.stats import norm

    sd, n = 3.0, 400
    approx = (norm.ppf(0.975) + norm.ppf(0.8)) * sd / np.sqrt(n)
    assert stats.minimum_detectable_effect(sd, n, 0.05) == pytest.approx(approx, rel=0.01)
    # small n, strict level: simulate the power at the returned effect (it must be ~80 %)
    sd, n, alpha = 5.0, 20, 0.05 / 20
    mde = stats.minimum_detectable_effect(sd, n, alpha)
    rng = np.random.default_rng(0)
    from scipy.stats import ttest_1samp

    d = rng.normal(mde, sd, size=(4000, n))
    power = float(np.mean(ttest_1samp(d, 0.0, axis=1).pvalue < alpha))
    assert power == pytest.approx(0.8, abs=0.03)
    # more seeds detect smaller effects; a zero SD detects everything; too few seeds detect nothing
    assert stats.minimum_detectable_effect(sd, 40, alpha) < mde
    assert stats.minimum_detectable_effect(0.0, 20, alpha) == 0.0
    assert np.isnan(stats.minimum_detectable_effect(sd, 1, alpha))


def test_paired_sd_counts_diverged_runs_as_zero():
    assert stats.paired_sd([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert stats.paired_sd([float("-inf"), 2.0], [0.0, 0.0]) == pytest.approx(np.std([0.0, 2.0], ddof=1))


def test_table_stats_reports_power_and_takes_a_best_baseline_chosen_elsewhere():
    from symmpo.train.table_stats import table_stats

    rng = np.random.default_rng(1)
    rows = []
    for seed in range(6):
        base = rng.normal(50, 10)
        for lab, shift in (("dpo", 0.0), ("sft", 1.0), ("x", 4.0)):
            rows.append({"task": "t", "seed": seed, "label": lab, "score": base + shift + rng.normal(0, 2)})
    # chosen on the table (the fallback, labelled as such): sft or x by IQM
    st = table_stats(rows, ["dpo", "sft", "x"], ["t"], baselines=["dpo", "sft"])
    assert st["tasks"]["t"]["best_baseline_from"] == "table"
    # chosen on fitness data: dpo, whatever the table says
    st = table_stats(rows, ["dpo", "sft", "x"], ["t"], baselines=["dpo", "sft"], chosen_best={"t": "dpo"})
    cell = st["tasks"]["t"]
    assert cell["best_baseline"] == "dpo" and cell["best_baseline_from"] == "fitness"
    for c in cell["comparisons"]:
        assert c["paired_sd"] > 0 and 0 <= c["prob_improvement"] <= 1
        assert c["mde"] == pytest.approx(
            stats.minimum_detectable_effect(c["paired_sd"], 6, stats.ALPHA / st["n_comparisons"])
        )
    assert st["mde_alpha"] == stats.ALPHA / st["n_comparisons"]
    assert cell["power"]["n_seeds"] == 6 and cell["power"]["median_paired_sd"] > 0
    # two references (the LLM table: the model without PO, and DPO): each judged objective meets both and the
    # best baseline, one test per distinct pair, all in one Holm family
    st = table_stats(
        rows, ["dpo", "sft", "x"], ["t"], baselines=["dpo", "sft"], reference=["sft", "dpo"], judged=["x"]
    )
    assert st["references"] == ["sft", "dpo"]
    pairs = [(c["objective"], c["against"]) for c in st["tasks"]["t"]["comparisons"]]
    assert sorted(pairs) == [("x", "dpo"), ("x", "sft")] and st["n_comparisons"] == 2


def test_gain_lines_report_what_po_adds_to_the_reference_per_environment_and_setting():
    """The validity table of a benchmark report: one row per environment, one column per setting; DPO − SFT
    and the fitness-chosen best − SFT from the table's own corrected tests, bold only where the gain survives."""
    from symmpo.studies.tables import gain_lines
    from symmpo.train.table_stats import table_stats

    rng = np.random.default_rng(0)
    rows = []
    tasks = ["hopper-clean@v3", "hopper-noisy-0.2@v3", "walker2d-clean@v3"]
    shifts = {"hopper-clean@v3": 10.0, "hopper-noisy-0.2@v3": 0.0, "walker2d-clean@v3": -10.0}
    for task in tasks:
        for seed in range(8):  # few seeds: the bootstrap CIs of table_stats dominate the test's time
            base = rng.normal(30, 5)
            for lab, shift in (("sft", 0.0), ("dpo", shifts[task]), ("ipo", shifts[task] / 2)):
                rows.append(
                    {"task": task, "seed": seed, "label": lab, "score": base + shift + rng.normal(0, 1)}
                )
    best = {"hopper-clean@v3": "ipo", "hopper-noisy-0.2@v3": "sft", "walker2d-clean@v3": "dpo"}
    st = table_stats(rows, ["sft", "dpo", "ipo"], tasks, baselines=["sft", "dpo", "ipo"], chosen_best=best)
    lines = gain_lines(st, tasks, "sft")
    table = [x for x in lines if x.startswith("| ")]
    assert table[0] == "| environment | clean | noisy-0.2 |"
    hopper, walker = table[1], table[2]
    assert hopper.startswith("| hopper | **+") and "ipo **+" in hopper  # gains, corrected
    assert "sft is the best" in hopper.split("|")[3]  # noisy-0.2: the fitness chose SFT itself
    assert walker.startswith("| walker2d | -") and "**" not in walker and walker.endswith("| – |")
    assert walker.count(", loses)") == 2 and ", loses" not in hopper
    assert gain_lines(st, tasks, "nobody") == []


def test_vectorized_bootstrap_cis_equal_the_per_resample_ones():
    """The IQM and probability-of-improvement CIs score all resamples in one call; they must equal what
    scipy's bootstrap gives with the plain per-resample statistics (trim_mean, Mann-Whitney U / n·m), ties
    and two strata included."""
    from scipy.stats import mannwhitneyu, trim_mean

    rng = np.random.default_rng(3)
    x = [np.round(rng.normal(0, 1, 12), 1), np.round(rng.normal(1, 1, 9), 1)]  # rounding makes ties
    y = [np.round(rng.normal(0.3, 1, 12), 1), np.round(rng.normal(0.5, 1, 9), 1)]

    def reference(samples, statistic):  # scipy's bootstrap, one plain call per resample
        return list(stats._bootstrap(samples, statistic, seed=0, vectorized=False))

    def u(*xs):
        return np.mean(
            [mannwhitneyu(a, b).statistic / (len(a) * len(b)) for a, b in zip(xs[:2], xs[2:], strict=True)]
        )

    assert stats.iqm_ci(x)["ci"] == pytest.approx(
        reference(x, lambda *xs: trim_mean(np.concatenate(xs), 0.25))
    )
    assert stats.probability_of_improvement(x, y)["ci"] == pytest.approx(reference([*x, *y], u))
    assert stats.probability_of_improvement(x, y)["p"] == pytest.approx(u(*x, *y))
