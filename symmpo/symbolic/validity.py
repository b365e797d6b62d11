"""Validity checker for components from outside the grammar (users, symbolic regression).

Independent of the grammar's typing: symbolic where sympy decides quickly (sign of the derivative with
p > 0 or z real), numeric otherwise, on exact (unclamped) float64 evaluation in log space:

* monotonicity: autograd derivative in L = log p (same sign as d/dp) and value differences on a dense
  log-spaced grid p in [e^-700, e^-1e-9] (~1e-304 .. 1) plus random points; z on [-1000, 1000].
* limit at 0+: sympy.limit for small formulas, else values at p = e^-50 .. e^-700 must keep falling
  below -30.
* integrability on (0, 1]: |phi_inv(p)| ~ p^-alpha near 0; alpha is estimated from p = e^-300 and
  e^-600 and must be < 1 (so -1/p, alpha = 1, fails; -p^-0.5 passes).

Each property gets a verdict with its method and reason; a component is valid when all hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
import torch.nn.functional as F

from symmpo.errors import FormulaError
from symmpo.symbolic.expr import Const, Expr, Node, Var, size, variables
from symmpo.symbolic.parser import parse, to_formula
from symmpo.symbolic.printing import symbol, to_sympy
from symmpo.symbolic.rewrite import to_log_space

COMPONENT_VARS = {"phi_inv": "p", "psi": "p", "g": "z", "w_po": "tau", "w_sft": "tau"}


@dataclass
class PropertyVerdict:
    name: str
    ok: bool
    method: str  # "symbolic" or "numeric"
    reason: str


@dataclass
class Verdict:
    component: str
    formula: str
    properties: list[PropertyVerdict] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(p.ok for p in self.properties)

    def failures(self) -> list[PropertyVerdict]:
        return [p for p in self.properties if not p.ok]

    def summary(self) -> str:
        lines = [f"{self.component}: {self.formula}"]
        for p in self.properties:
            lines.append(f"  {'ok  ' if p.ok else 'FAIL'} {p.name}: {p.reason} [{p.method}]")
        lines.append(f"  => {'valid' if self.valid else 'invalid'}")
        return "\n".join(lines)


def _as_tensor(x: Any, like: torch.Tensor) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.full_like(like, float(x))


# exact float64 forms (no clamps): the checker must see the true function, not the compiler's guard rails
_EXACT = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "pow": torch.pow,
    "log": torch.log,
    "exp": torch.exp,
    "sigmoid": torch.sigmoid,
    "logsigmoid": F.logsigmoid,
    "softplus": lambda a: F.softplus(a, threshold=30),
    "tanh": torch.tanh,
    "min": torch.minimum,
    "max": torch.maximum,
    "log1p": torch.log1p,
    "expm1": torch.expm1,
    "log1mexp": lambda a: torch.log(-torch.expm1(a)),
    "sqrt": torch.sqrt,
    "square": torch.square,
    "abs": torch.abs,
    "sin": torch.sin,
    "cos": torch.cos,
}


def evaluate_exact(e: Expr, x: torch.Tensor, xvar: str, tau: float) -> torch.Tensor:
    """Exact float64 evaluation of a (log-space) tree at x (tensor) and a fixed tau."""
    if isinstance(e, Const):
        return torch.full_like(x, e.value)
    if isinstance(e, Var):
        if e.name == xvar:
            return x
        if e.name == "tau":
            return torch.full_like(x, tau)
        raise FormulaError(f"variable {e.name!r} is not allowed in this component")
    assert isinstance(e, Node)
    return _EXACT[e.op](*(evaluate_exact(c, x, xvar, tau) for c in e.args))


def _grid_p() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    dense = -torch.logspace(-9, math.log10(700.0), 4000, dtype=torch.float64)
    rand = -torch.exp(
        torch.rand(1000, generator=g, dtype=torch.float64) * (math.log(700) + 9 * math.log(10))
        - 9 * math.log(10)
    )
    lin = torch.log(torch.linspace(1e-3, 1 - 1e-9, 2000, dtype=torch.float64))
    return torch.sort(torch.cat([dense, rand, lin])).values  # L = log p, increasing


def _grid_z() -> torch.Tensor:
    mags = torch.logspace(-6, 3, 800, dtype=torch.float64)
    return torch.sort(torch.cat([-mags, mags, torch.linspace(-50, 50, 4001, dtype=torch.float64)])).values


def _values_and_slopes(
    tree: Expr, x: torch.Tensor, xvar: str, tau: float
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        f = evaluate_exact(tree, x, xvar, tau)
        (d,) = torch.autograd.grad(f.sum(), x, allow_unused=True)
    if d is None:
        d = torch.zeros_like(x)
    return f.detach(), d.detach()


def _where(x: torch.Tensor, i: int, xvar: str) -> str:
    v = float(x[i])
    return f"p = {math.exp(v):.4g}" if xvar == "L" else f"z = {v:.4g}"


def _monotone(tree: Expr, x: torch.Tensor, xvar: str, taus: list[float], strict: bool) -> tuple[bool, str]:
    for tau in taus:
        f, d = _values_and_slopes(tree, x, xvar, tau)
        finite = torch.isfinite(f)
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0])
            return False, f"not finite at {_where(x, i, xvar)} (tau = {tau})"
        tol = 1e-9 * (1 + f.abs())
        bad = (d < -tol[: len(d)]) & torch.isfinite(d)
        df = f[1:] - f[:-1]
        bad_diff = df < -tol[1:]
        if bool(bad.any()) or bool(bad_diff.any()):
            i = int(bad.nonzero()[0]) if bool(bad.any()) else int(bad_diff.nonzero()[0])
            return False, f"decreases near {_where(x, i, xvar)}" + (
                f" (tau = {tau})" if len(taus) > 1 else ""
            )
        if strict:
            flat = (df == 0) & (d[1:] <= 0)
            if bool(flat.any()):
                i = int(flat.nonzero()[0])
                return False, f"constant near {_where(x, i, xvar)}, not strictly increasing"
    what = "strictly increasing" if strict else "non-decreasing"
    return True, f"{what} on {len(x)} grid points" + (f" for tau in {taus}" if len(taus) > 1 else "")


def _symbolic_sign(expr: sympy.Expr, var: str, strict: bool) -> bool | None:
    """True/False when sympy decides the derivative's sign on the whole domain, else None."""
    try:
        d = sympy.diff(expr, symbol(var))
        pos = d.is_positive if strict else d.is_nonnegative
        if pos:
            return True
        if d.is_negative:
            return False
    except Exception:  # sympy may raise on exotic forms; fall back to numerics
        return None
    return None


