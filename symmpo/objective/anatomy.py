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
from difflib import SequenceMatcher
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


def shape(e: Expr, numbers: bool = False) -> str:
    """The formula with every fitted constant written ``c``; fixed numbers (the 1 of 1 − p, a hinge's margin 1)
    stay, or become ``c`` too with ``numbers`` (to match a loss against a named one whose margin is fixed)."""
    return to_formula(map_consts(e, lambda c: c if c.kind == "fixed" and not numbers else Var("c")))


def terms(e: Expr, var: str = "p", numbers: bool = False) -> str:
    """The additive terms of a component that read ``var`` (constant factors and constant terms dropped: they
    rescale β or cancel in the margin), sorted, joined by " + "; "0" when none reads it."""
    found = {
        shape(t, numbers) for t in (get_at(e, path) for path in term_paths(e, var)) if var in variables(t)
    }
    return " + ".join(sorted(found)) or "0"


# coarse features read off the fine ones: what a reader asks first of a set of winners
COARSE = {
    "has an imitation term": lambda f: "yes" if f["w_sft"] != "0" else "no",
    "reads τ (TA-MPO)": lambda f: "yes" if any("tau" in v for v in f.values()) else "no",
}


def anatomy(obj: ObjectiveLike, numbers: bool = False) -> dict[str, str]:
    """One objective's features (FEATURES), as short strings; "neural" for a component that is not a tree.
    ``numbers``: fixed numbers read as ``c`` too (shapes only, for :func:`closest_named`)."""
    comps = obj.components

    def read(name: str, how: Any) -> str:
        c = comps[name]
        return how(c, numbers=numbers) if is_tree(c) else "neural"

    def weight(e: Expr, numbers: bool) -> str:
        if is_const(e, 0.0):
            return "0"
        return "c" if numbers and is_const(e) else shape(e, numbers)

    psi = comps["psi"]
    tied = getattr(obj, "psi_tied", False) or psi == comps["phi_inv"]
    return {
        "reduce": f"{getattr(obj, 'granularity', 'sequence')}, {getattr(obj, 'reduce', 'sum')}",
        "reference": "yes" if obj.uses_reference else "no",
        "phi_inv": read("phi_inv", terms),
        "psi": "= φ⁻¹" if tied else ("0" if is_tree(psi) and is_const(psi) else read("psi", terms)),
        "g": read("g", shape),
        "w_po": read("w_po", weight),
        "w_sft": read("w_sft", weight),
    }


def _shape_key(obj: ObjectiveLike) -> dict[str, str]:
    """Features for matching shapes: fixed numbers as ``c``, and a ψ whose terms are φ⁻¹'s counted as tied
    (c·log p against log p differ by a factor that only rescales the reference's log-ratio)."""
    key = anatomy(obj, numbers=True)
    if key["psi"] == key["phi_inv"]:
        key["psi"] = "= φ⁻¹"
    return key


def _named() -> dict[str, ObjectiveLike]:
    """The MPO-family named losses (the plain baselines have no trees to compare)."""
    from symmpo.objective.core import Objective
    from symmpo.objective.named import is_plain, names

    return {n: Objective.named(n) for n in names() if not is_plain(n)}


MAX_CLOSEST = 3  # closest named losses listed; further ties are counted


def closest_named(obj: ObjectiveLike, named: Mapping[str, ObjectiveLike] | None = None) -> list[str]:
    """The named losses whose shape differs from ``obj``'s in the fewest features, each with what differs
    (``rpo (g: logsigmoid(z - c), not logsigmoid(z))``), or ``["none"]`` when every named loss differs in 3 or
    more. Why: a printed winner is a finding only if it is not a known loss with other constants."""
    named = _named() if named is None else named
    mine, shown = _shape_key(obj), anatomy(obj)
    diffs = {}
    for n, other in named.items():
        key = _shape_key(other)
        diffs[n] = [f for f in FEATURES if mine[f] != key[f]]
    best = min(len(d) for d in diffs.values())
    if best >= 3:
        return ["none"]
    theirs = {n: anatomy(named[n]) for n, d in sorted(diffs.items()) if len(d) == best}
    tied = list(theirs)
    if len(tied) > MAX_CLOSEST:
        # many named losses differ in the same one feature (a new g differs from every g): show those whose
        # text there is most alike (DPO's `logsigmoid(z)` for `logsigmoid(z - c)`), and count the rest
        def likeness(n: str) -> float:
            return sum(SequenceMatcher(None, shown[f], theirs[n][f]).ratio() for f in diffs[n])

        tied.sort(key=lambda n: (-likeness(n), n))
    out = []
    for n in tied[:MAX_CLOSEST]:
        what = "; ".join(f"{TITLES[f]} `{shown[f]}`, not `{theirs[n][f]}`" for f in diffs[n])
        out.append(f"{n} ({what})" if diffs[n] else f"{n} (same shape)")
    if len(tied) > MAX_CLOSEST:
        out.append(f"{len(tied) - MAX_CLOSEST} more named losses differ in as many features")
    return out


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
    symbolic = {k: v for k, v in objectives.items() if "neural" not in feats[k].values()}
    if symbolic:
        named = _named()
        out += [
            "",
            "Closest named losses (fewest features that differ; fixed numbers and fitted constants alike):",
            "",
        ]
        out += [f"- {label}: " + "; ".join(closest_named(obj, named)) for label, obj in symbolic.items()]
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
