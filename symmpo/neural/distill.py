"""Distillation: read learned neural components back as closed-form formulas with measured fidelity.

Per learned component (φ⁻¹, ψ when free, g):

1. **Sample** it over its domain: p log-spaced on [1e-6, 1] (the −∞ end is where φ⁻¹ differs most) plus
   p linear on [0.01, 1] (where a bounded correction m(p) lives); z linear on [−z_max, z_max]; τ on a grid
   for temporally aware components.
2. **Fit** closed forms by symbolic regression over grammar features (:mod:`symmpo.neural.sr`) and parse
   each formula of the Pareto front into a symmpo tree with the core's restricted parser.
3. **Check** each with the core's validity checker; take the *simplest valid* formula whose fidelity
   (R², for φ⁻¹ the worse of the log-grid and linear-grid R²) reaches ``r2_target``, else the most faithful
   valid one. When no front member is valid, a constrained fallback (least squares on a·log p + b, a > 0,
   or c·logsigmoid(z) + b, c ≥ 0) is valid by construction.
4. **Refit constants** against the real fitness with CMA-ES (the search's replayable ``ConstantSearch``,
   the run's tasks, seeds, training config and executor); invalid candidates are not trained.
5. **Score** the neural loss, the distilled loss before and after the refit, and DPO on the run's fresh
   seeds (same seeds for all), and write objective YAMLs (``Objective.load``) and a report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from symmpo.errors import FormulaError, SymmpoError
from symmpo.neural import sr
from symmpo.objective import Objective, check_objective
from symmpo.symbolic.constants import to_raw
from symmpo.symbolic.expr import Const, Expr, Node, Var, map_consts, size, substitute
from symmpo.symbolic.numeval import evaluate_exact
from symmpo.symbolic.parser import parse, to_formula
from symmpo.symbolic.rewrite import to_log_space
from symmpo.symbolic.tree_checks import check_tree

FEATURES = {"phi_inv": ["logp", "p"], "psi": ["logp", "p"], "g": ["lsz", "z"]}
TAUS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class Samples:
    """Points of one component: x (log p or z), tau, y; ``groups`` names sub-grids for per-grid R²."""

    component: str
    x: np.ndarray
    tau: np.ndarray
    y: np.ndarray
    groups: dict[str, np.ndarray]  # name -> boolean mask

    def features(self) -> tuple[np.ndarray, list[str]]:
        names = list(FEATURES[self.component])
        if self.component == "g":
            cols = [-np.logaddexp(0.0, -self.x), self.x]
        else:
            cols = [self.x, np.exp(self.x)]
        if np.ptp(self.tau) > 0:
            cols.append(self.tau)
            names.append("tau")
        return np.column_stack(cols), names


def sample(fn: Any, component: str, uses_tau: bool, z_max: float = 10.0) -> Samples:
    """Evaluate a component ``fn(x, tau)`` (x = log p or z) in float64 on its sampling grids."""
    if component == "g":
        grids = {"linear": np.linspace(-z_max, z_max, 401)}
    else:
        grids = {"log": np.log(np.logspace(-6, 0, 300)), "linear": np.log(np.linspace(0.01, 1.0, 300))}
    taus = TAUS if uses_tau else (0.0,)
    xs, ts, gs = [], [], []
    for name, grid in grids.items():
        for t in taus:
            xs.append(grid)
            ts.append(np.full_like(grid, t))
            gs.append(np.full(grid.shape, name, dtype=object))
    x, tau, g = np.concatenate(xs), np.concatenate(ts), np.concatenate(gs)
    with torch.no_grad():
        y = fn(torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(tau, dtype=torch.float64))
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(y)):
        raise SymmpoError(f"{component}: the learned component is not finite on its sampling grid")
    return Samples(component, x, tau, y, {n: g == n for n in grids})


def r2_score(y: np.ndarray, yhat: np.ndarray) -> float:
    if not np.all(np.isfinite(yhat)):
        return -math.inf
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res < 1e-12 else -math.inf)


def evaluate_tree(tree: Expr, component: str, x: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Exact float64 values of a component tree at x (log p or z) and per-point tau."""
    lt = to_log_space(tree, "p") if component != "g" else tree
    xvar = "z" if component == "g" else "L"
    xt = torch.as_tensor(x, dtype=torch.float64)
    out = np.empty_like(x)
    for t in np.unique(tau):
        m = tau == t
        with torch.no_grad():
            v = evaluate_exact(lt, xt[torch.as_tensor(m)], xvar, float(t))
        out[m] = v.numpy()
    return out