def _taus(tree: Expr) -> list[float]:
    return [0.0, 0.5, 1.0] if "tau" in variables(tree) else [0.0]


def check_tree(tree: Expr, component: str) -> Verdict:
    """Verdict per property for a component tree (phi_inv, psi, g, w_po, w_sft)."""
    if component not in COMPONENT_VARS:
        raise FormulaError(f"unknown component {component!r} (use phi_inv, psi, g, w_po or w_sft)")
    verdict = Verdict(component, to_formula(tree, names=False))
    var = COMPONENT_VARS[component]
    taus = _taus(tree)
    small = size(tree) <= 20 and "tau" not in variables(tree)
    sym = to_sympy(tree) if small else None
    if component in ("w_po", "w_sft"):
        t = torch.linspace(0, 1, 1001, dtype=torch.float64)
        f = evaluate_exact(tree, t, "tau", 0.0)
        ok = bool(torch.isfinite(f).all()) and bool((f >= 0).all())
        verdict.properties.append(
            PropertyVerdict(
                "non-negative",
                ok,
                "numeric",
                "w(tau) >= 0 on [0, 1]" if ok else "negative or non-finite on [0, 1]",
            )
        )
        return verdict
    if var == "p":
        L = _grid_p()
        lt = to_log_space(tree, "p")
        if component == "psi" and (
            (isinstance(lt, Const) and lt.value == 0.0) or (sym is not None and sympy.simplify(sym) == 0)
        ):
            verdict.properties.append(
                PropertyVerdict("non-decreasing or 0", True, "symbolic", "identically 0")
            )
            return verdict
        strict = component == "phi_inv"
        name = "strictly increasing on (0,1]" if strict else "non-decreasing on (0,1] (or identically 0)"
        decided = _symbolic_sign(sym, "p", strict) if sym is not None else None
        if decided is True:
            verdict.properties.append(
                PropertyVerdict(
                    name,
                    True,
                    "symbolic",
                    "derivative in p > 0 for all p > 0" if strict else "derivative in p >= 0 for all p > 0",
                )
            )
        elif decided is False:
            verdict.properties.append(
                PropertyVerdict(name, False, "symbolic", "derivative in p < 0 for all p > 0")
            )
        else:
            ok, why = _monotone(lt, L, "L", taus, strict)
            verdict.properties.append(PropertyVerdict(name, ok, "numeric", why))
        if component == "phi_inv":
            verdict.properties.append(_limit_at_zero(lt, sym, taus))
            verdict.properties.append(_integrable(lt, taus))
        return verdict
    # g
    z = _grid_z()
    decided = _symbolic_sign(sym, "z", False) if sym is not None else None
    name = "non-decreasing in z"
    if decided is True:
        verdict.properties.append(PropertyVerdict(name, True, "symbolic", "dg/dz >= 0 for all real z"))
    elif decided is False:
        verdict.properties.append(PropertyVerdict(name, False, "symbolic", "dg/dz < 0 for all real z"))
    else:
        ok, why = _monotone(tree, z, "z", taus, strict=False)
        verdict.properties.append(PropertyVerdict(name, ok, "numeric", why))
    return verdict


