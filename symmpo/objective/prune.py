"""Dead-term pruning: drop the additive terms of φ⁻¹ and ψ that do nothing on the log-probabilities that occur.

Why: with ``reduce: sum`` a response's probability is a product of hundreds of step probabilities (summed
log-probabilities of dataset responses have a median near −545), so every term of φ⁻¹ or ψ other than log P
(c·P, c·√P, −log(1 − P), …) is 0 to machine precision. A hall of fame that prints ``log(p) + c0*p`` next to
``log(p)`` shows one loss twice and misleads a reader about what acts.

The rule (docs/search.md, "Dead-term pruning"). A component is split into its additive terms (through +, −,
negation and products or quotients by factors free of p). Over a weighted sample S of the log-probabilities
L = log P that occur, term t of component f is *dead* when both

    gradient share  Σ_S w |∂t/∂L|          / Σ_u Σ_S w |∂u/∂L|          ≤ THRESHOLD
    value share     Σ_S w |t(L) − mean_S t| / Σ_u Σ_S w |u(L) − mean_S u| ≤ THRESHOLD

(u over all terms of f) at every progress τ in ``TAUS``: the loss is a weighted mean over pairs and its gradient
the mean of per-pair gradients; the value counts only through its variation because a constant cancels in the
margin; absolute values keep cancellations from hiding a term, and the denominator sums the terms' own sizes so
that a total dominated by one term is never subtracted. Values and derivatives (in L, the quantity the policy
moves) are those of the log-space form the loss compiles, in float64, safe operations included: √p of a p that
underflows is the safe square root's floor, a constant, exactly as in training. Dead terms are removed unless
that would leave no term; a term whose value or gradient is not finite somewhere on S is kept. The remaining
constants are not re-fitted: each removed term carried at most THRESHOLD of the component's value variation and
gradient, so the remaining constants are those the search fitted with the term present, acting the same.

The sample is a *sketch*: the log-probabilities at the fixed quantile levels ``LEVELS`` (dense in both tails, so
trapezoid weights over the levels estimate a mean over the data, extremes included), one sketch per source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.compile import compile_tree
from symmpo.symbolic.expr import Const, Expr, Node, Path, is_tree, variables
from symmpo.symbolic.rewrite import fold, to_log_space

THRESHOLD = 1e-6  # a term acting on less than a millionth of a component's value and gradient is dead
PRUNED_COMPONENTS = ("phi_inv", "psi")  # the components read p; g, w_po, w_sft read z or τ, never tiny
TAUS = (0.0, 0.5, 1.0)  # progress values a τ-dependent term is judged at
_TAIL = [2.0**-k for k in range(12, 6, -1)]  # 1/4096 ... 1/128
LEVELS = tuple(sorted({0.0, 1.0, *_TAIL, *(1 - t for t in _TAIL), *np.linspace(0, 1, 65).tolist()}))
_FREE_FACTOR_OPS = ("mul", "div")


@dataclass(frozen=True)
class Sample:
    """Log-probabilities L that occur and their weights (summing to 1)."""

    logp: np.ndarray
    weights: np.ndarray


def sketch(values: np.ndarray, weights: np.ndarray | None = None) -> list[float]:
    """The (weighted) quantiles of ``values`` at ``LEVELS``, rounded to 1e-3 (a few hundred bytes)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    keep = np.isfinite(v) & (w > 0)
    v, w = v[keep], w[keep]
    if v.size == 0:
        return []
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    q = np.interp(LEVELS, cdf, v)
    return [round(float(x), 3) for x in q]


def sample_of(sketches: Iterable[Sequence[float]]) -> Sample | None:
    """One sample from sketches of equally weighted sources (trapezoid weights over ``LEVELS``); None if empty."""
    levels = np.asarray(LEVELS)
    trap = np.zeros_like(levels)
    trap[1:] += np.diff(levels) / 2
    trap[:-1] += np.diff(levels) / 2
    parts = [np.asarray(s, dtype=np.float64) for s in sketches if s is not None and len(s) == len(LEVELS)]
    if not parts:
        return None
    logp = np.concatenate(parts)
    weights = np.concatenate([trap] * len(parts)) / len(parts)
    ok = np.isfinite(logp)
    return Sample(logp[ok], weights[ok] / weights[ok].sum())


# -- additive terms ------------------------------------------------------------------------------------
def _free(e: Expr, var: str) -> bool:
    return var not in variables(e)


