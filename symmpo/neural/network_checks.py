"""The core's numeric validity checks, applied to any callable component (a network, not a tree).

Valid by construction is an argument; this is the independent second line, on the same dense grids as
:mod:`symmpo.symbolic.tree_checks` (p ∈ [e^-700, 1) in log space, z ∈ [-1000, 1000]) with the same
probes: autograd slopes and value differences for monotonicity, values at p = e^-50 .. e^-700 for the
−∞ limit, and the exponent α of |φ⁻¹| ~ p^-α from p = e^-300, e^-600 for integrability (α < 1).
Evaluation is float64, like the core's exact evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from symmpo.symbolic.numeval import DOMAINS
from symmpo.symbolic.tree_checks import PropertyVerdict, Verdict

Fn = Callable[[torch.Tensor, Any], torch.Tensor]


def _values_and_slopes(fn: Fn, x: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        f = fn(x, tau)
        (d,) = torch.autograd.grad(f.sum(), x, allow_unused=True)
    return f.detach(), (torch.zeros_like(x) if d is None else d.detach())


def _monotone(fn: Fn, x: torch.Tensor, taus: list[float], strict: bool, what: str) -> tuple[bool, str]:
    for tau in taus:
        f, d = _values_and_slopes(fn, x, tau)
        if not bool(torch.isfinite(f).all()):
            i = int((~torch.isfinite(f)).nonzero()[0])
            return False, f"not finite at {what} = {float(x[i]):.4g} (tau = {tau})"
        tol = 1e-9 * (1 + f.abs())
        df = f[1:] - f[:-1]
        bad = (d < -tol) & torch.isfinite(d)
        bad_diff = df < -tol[1:]
        if bool(bad.any()) or bool(bad_diff.any()):
            i = int(bad.nonzero()[0]) if bool(bad.any()) else int(bad_diff.nonzero()[0])
            return False, f"decreases near {what} = {float(x[i]):.4g} (tau = {tau})"
        if strict:
            flat = (df == 0) & (d[1:] <= 0)
            if bool(flat.any()):
                i = int(flat.nonzero()[0])
                return False, f"constant near {what} = {float(x[i]):.4g}, not strictly increasing"
    kind = "strictly increasing" if strict else "non-decreasing"
    return True, f"{kind} on {len(x)} grid points for tau in {taus}"


def check_callable(fn: Fn, component: str, uses_tau: bool = False, label: str = "neural") -> Verdict:
    """Verdict for ``fn(x, tau)`` in the compiler's convention (x = log p for phi_inv/psi, z for g)."""
    if component not in ("phi_inv", "psi", "g"):
        raise ValueError(f"check_callable: component must be phi_inv, psi or g, got {component!r}")
    taus = [0.0, 0.5, 1.0] if uses_tau else [0.0]
    verdict = Verdict(component, label)

    def f64(x: torch.Tensor, tau: float) -> torch.Tensor:
        return fn(x, torch.tensor(tau, dtype=torch.float64)).to(torch.float64)

    if component == "g":
        ok, why = _monotone(f64, DOMAINS["z"].grid(), taus, False, "z")
        verdict.properties.append(PropertyVerdict("non-decreasing in z", ok, "numeric", why))
        return verdict
    strict = component == "phi_inv"
    name = "strictly increasing on (0,1]" if strict else "non-decreasing on (0,1] (or identically 0)"
    ok, why = _monotone(f64, DOMAINS["p"].grid(), taus, strict, "log p")
    verdict.properties.append(PropertyVerdict(name, ok, "numeric", why))
    if component == "psi":
        return verdict
    with torch.no_grad():
        probes = torch.tensor([-50.0, -100.0, -200.0, -400.0, -700.0], dtype=torch.float64)
        lim_ok, lim_why = True, "keeps falling below -30 as p -> e^-700"
        alpha = -math.inf
        for tau in taus:
            v = f64(probes, tau)
            if not (bool((v[1:] < v[:-1]).all()) and float(v[-1]) < min(-30.0, float(v[0]) - 10.0)):
                lim_ok = False
                lim_why = "at p = e^-50 .. e^-700 the values are " + ", ".join(f"{x:.3g}" for x in v.tolist())
            a = f64(torch.tensor([-300.0, -600.0], dtype=torch.float64), tau).abs()
            if not bool(torch.isfinite(a).all()):
                alpha = math.inf
                break
            logs = torch.log(a.clamp(min=1e-300))
            alpha = max(alpha, float((logs[1] - logs[0]) / 300.0))
    verdict.properties.append(PropertyVerdict("-> -inf as p -> 0+", lim_ok, "numeric", lim_why))
    integ = alpha < 1 - 1e-3
    verdict.properties.append(
        PropertyVerdict(
            "integrable on (0,1]",
            integ,
            "numeric",
            f"|phi_inv(p)| ~ p^-{max(alpha, 0):.3g} near 0 ({'exponent < 1' if integ else 'not integrable'})",
        )
    )
    return verdict


def check_neural(neural: Any) -> dict[str, Verdict]:
    """Verdicts of every learned component of a :class:`~symmpo.neural.components.NeuralObjective`."""
    tau = neural.arch.tau
    return {k: check_callable(c.torch_fn, k, tau, f"neural {k}") for k, c in neural.components().items()}