def _limit_at_zero(lt: Expr, sym: sympy.Expr | None, taus: list[float]) -> PropertyVerdict:
    name = "-> -inf as p -> 0+"
    if sym is not None and size(lt) <= 12:
        try:
            lim = sympy.limit(sym, symbol("p"), 0, "+")
            if lim == -sympy.oo:
                return PropertyVerdict(name, True, "symbolic", "limit is -oo")
            if lim.is_finite or lim == sympy.oo:
                return PropertyVerdict(name, False, "symbolic", f"limit is {lim}")
        except Exception:  # undecided by sympy: numeric probe below
            pass
    probes = torch.tensor([-50.0, -100.0, -200.0, -400.0, -700.0], dtype=torch.float64)
    for tau in taus:
        f = evaluate_exact(lt, probes, "L", tau)
        falling = bool((f[1:] < f[:-1]).all())
        if not (falling and float(f[-1]) < min(-30.0, float(f[0]) - 10.0)):
            vals = ", ".join(f"{v:.3g}" for v in f.tolist())
            return PropertyVerdict(name, False, "numeric", f"at p = e^-50 .. e^-700 the values are {vals}")
    return PropertyVerdict(name, True, "numeric", "keeps falling below -30 as p -> e^-700")


def _integrable(lt: Expr, taus: list[float]) -> PropertyVerdict:
    name = "integrable on (0,1]"
    probes = torch.tensor([-300.0, -600.0], dtype=torch.float64)
    worst = -math.inf
    for tau in taus:
        f = evaluate_exact(lt, probes, "L", tau).abs()
        if not bool(torch.isfinite(f).all()):
            return PropertyVerdict(
                name, False, "numeric", "|phi_inv| overflows near 0 (faster than any power)"
            )
        logs = torch.log(f.clamp(min=1e-300))
        alpha = float((logs[1] - logs[0]) / 300.0)
        worst = max(worst, alpha)
    if worst < 1 - 1e-3:
        return PropertyVerdict(
            name, True, "numeric", f"|phi_inv(p)| ~ p^-{max(worst, 0):.3g} near 0 (exponent < 1)"
        )
    return PropertyVerdict(name, False, "numeric", f"|phi_inv(p)| ~ p^-{worst:.3g} near 0: not integrable")


def check_formula(
    formula: str, component: str, constants: dict[str, tuple[str, float]] | None = None
) -> Verdict:
    """Parse (restricted parser) and check; FormulaError when it cannot be parsed."""
    if component not in COMPONENT_VARS:
        raise FormulaError(f"unknown component {component!r} (use phi_inv, psi, g, w_po or w_sft)")
    var = COMPONENT_VARS[component]
    tree = parse(formula, (var, "tau") if var != "tau" else ("tau",), constants)
    v = check_tree(tree, component)
    v.formula = formula
    return v


def check_objective(obj: Any) -> dict[str, Verdict]:
    """Verdicts of every symbolic component of an objective (psi once when tied)."""
    out = {}
    for comp, tree in obj.components.items():
        if comp == "psi" and obj.psi_tied:
            continue
        if isinstance(tree, (Var, Const, Node)):
            out[comp] = check_tree(tree, comp)
    return out