def term_paths(e: Expr, var: str = "p", path: Path = ()) -> list[Path]:
    """Paths of the additive terms of ``e`` (through +, −, negation and factors free of ``var``)."""
    if isinstance(e, Node) and not _free(e, var):
        if e.op in ("add", "sub"):
            return term_paths(e.args[0], var, path + (0,)) + term_paths(e.args[1], var, path + (1,))
        if e.op == "neg":
            return term_paths(e.args[0], var, path + (0,))
        if e.op == "mul" and _free(e.args[0], var):
            return term_paths(e.args[1], var, path + (1,))
        if e.op in _FREE_FACTOR_OPS and _free(e.args[1], var):
            return term_paths(e.args[0], var, path + (0,))
    return [path]


def drop_terms(e: Expr, dead: set[Path], var: str = "p", path: Path = ()) -> Expr | None:
    """``e`` without the terms at ``dead`` (None when nothing is left); untouched subtrees keep their tags."""
    if path in dead:
        return None
    if not isinstance(e, Node) or _free(e, var):
        return e
    if e.op in ("add", "sub"):
        a = drop_terms(e.args[0], dead, var, path + (0,))
        b = drop_terms(e.args[1], dead, var, path + (1,))
        if a is None or b is None:
            if a is None and b is None:
                return None
            return a if b is None else (b if e.op == "add" else Node("neg", (b,)))
        return e if (a, b) == e.args else Node(e.op, (a, b), e.nt)
    inner = (
        0
        if e.op == "neg" or (e.op in _FREE_FACTOR_OPS and _free(e.args[1], var))
        else 1
        if e.op == "mul" and _free(e.args[0], var)
        else None
    )
    if inner is None:
        return e
    x = drop_terms(e.args[inner], dead, var, path + (inner,))
    if x is None:
        return None
    args = list(e.args)
    args[inner] = x
    return e if tuple(args) == e.args else Node(e.op, tuple(args), e.nt)


