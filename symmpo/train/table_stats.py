"""The statistics behind every results table (bench, compare, fidelity): one function, one ``stats.json`` shape.

Per task (column): each objective's mean, IQM with its bootstrap 95 % CI, seeds and per-seed scores; η² of the
objective factor (how much of the score variance the choice of loss explains at all); and paired comparisons on
common seeds of every objective against DPO and against the column's best baseline (by IQM). All p-values of the
table are Holm-corrected together, and only the corrected p-values give "beats" / "ties" / "loses".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from symmpo import stats

REFERENCE = "dpo"


def _scores_by_seed(rows: Sequence[dict[str, Any]], label: str, task: str) -> dict[int, float]:
    return {int(r["seed"]): float(r["score"]) for r in rows if r["label"] == label and r["task"] == task}


def table_stats(
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    tasks: Sequence[str],
    baselines: Sequence[str],
    reference: str = REFERENCE,
    seed: int = 0,
    judged: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Statistics of a table of rows (``task``, ``seed``, ``label``, ``score``); see the module docstring.

    ``baselines`` are the labels eligible as "the column's best baseline" (named losses and SFT, not the
    discovered objectives being judged). ``judged`` restricts the comparisons to those labels (default: all),
    so a study of discovered objectives does not spend its correction on baseline-vs-baseline tests.
    """
    out: dict[str, Any] = {"alpha": stats.ALPHA, "correction": "holm", "test": "paired t (common seeds)"}
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
        best = max(eligible, key=lambda b: objectives[b]["iqm"]) if eligible else None
        per_task[t] = {
            "objectives": objectives,
            "eta_squared": stats.eta_squared([[by[lab][k] for k in sorted(by[lab])] for lab in by]),
            "best_baseline": best,
            "comparisons": [],
        }
        for lab in by:
            if judged is not None and lab not in judged:
                continue
            for against in dict.fromkeys([reference, best]):
                if against is None or against == lab or against not in by:
                    continue
                common = sorted(set(by[lab]) & set(by[against]))
                if len(common) < 2:
                    continue
                res = stats.paired_test([by[lab][k] for k in common], [by[against][k] for k in common])
                tests.append((t, lab, against, res))
    adjusted = stats.holm([res["p"] for *_, res in tests])
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
            }
        )
    out["n_comparisons"] = len(tests)
    out["tasks"] = per_task
    return out


def verdict_of(table: dict[str, Any], task: str, label: str, against: str) -> dict[str, Any] | None:
    """The corrected comparison of ``label`` against ``against`` in ``task`` (None when not made)."""
    for c in table["tasks"].get(task, {}).get("comparisons", []):
        if c["objective"] == label and c["against"] == against:
            return c
    return None
