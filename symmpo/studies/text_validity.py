"""Is the sorting suite valid for preference optimization? (issue 23 item 6)

A table can only rank PO losses if some PO loss improves on the reference it starts from. The check: the best
PO baseline *chosen on the fitness split* (the sweep's best mean score at its chosen setting; never the held-out
scores it is then judged on) against π_ref (``sft``) in every column of the held-out table; and, because a loss
with an NLL term may gain only by imitating the chosen answers, against continued SFT on the chosen responses
(``sft_chosen``, the control). DPO, which has no NLL term, is tested the same way. Its own Holm family
(separate from the table's verdicts on the discovered objectives), with each test's paired SD and minimum
detectable effect (80 % power, first Holm step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from symmpo import stats
from symmpo.studies.sweep import choose

CONTROL = "sft_chosen"
PURE = "dpo"  # tested beside the best loss: does a loss without an imitation term gain too?


def fitness_best_po(sweep_rows: Sequence[dict[str, Any]], reference: str) -> tuple[str, float] | None:
    """The PO baseline with the best fitness score at its chosen setting, and that score (None: no PO rows).

    ``reference`` (π_ref) and the continued-SFT control are not PO losses, so neither can be chosen."""
    po_rows = [r for r in sweep_rows if r["label"] != reference and r.get("objective") != CONTROL]
    if not po_rows:
        return None
    col = choose(po_rows)
    best = col.best()
    return best, col.fitness[best]


def fitness_best_baseline(
    sweep_rows: Sequence[dict[str, Any]], reference: str, eligible: Sequence[str]
) -> str | None:
    """The baseline (π_ref and the control included) with the best fitness score among ``eligible``: the
    column's best baseline that the table's verdicts test against, chosen without its held-out scores."""
    fit = dict(choose([r for r in sweep_rows if r["label"] != reference]).fitness) if sweep_rows else {}
    ref = [r["score"] for r in sweep_rows if r["label"] == reference]
    if ref:
        fit[reference] = sum(ref) / len(ref)
    fit = {k: v for k, v in fit.items() if k in eligible}
    return max(fit, key=lambda k: fit[k]) if fit else None


def validity(
    rows: Sequence[dict[str, Any]],
    tasks: Sequence[str],
    best: str,
    reference: str,
    also: Sequence[str] = (PURE,),
) -> dict[str, Any]:
    """Per column: ``best`` and each of ``also`` (by default DPO, a preference loss without an NLL term)
    against ``reference`` and against the control, and the control against ``reference`` (those present with
    >= 2 common seeds), Holm-corrected together."""
    tests: list[dict[str, Any]] = []
    losses = list(dict.fromkeys([best, *also]))
    pairs = [(lab, against) for lab in losses for against in (reference, CONTROL)] + [(CONTROL, reference)]
    for t in tasks:
        by = {
            lab: {int(r["seed"]): float(r["score"]) for r in rows if r["task"] == t and r["label"] == lab}
            for lab in (*losses, CONTROL, reference)
        }
        for lab, against in pairs:
            common = sorted(set(by[lab]) & set(by[against]))
            if len(common) < 2:
                continue
            a, b = [by[lab][k] for k in common], [by[against][k] for k in common]
            res = stats.paired_test(a, b)
            tests.append(
                {
                    "task": t,
                    "objective": lab,
                    "against": against,
                    "diff": res["diff"],
                    "p": res["p"],
                    "n_seeds": res["n"],
                    "paired_sd": stats.paired_sd(a, b),
                }
            )
    alpha = stats.ALPHA / max(1, len(tests))
    for c, p_adj in zip(tests, stats.holm([c["p"] for c in tests]), strict=True):
        c["p_holm"] = p_adj
        c["verdict"] = stats.verdict(c["diff"], p_adj)
        c["mde"] = stats.minimum_detectable_effect(c["paired_sd"], c["n_seeds"], alpha)
    return {"best_po": best, "reference": reference, "control": CONTROL, "mde_alpha": alpha, "tests": tests}


def comparison_rows(v: dict[str, Any]) -> list[str]:
    """Markdown rows of a validity check's tests (one per column and comparison)."""
    lines = [
        "",
        "| column | comparison | mean diff | paired SD | MDE | p_holm | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in v["tests"]:
        lines.append(
            f"| {c['task']} | {c['objective']} − {c['against']} | {c['diff']:+.1f} | {c['paired_sd']:.1f} | "
            f"{c['mde']:.1f} | {c['p_holm']:.3g} | {c['verdict']} |"
        )
    return lines


def validity_lines(v: dict[str, Any], fitness: float, target: float = 5.0) -> list[str]:
    """Markdown: the check's tests, and whether the best PO loss beats π_ref by ``target`` points (p_Holm <
    0.05) in each column."""
    lines = [
        "",
        f"Validity check (issue 23 item 6): the best PO baseline chosen on the fitness split is **{v['best_po']}** "
        f"(fitness score {fitness:.1f}; `{CONTROL}` and π_ref are not PO losses, so never chosen); {PURE}, "
        "without an NLL term, is tested beside it. Paired t-tests "
        f"on common seeds, Holm over these {len(v['tests'])} tests; MDE = the difference detected with 80 % "
        f"power at α / m = {v['mde_alpha']:.2g}.",
        *comparison_rows(v),
    ]
    met = [
        c["task"]
        for c in v["tests"]
        if c["objective"] == v["best_po"]
        and c["against"] == v["reference"]
        and c["diff"] >= target
        and math.isfinite(c["p_holm"])
        and c["p_holm"] < stats.ALPHA
    ]
    lines += [
        "",
        f"Target (best PO − SFT ≥ {target:g} points, p_holm < {stats.ALPHA:g}) met in: "
        + (", ".join(met) if met else "no column")
        + ".",
    ]
    return lines
