"""The statistics behind every results table (bench, compare, fidelity): one function, one ``stats.json`` shape.

Per task (column): each objective's mean, IQM with its bootstrap 95 % CI, seeds and per-seed scores; η² of the
objective factor (how much of the score variance the choice of loss explains at all); and paired comparisons on
common seeds of every objective against DPO and against the column's best baseline. All p-values of the
table are Holm-corrected together, and only the corrected p-values give "beats" / "ties" / "loses".

The column's best baseline must be chosen on data the table does not test on (``chosen_best``: picked on the
fitness split); choosing it by the IQM of the very scores it is then compared on is a winner's-curse bias, so
that fallback is labelled ``"best_baseline_from": "table"`` in the output. Every comparison also reports its
power: the SD of the paired differences, the minimum detectable effect at 80 % power for the first (most
stringent) Holm step, α / m, and rliable's probability of improvement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from symmpo import stats

REFERENCE = "dpo"


def _scores_by_seed(rows: Sequence[dict[str, Any]], label: str, task: str) -> dict[int, float]:
    return {int(r["seed"]): float(r["score"]) for r in rows if r["label"] == label and r["task"] == task}


def table_stats(
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    tasks: Sequence[str],
    baselines: Sequence[str],
    reference: str | Sequence[str] = REFERENCE,
    seed: int = 0,
    judged: Sequence[str] | None = None,
    chosen_best: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Statistics of a table of rows (``task``, ``seed``, ``label``, ``score``); see the module docstring.

    ``baselines`` are the labels eligible as "the column's best baseline" (named losses and SFT, not the
    discovered objectives being judged). ``judged`` restricts the comparisons to those labels (default: all),
    so a study of discovered objectives does not spend its correction on baseline-vs-baseline tests.
    ``chosen_best`` maps a task to its best baseline chosen on the fitness split (see the module docstring).
    ``reference``: the label (or labels) every judged objective is also tested against (DPO; the LLM study
    adds the model without PO).
    """
    references = [reference] if isinstance(reference, str) else list(reference)
    out: dict[str, Any] = {
        "alpha": stats.ALPHA,
        "correction": "holm",
        "test": "paired t (common seeds)",
        "references": references,
    }
    per_task: dict[str, Any] = {}
    tests: list[tuple[str, str, str, dict[str, Any]]] = []  # (task, label, against, test result)
    for t in tasks:
        by = {lab: _scores_by_seed(rows, lab, t) for lab in labels}
        by = {lab: s for lab, s in by.items() if s}
        objectives = {}
        for lab, s in by.items():
            vals = [s[k] for k in sorted(s)]
            ci = stats.iqm_ci([vals], seed=seed)
            finite = [v for v in vals if math.isfinite(v)]
            objectives[lab] = {
                "mean": float(sum(stats.finite_scores(vals)) / len(vals)),
                "iqm": ci["iqm"],
                "ci": ci["ci"],
                "seeds": sorted(s),
                "scores": vals,
                "diverged": len(vals) - len(finite),
            }
        eligible = [b for b in baselines if b in objectives]
        if chosen_best and t in chosen_best:
            best, best_from = chosen_best[t], "fitness"
        else:
            best = max(eligible, key=lambda b: objectives[b]["iqm"]) if eligible else None
            best_from = "table"
        per_task[t] = {
            "objectives": objectives,
            "eta_squared": stats.eta_squared([[by[lab][k] for k in sorted(by[lab])] for lab in by]),
            "best_baseline": best,
            "best_baseline_from": best_from,
            "comparisons": [],
        }
        for lab in by:
            if judged is not None and lab not in judged:
                continue
            for against in dict.fromkeys([*references, best]):
                if against is None or against == lab or against not in by:
                    continue
                common = sorted(set(by[lab]) & set(by[against]))
                if len(common) < 2:
                    continue
                a, b = [by[lab][k] for k in common], [by[against][k] for k in common]
                res = stats.paired_test(a, b)
                res["sd"] = stats.paired_sd(a, b)
                res["prob_improvement"] = stats.probability_of_improvement([a], [b], seed=seed)
                tests.append((t, lab, against, res))
    adjusted = stats.holm([res["p"] for *_, res in tests])
    first_step = stats.ALPHA / max(1, len(tests))
    for (t, lab, against, res), p_adj in zip(tests, adjusted, strict=True):
        per_task[t]["comparisons"].append(
            {
                "objective": lab,
                "against": against,
                "diff": res["diff"],
                "t": res["t"],
                "p": res["p"],
                "p_holm": p_adj,
                "n_seeds": res["n"],
                "verdict": stats.verdict(res["diff"], p_adj),
                "paired_sd": res["sd"],
                "mde": stats.minimum_detectable_effect(res["sd"], res["n"], first_step),
                "prob_improvement": res["prob_improvement"]["p"],
                "prob_improvement_ci": res["prob_improvement"]["ci"],
            }
        )
    for cell in per_task.values():
        sds = [c["paired_sd"] for c in cell["comparisons"] if math.isfinite(c["paired_sd"])]
        cell["power"] = _power_summary(sds, [c["n_seeds"] for c in cell["comparisons"]], first_step)
    out["n_comparisons"] = len(tests)
    out["mde_alpha"] = first_step
    all_sd = [c["paired_sd"] for cell in per_task.values() for c in cell["comparisons"]]
    all_n = [c["n_seeds"] for cell in per_task.values() for c in cell["comparisons"]]
    out["power"] = _power_summary([v for v in all_sd if math.isfinite(v)], all_n, first_step)
    out["tasks"] = per_task
    return out


def _power_summary(sds: Sequence[float], ns: Sequence[int], alpha: float) -> dict[str, Any]:
    """Median paired SD and the minimum detectable effect it implies at the table's seed count."""
    if not sds:
        return {"median_paired_sd": math.nan, "mde": math.nan, "n_seeds": 0, "alpha": alpha}
    sd = float(np.median(sds))
    n = int(min(ns)) if ns else 0
    return {
        "median_paired_sd": sd,
        "mde": stats.minimum_detectable_effect(sd, n, alpha),
        "n_seeds": n,
        "alpha": alpha,
    }


def verdict_of(table: dict[str, Any], task: str, label: str, against: str) -> dict[str, Any] | None:
    """The corrected comparison of ``label`` against ``against`` in ``task`` (None when not made)."""
    for c in table["tasks"].get(task, {}).get("comparisons", []):
        if c["objective"] == label and c["against"] == against:
            return c
    return None
