"""What a discovered loss is made of, feature by feature, and what several of them have in common.

Why: a verdict over the top losses of many searches must say which components and terms the winners share
(issue 19, part 5). Their printed formulas differ in ways that do not matter (constant names, a constant factor
that only rescales β), so each feature is read off the trees with every constant shown as ``c`` and constant
factors of an additive term dropped (the terms of :func:`symmpo.objective.prune.term_paths`): ``c0 * log(p)``
and ``log(p)`` are the same φ⁻¹ *shape*; their sizes are in the β and constants columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from symmpo.objective.prune import term_paths
from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.expr import Expr, Var, constants, get_at, is_const, is_tree, map_consts, variables
from symmpo.symbolic.printing import fmt_number, to_formula

FEATURES = ("reduce", "reference", "phi_inv", "psi", "g", "w_po", "w_sft")
TITLES = {
    "reduce": "reduce",
    "reference": "π_ref",
    "phi_inv": "φ⁻¹ terms",
    "psi": "ψ",
    "g": "g",
    "w_po": "PO weight",
    "w_sft": "imitation (NLL) weight",
}


def shape(e: Expr) -> str:
    """The formula with every fitted constant written ``c`` (fixed numbers such as the 1 of 1 − p stay)."""
    return to_formula(map_consts(e, lambda c: c if c.kind == "fixed" else Var("c")))


def terms(e: Expr, var: str = "p") -> str:
    """The additive terms of a component that read ``var`` (constant factors and constant terms dropped: they
    rescale β or cancel in the margin), sorted, joined by " + "; "0" when none reads it."""
    found = {shape(t) for t in (get_at(e, path) for path in term_paths(e, var)) if var in variables(t)}
    return " + ".join(sorted(found)) or "0"


# coarse features read off the fine ones: what a reader asks first of a set of winners
COARSE = {
    "has an imitation term": lambda f: "yes" if f["w_sft"] != "0" else "no",
    "reads τ (TA-MPO)": lambda f: "yes" if any("tau" in v for v in f.values()) else "no",
}


def anatomy(obj: ObjectiveLike) -> dict[str, str]:
    """One objective's features (FEATURES), as short strings; "neural" for a component that is not a tree."""
    comps = obj.components

    def read(name: str, how: Any) -> str:
        c = comps[name]
        return how(c) if is_tree(c) else "neural"

    psi = comps["psi"]
    tied = getattr(obj, "psi_tied", False) or psi == comps["phi_inv"]
    return {
        "reduce": f"{getattr(obj, 'granularity', 'sequence')}, {getattr(obj, 'reduce', 'sum')}",
        "reference": "yes" if obj.uses_reference else "no",
        "phi_inv": read("phi_inv", terms),
        "psi": "= φ⁻¹" if tied else ("0" if is_tree(psi) and is_const(psi) else read("psi", terms)),
        "g": read("g", shape),
        "w_po": read("w_po", shape),
        "w_sft": read("w_sft", lambda e: "0" if is_const(e, 0.0) else shape(e)),
    }


def constants_text(obj: ObjectiveLike) -> str:
    """β and the named constants with their values: ``β 0.2996 · c0 0.7166 · c1 0.5298``."""
    values = {
        c.name: c.value
        for comp in obj.components.values()
        if is_tree(comp)
        for c in constants(comp)
        if c.name
    }
    parts = [f"β {fmt_number(obj.beta)}"] + [f"{k} {fmt_number(v)}" for k, v in sorted(values.items())]
    return " · ".join(parts)


def anatomy_lines(objectives: Mapping[str, ObjectiveLike]) -> list[str]:
    """Markdown: one row per objective (its features and constants), then each feature's most common value and
    how many of the objectives share it (the "what they have in common" of a verdict)."""
    feats = {label: anatomy(obj) for label, obj in objectives.items()}
    if not feats:
        return []
    out = [
        "| objective | " + " | ".join(TITLES[f] for f in FEATURES) + " | constants |",
        "|---|" + "---|" * (len(FEATURES) + 1),
    ]
    for label, obj in objectives.items():
        cells = [f"`{feats[label][f]}`" for f in FEATURES]
        out.append(f"| {label} | " + " | ".join(cells) + f" | {constants_text(obj)} |")
    return out + (["", *common_lines(feats)] if len(feats) > 1 else [])


def common_lines(feats: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Markdown: per feature, its most common value among the objectives and who shares it."""
    n = len(feats)
    out = ["| feature | most common | shared by | the others |", "|---|---|---|---|"]
    columns = [(TITLES[f], lambda v, f=f: v[f]) for f in FEATURES] + list(COARSE.items())
    for title, read in columns:
        counts = Counter(read(v) for v in feats.values())
        value, k = counts.most_common(1)[0]
        others = sorted({read(v) for v in feats.values()} - {value})
        out.append(
            f"| {title} | `{value}` | {k} of {n} | " + (", ".join(f"`{o}`" for o in others) or "–") + " |"
        )
    return out