# -- judging terms on the sample ---------------------------------------------------------------------
def _value_and_grad(tree: Expr, logp: torch.Tensor, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """The tree in log space (as the loss compiles it) and its derivative in L, on float64 inputs."""
    t = fold(to_log_space(tree, "p"))
    if isinstance(t, Const):
        v = np.full(logp.shape, t.value)
        return v, np.zeros(logp.shape)
    x = logp.clone().requires_grad_(True)
    with torch.enable_grad():
        y = compile_tree(t, "L")(x, torch.tensor(tau, dtype=torch.float64))
        y = torch.as_tensor(y, dtype=torch.float64) + torch.zeros_like(x)
        (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True) if y.requires_grad else (None,)
    g = np.zeros(logp.shape) if grad is None else grad.detach().numpy()
    return y.detach().numpy(), g


def shares(tree: Expr, sample: Sample) -> list[tuple[Path, float]]:
    """(term path, share) for each additive term: the larger of its value and gradient shares, worst τ.

    A share is the term's weighted mean |variation| (or |derivative|) over the sum of all terms' (a term's part
    of the component's activity; summing the parts avoids the cancellation of subtracting a total). inf when a
    term is not finite somewhere on the sample; 0 for every term of a component constant in L.
    """
    paths = term_paths(tree)
    logp = torch.as_tensor(sample.logp, dtype=torch.float64)
    w = sample.weights
    worst = dict.fromkeys(paths, 0.0)
    for tau in TAUS if "tau" in variables(tree) else (0.0,):
        sizes = []
        for p in paths:
            only = drop_terms(tree, set(paths) - {p})
            assert only is not None
            tv, tg = _value_and_grad(only, logp, tau)
            if not (np.all(np.isfinite(tv)) and np.all(np.isfinite(tg))):
                return [(q, float("inf")) for q in paths]
            sizes.append((float(np.sum(w * np.abs(tv - np.sum(w * tv)))), float(np.sum(w * np.abs(tg)))))
        dv, dg = sum(v for v, _ in sizes), sum(g for _, g in sizes)
        for p, (nv, ng) in zip(paths, sizes, strict=True):
            worst[p] = max(worst[p], _ratio(nv, dv), _ratio(ng, dg))
    return list(worst.items())


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else float("inf")


def dead_terms(tree: Expr, sample: Sample, threshold: float = THRESHOLD) -> tuple[int, set[Path]]:
    """(number of additive terms, paths of the dead ones); never all of them."""
    paths = term_paths(tree)
    if len(paths) < 2:
        return len(paths), set()
    dead = {p for p, s in shares(tree, sample) if s <= threshold}
    return len(paths), (set() if len(dead) == len(paths) else dead)


# -- min / max whose choice never changes --------------------------------------------------------------
_BRANCH_OPS = {"min": np.less, "max": np.greater}


def settle_branches(tree: Expr, sample: Sample, var: str = "p") -> tuple[Expr, int]:
    """``tree`` with every min / max of ``var`` that picks the same argument at every point of the sample (at
    each τ in TAUS when it reads τ) replaced by that argument, innermost first; and how many were replaced.

    Why: ``min(log(p), c * p**c)`` under ``reduce: sum`` is log P wherever P occurs (log P is hundreds of nats
    below 0), so it is the loss ``log(p)`` printed in a longer, unproved form, and the hall of fame would show
    the same loss twice. "Picks" is strict (the chosen argument is strictly smaller for min, larger for max, and
    finite, everywhere), so the replaced node has the replacement's value and gradient on the whole sample.
    """
    if not isinstance(tree, Node) or var not in variables(tree):
        return tree, 0
    args, count = [], 0
    for a in tree.args:
        new, n = settle_branches(a, sample, var)
        args.append(new)
        count += n
    e = Node(tree.op, tuple(args), tree.nt) if count else tree
    if e.op not in _BRANCH_OPS:
        return e, count
    logp = torch.as_tensor(sample.logp, dtype=torch.float64)
    better = _BRANCH_OPS[e.op]
    winners = {0, 1}
    for tau in TAUS if "tau" in variables(e) else (0.0,):
        a, b = (_value_and_grad(x, logp, tau)[0] for x in e.args)
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            return e, count
        winners &= {i for i, ok in ((0, np.all(better(a, b))), (1, np.all(better(b, a)))) if ok}
    if not winners:
        return e, count
    return e.args[winners.pop()], count + 1


# -- whole objectives -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pruned:
    """An objective without its dead terms, and what was done: additive terms of φ⁻¹ and ψ (ψ once when tied
    or not counted when constant), terms removed, dead terms kept because removing them broke validity."""

    objective: ObjectiveLike
    terms: int
    pruned: int
    kept: int
    notes: tuple[str, ...] = ()
    branches: int = 0  # min / max nodes replaced by the argument they always pick (settle_branches)


def prunable(obj: ObjectiveLike) -> list[str]:
    """The components pruning looks at: symbolic φ⁻¹ and ψ (ψ only when it is its own tree)."""
    comps = obj.components
    return [
        k
        for k in PRUNED_COMPONENTS
        if is_tree(comps[k]) and not (k == "psi" and getattr(obj, "psi_tied", False))
    ]


def count_dead(obj: ObjectiveLike, sample: Sample, threshold: float = THRESHOLD) -> tuple[int, int]:
    """(terms, dead terms) of φ⁻¹ and ψ on the sample: the numeric verdict only (cheap: no algebra)."""
    terms = dead = 0
    for comp in prunable(obj):
        n, d = dead_terms(obj.components[comp], sample, threshold)
        terms, dead = terms + n, dead + len(d)
    return terms, dead


def prune(
    obj: ObjectiveLike,
    sample: Sample | None,
    check: Callable[[ObjectiveLike], str | None] | None = None,
    threshold: float = THRESHOLD,
) -> Pruned:
    """``obj`` without the dead terms of φ⁻¹ and ψ on ``sample`` (unchanged without a sample), after its min / max
    nodes that always pick one argument are replaced by it (:func:`settle_branches`).

    ``check`` (the search's validity checker: None when valid, else why not) must accept the result; a
    component whose pruned form it refuses keeps its dead terms (or its settled branches), and a note says so.
    """
    comps = prunable(obj) if sample is not None and getattr(obj, "is_symbolic", False) else []
    terms = pruned = kept = branches = 0
    notes: list[str] = []
    out = obj
    for comp in comps:
        tree = obj.components[comp]
        settled, n_settled = settle_branches(tree, sample)  # type: ignore[arg-type]
        if n_settled:
            candidate = out.with_components(**{comp: settled})  # type: ignore[attr-defined]
            why = check(candidate) if check is not None else None
            if why is None:
                out, tree, branches = candidate, settled, branches + n_settled
            else:
                notes.append(
                    f"{comp}: {n_settled} settled min/max kept, replacing them breaks validity ({why})"
                )
        n, dead = dead_terms(tree, sample, threshold)  # type: ignore[arg-type]
        terms += n
        if not dead:
            continue
        new = drop_terms(tree, dead)
        assert new is not None  # dead_terms never returns all of them
        candidate = out.with_components(**{comp: new})  # type: ignore[attr-defined]
        why = check(candidate) if check is not None else None
        if why is None:
            out, pruned = candidate, pruned + len(dead)
        else:
            kept += len(dead)
            notes.append(f"{comp}: {len(dead)} dead term(s) kept, removing them breaks validity ({why})")
    if not comps and getattr(obj, "is_symbolic", False):
        terms = sum(len(term_paths(obj.components[k])) for k in prunable(obj))
    return Pruned(out, terms, pruned, kept, tuple(notes), branches)