def fidelity(tree: Expr, s: Samples) -> dict[str, float]:
    """R² per sampling grid and overall, up to an additive constant; ``score`` is the worst grid's R²."""
    with np.errstate(all="ignore"):
        yhat = evaluate_tree(tree, s.component, s.x, s.tau)
        yhat = yhat + np.mean(s.y - yhat)  # up to an additive constant (it never changes the training)
    out = {f"r2_{n}": r2_score(s.y[m], yhat[m]) for n, m in s.groups.items()}
    out["r2"] = r2_score(s.y, yhat)
    out["max_abs_err"] = float(np.max(np.abs(s.y - yhat))) if np.all(np.isfinite(yhat)) else math.inf
    out["score"] = min(v for k, v in out.items() if k.startswith("r2"))
    return out


def formula_to_tree(text: str, component: str) -> Expr:
    """A backend's infix formula (over features) as a symmpo tree (restricted parser, no evaluation)."""
    names = FEATURES[component]
    tree = parse(text, (*names, "tau"))
    main = "z" if component == "g" else "p"
    feature_map = {
        "logp": Node("log", (Var("p"),)),
        "lsz": Node("logsigmoid", (Var("z"),)),
        "p": Var("p"),
        "z": Var("z"),
    }
    for n in names:
        tree = substitute(tree, n, feature_map[n])
    from symmpo.symbolic.tidy import tidy as tidy_signs  # the core's x - (-y) -> x + y

    tree = tidy_signs(drop_offset(tidy(tree)))
    if main not in _vars(tree):
        raise FormulaError(f"formula does not depend on {main}", text)
    return tree


def _c(e: Expr) -> float | None:
    return e.value if isinstance(e, Const) else None


def tidy(e: Expr) -> Expr:
    """Merge the constant chains regression leaves (1 * x, a * (b * x), a + (b + x)); same function."""
    from symmpo.symbolic.compile import fold

    e = fold(e)
    if not isinstance(e, Node):
        return e
    e = fold(Node(e.op, tuple(tidy(a) for a in e.args)))
    if not isinstance(e, Node) or e.op not in ("add", "mul") or len(e.args) != 2:
        return e
    a, b = e.args
    if _c(a) is None and _c(b) is not None:  # constant first
        a, b = b, a
    ca = _c(a)
    if ca is None:
        return Node(e.op, (a, b))
    unit = 1.0 if e.op == "mul" else 0.0
    if ca == unit:
        return b
    if isinstance(b, Node) and b.op == e.op:
        inner = [x for x in b.args if _c(x) is not None]
        if inner:
            rest = [x for x in b.args if x is not inner[0]][0]
            merged = ca * inner[0].value if e.op == "mul" else ca + inner[0].value
            return tidy(Node(e.op, (Const(merged), rest)))
    return Node(e.op, (Const(ca), b))


def drop_offset(e: Expr) -> Expr:
    """Remove additive constants (also inside sums and constant multiples): they cancel in the margin (φ⁻¹, ψ)
    and change no gradient (g)."""
    if isinstance(e, Node) and e.op in ("add", "sub"):
        a, b = e.args
        if _c(b) is not None:
            return drop_offset(a)
        if _c(a) is not None:
            return drop_offset(b) if e.op == "add" else Node("neg", (drop_offset(b),))
        return Node(e.op, (drop_offset(a), drop_offset(b)))
    if isinstance(e, Node) and e.op == "mul" and _c(e.args[0]) is not None:  # c·(x + b) = c·x + c·b
        return Node("mul", (e.args[0], drop_offset(e.args[1])))
    if isinstance(e, Node) and e.op == "mul" and _c(e.args[1]) is not None:
        return Node("mul", (drop_offset(e.args[0]), e.args[1]))
    if isinstance(e, Node) and e.op == "div" and _c(e.args[1]) is not None:
        return Node("div", (drop_offset(e.args[0]), e.args[1]))
    if isinstance(e, Node) and e.op == "neg":
        return Node("neg", (drop_offset(e.args[0]),))
    return e


def _vars(e: Expr) -> set[str]:
    from symmpo.symbolic.expr import variables

    return set(variables(e))


@dataclass
class Candidate:
    formula: str
    complexity: int
    fidelity: dict[str, float]
    valid: bool
    reasons: list[str] = field(default_factory=list)
    source: str = "front"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ComponentFit:
    component: str
    chosen: Candidate
    tree: Expr
    candidates: list[Candidate]


def fallback(s: Samples) -> Expr:
    """Valid by construction: a·log p + b (a > 0) for φ⁻¹/ψ, c·logsigmoid(z) + b (c ≥ 0) for g (least squares)."""
    X, _ = s.features()
    A = np.column_stack([X[:, 0], np.ones(len(s.y))])
    (a, _b), *_ = np.linalg.lstsq(A, s.y, rcond=None)
    if s.component == "g":
        a = max(float(a), 0.0)
        feat: Expr = Node("logsigmoid", (Var("z"),))
    else:
        a = max(float(a), 1e-3)
        feat = Node("log", (Var("p"),))
    return Node("mul", (Const(float(a)), feat))  # the offset b cancels (see drop_offset)


def distill_component(
    fn: Any,
    component: str,
    uses_tau: bool,
    backend: str,
    settings: sr.SRSettings,
    r2_target: float = 0.999,
    z_max: float = 10.0,
) -> ComponentFit:
    """Sample, regress, parse, check, choose (see the module docstring)."""
    s = sample(fn, component, uses_tau, z_max)
    X, names = s.features()
    front = sr.fit(backend, X, s.y, names, settings)
    cands: list[tuple[Candidate, Expr | None]] = []
    for text in front:
        try:
            tree = formula_to_tree(text, component)
        except FormulaError as err:
            cands.append((Candidate(text, 0, {}, False, [f"not in the vocabulary: {err}"]), None))
            continue
        verdict = check_tree(tree, component)
        cands.append(
            (
                Candidate(
                    to_formula(tree),
                    size(tree),
                    fidelity(tree, s),
                    verdict.valid,
                    [f"{p.name}: {p.reason}" for p in verdict.failures()],
                ),
                tree,
            )
        )
    fb = fallback(s)
    fbv = check_tree(fb, component)
    cands.append(
        (
            Candidate(
                to_formula(fb),
                size(fb),
                fidelity(fb, s),
                fbv.valid,
                [f"{p.name}: {p.reason}" for p in fbv.failures()],
                "fallback",
            ),
            fb,
        )
    )
    valid = [(c, t) for c, t in cands if c.valid and t is not None and math.isfinite(c.fidelity["score"])]
    if not valid:
        raise SymmpoError(f"{component}: no valid closed form found (not even the fallback)")
    good = [(c, t) for c, t in valid if c.fidelity["score"] >= r2_target]
    if good:
        chosen = min(good, key=lambda ct: (ct[0].complexity, -ct[0].fidelity["score"]))
    else:
        chosen = max(valid, key=lambda ct: (ct[0].fidelity["score"], -ct[0].complexity))
    return ComponentFit(component, chosen[0], chosen[1], [c for c, _ in cands])


def _tunable(tree: Expr) -> Expr:
    """Regression constants become free (tunable) constants; small integers (exponents, 1, 2) stay fixed."""

    def fn(c: Const) -> Const:
        v = c.value
        if c.kind == "fixed" and not (float(v).is_integer() and abs(v) <= 4):
            return Const(float(v), "free")
        return c

    return map_consts(tree, fn)


def distilled_objective(
    fits: dict[str, ComponentFit], arch: Any, name: str = "distilled", sft_weight: float = 0.0
) -> Objective:
    """The MPO objective of the chosen formulas (ψ tied / 0 / its own formula as in the network); a learned
    imitation weight (``sft_weight``, the network's) becomes a tunable positive constant."""
    phi = _tunable(fits["phi_inv"].tree)
    g = _tunable(fits["g"].tree)
    psi: Expr = Const(0.0)
    if arch.psi == "free":
        psi = _tunable(fits["psi"].tree)
    w_sft = Const(to_raw("positive", sft_weight), "positive") if sft_weight > 0 else None
    return Objective(
        phi,
        phi if arch.psi == "tied" else psi,
        g,
        w_sft=w_sft,
        beta=arch.beta,
        reduce=arch.reduce,
        name=name,
        psi_tied=arch.psi == "tied",
    )


def objective_valid(obj: Objective) -> tuple[bool, list[str]]:
    bad = []
    for comp, v in check_objective(obj).items():
        bad += [f"{comp}: {p.name}: {p.reason}" for p in v.failures()]
    return not bad, bad
