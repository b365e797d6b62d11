"""The numeric side of the validity checker: dense grids, refinement, and 50-digit confirmation.

A component is screened in exact (unclamped) float64 on a dense grid of the domain the trainer feeds it,
refined around every place where one of its subterms changes sign or has an extremum (narrow dips hide
there), and every float64 violation is *confirmed* at explicit points in 50-digit arithmetic (mpmath)
before it counts. So:

* a reported violation is real, with a witness (points and high-precision values);
* tolerances are relative: a violation is a candidate when it exceeds float64 rounding of the largest
  intermediate value at that point, however small the function's own scale (1e-10 sin z is caught);
* a clean screen means "not disproved on this domain at this resolution", never "proved".

Domains (the trainer's inputs): p = e^L with log p in [-1e4, -1e-12] (summed log-probs of long responses
reach -1e4), z in [-1e6, 1e6] (margins beta * (log-ratio differences) of such log-probs), tau in [0, 1].
Points where float64 overflows are checked in high precision: a finite value there is float64's limit, not
the function's, and the point is left out (and reported); an undefined or infinite value is a violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import mpmath
import torch

from symmpo.symbolic.expr import Expr, variables
from symmpo.symbolic.numeval import (
    DOMAINS,
    DPS,
    NOISE,
    Domain,
    Screen,
    evaluate_exact,
    mp_value,
    screen,
    with_refinement,
)

_mp = mpmath.mp
SLACK = 10.0 ** -(DPS - 12)  # a 50-digit difference below this (relative) is rounding, not a violation
MAX_CONFIRM = 8  # candidate violations confirmed per screen (worst first)


# ----- findings --------------------------------------------------------------------------------------------
@dataclass
class Finding:
    """The outcome of one numeric check: ok (not disproved) or a confirmed violation with its witness."""

    ok: bool
    reason: str
    witness: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _fmt(v: Any) -> str:
    return mpmath.nstr(v, 8) if v is not None else "undefined"


def _drop(va: Any, vb: Any) -> str:
    with mpmath.workdps(DPS):
        return mpmath.nstr(va - vb, 3)


def _witness(dom: Domain, xs: list[float], vals: list[Any], tau: float, uses_tau: bool) -> dict[str, Any]:
    w: dict[str, Any] = {dom.var: [dom.point(x) for x in xs], "value": [_fmt(v) for v in vals]}
    if uses_tau and dom.var != "tau":
        w["tau"] = tau
    return w


def slope_scale(s: Screen) -> torch.Tensor:
    """Per point, the steepest secant of any subterm in the two neighbouring cells: the scale against which
    float64 rounding of the autograd slope is judged (a slope far below it may be rounding; above, real)."""
    if not s.records or len(s.x) < 2:
        return torch.zeros_like(s.x)
    stacked = torch.stack(s.records)
    width = s.x[1:] - s.x[:-1]
    sec = ((stacked[:, 1:] - stacked[:, :-1]).abs() / width).nan_to_num(nan=0.0, posinf=1e300).amax(0)
    return torch.maximum(torch.cat([sec[:1], sec]), torch.cat([sec, sec[-1:]]))


# ----- tau ------------------------------------------------------------------------------------------------
TAU_BASE = [0.0, 0.5, 1.0]  # always screened in full when a component reads tau
TAU_COARSE = 129  # tau values of the coarse search for the worst tau (spacing 1/128)
X_COARSE = 512  # points of the variable's grid in that search


def worst_taus(tree: Expr, var: str, k: int = 2) -> list[float]:
    """The ``k`` tau values (beyond TAU_BASE) where the component decreases most, from a coarse screen of
    129 tau values x 512 points in one vectorized evaluation; each is then screened in full.

    The conditions must hold for every tau in [0, 1]; a few fixed tau values miss a decrease that lives
    between them (log p - 3 p sin(2 pi tau)^2 decreases only away from tau in {0, 1/2, 1})."""
    dom = DOMAINS[var]
    grid = dom.grid()
    x = grid[torch.linspace(0, len(grid) - 1, X_COARSE).round().long().unique()]
    taus = torch.linspace(0.0, 1.0, TAU_COARSE, dtype=torch.float64)
    xx = x.repeat(TAU_COARSE)
    tt = taus.repeat_interleave(len(x))
    s = screen(tree, xx, dom.xvar, tt)
    n = len(x)
    f, d, mag = s.f.view(-1, n), s.d.view(-1, n), s.mag.view(-1, n)
    drop = (f[:, :-1] - f[:, 1:]) / (NOISE * torch.maximum(mag[:, 1:], mag[:, :-1]) + 1e-300)
    slope = -d / (NOISE * mag + 1e-300)
    score = torch.maximum(drop.nan_to_num(nan=0.0).amax(1), slope.nan_to_num(nan=0.0).amax(1))
    order = torch.argsort(-score, stable=True).tolist()
    out = [float(taus[i]) for i in order if float(score[i]) > 0 and float(taus[i]) not in TAU_BASE]
    return out[:k]


def tau_values(tree: Expr, var: str) -> list[float]:
    """The tau values a component is screened at: 0 when it does not read tau, else TAU_BASE and the worst."""
    if "tau" not in variables(tree):
        return [0.0]
    return TAU_BASE + worst_taus(tree, var)


# ----- non-finite points -----------------------------------------------------------------------------------
def _nonfinite(
    tree: Expr, s: Screen, dom: Domain, tau: float, uses_tau: bool
) -> tuple[Finding | None, torch.Tensor]:
    """Check float64's non-finite points in 50 digits: a violation, or a mask of points to leave out."""
    bad = ~torch.isfinite(s.f)
    if not bool(bad.any()):
        return None, bad
    idx = bad.nonzero().flatten().tolist()
    runs: list[list[int]] = [[idx[0]]]
    for i in idx[1:]:
        if i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    for run in runs[:5]:
        for i in sorted({run[0], run[len(run) // 2], run[-1]}):
            xv = float(s.x[i])
            v, _ = mp_value(tree, dom.xvar, xv, tau)
            if v is None or not _mp.isfinite(v):
                what = "undefined (not a real number)" if v is None else "infinite"
                return (
                    Finding(
                        False,
                        f"{what} at {dom.show(xv)} (confirmed in {DPS}-digit arithmetic)",
                        _witness(dom, [xv], [v], tau, uses_tau),
                    ),
                    bad,
                )
    if len(runs) > 5:
        note = f"{int(bad.sum())} points where float64 is not finite were left out ({len(runs)} stretches)"
    else:
        lo, hi = float(s.x[idx[0]]), float(s.x[idx[-1]])
        note = (
            f"{int(bad.sum())} points where float64 overflows but the value is finite "
            f"({dom.show(lo)} .. {dom.show(hi)}) were left out"
        )
    return Finding(True, "", notes=[note]), bad


# ----- the checks ------------------------------------------------------------------------------------------
def monotone(tree: Expr, var: str, taus: list[float], strict: bool) -> Finding:
    """Non-decreasing (strictly increasing when ``strict``) on the variable's domain, for every tau."""
    dom = DOMAINS[var]
    uses_tau = len(taus) > 1
    notes: list[str] = []
    checked = 0
    for tau in taus:
        s, refined = with_refinement(tree, dom, tau)
        checked = max(checked, len(s.x))
        found, leave_out = _nonfinite(tree, s, dom, tau, uses_tau)
        if found is not None and not found.ok:
            return found
        if found is not None:
            notes += found.notes
        keep = (~leave_out).nonzero().flatten()
        x, f, d, mag = s.x[keep], s.f[keep], s.d[keep], s.mag[keep]
        if len(x) < 2:
            continue
        df = f[1:] - f[:-1]
        tol = NOISE * torch.maximum(mag[1:], mag[:-1])
        width = x[1:] - x[:-1]
        w = torch.cat([width, width[-1:]])
        implied = -d * w  # the decrease a negative slope implies over one cell
        sev_parts, kind_parts, i_parts, j_parts = [], [], [], []
        dec = (df < -tol).nonzero().flatten()
        sev_parts.append(-df[dec] / (tol[dec] + 1e-300))
        kind_parts.append(torch.zeros_like(dec))
        i_parts.append(keep[dec])
        j_parts.append(keep[dec + 1])
        # a negative slope is a candidate when its decrease over the cell exceeds the rounding of the values,
        # or when the slope itself exceeds the rounding of slopes (a decrease far below the function's scale:
        # logsigmoid(z) - 1e-12 z at z = 30); 50-digit arithmetic decides either way
        dnoise = NOISE * slope_scale(s)[keep]
        by_value = implied / (NOISE * mag + 1e-300)
        by_slope = -d / (dnoise + 1e-300)
        sl = (torch.isfinite(d) & (d < 0) & ((by_value > 1) | (by_slope > 1))).nonzero().flatten()
        sev_parts.append(torch.maximum(by_value[sl], by_slope[sl]))
        kind_parts.append(torch.ones_like(sl))
        i_parts.append(keep[sl])
        j_parts.append(keep[sl])
        if strict:
            flat = (df <= tol) & ~(df < -tol) & (d[1:] <= NOISE * mag[1:]) & (d[:-1] <= NOISE * mag[:-1])
            fl = flat.nonzero().flatten()
            sev_parts.append(torch.zeros(len(fl), dtype=torch.float64))
            kind_parts.append(torch.full_like(fl, 2))
            i_parts.append(keep[fl])
            j_parts.append(keep[fl + 1])
        sev = torch.cat(sev_parts)
        if len(sev):
            order = torch.argsort(-torch.nan_to_num(sev, nan=0.0), stable=True)[:MAX_CONFIRM]
            kinds = ("drop", "slope", "flat")
            cands = [
                (
                    float(sev[k]),
                    kinds[int(torch.cat(kind_parts)[k])],
                    int(torch.cat(i_parts)[k]),
                    int(torch.cat(j_parts)[k]),
                )
                for k in order.tolist()
            ]
            found = _confirm_monotone(tree, dom, s, cands, tau, uses_tau, strict)
            if found is not None:
                return found
            notes.append(
                f"{len(sev)} float64 {'decreases or flat steps' if strict else 'decreases'} within rounding "
                f"were checked in {DPS}-digit arithmetic: none is real"
            )
        notes += [f"{refined} points refined around turning points of subterms"] if refined else []
    what = "strictly increasing" if strict else "non-decreasing"
    tau_text = f" for tau in {taus}" if uses_tau else ""
    reason = f"{what} at {checked} points of {dom.text}{tau_text}"
    return Finding(True, reason, notes=sorted(set(notes)))


def _confirm_monotone(
    tree: Expr,
    dom: Domain,
    s: Screen,
    cands: list[tuple[float, str, int, int]],
    tau: float,
    uses_tau: bool,
    strict: bool,
) -> Finding | None:
    """The first candidate that 50-digit arithmetic confirms, as a Finding; None when none is real."""
    x = s.x
    n = len(x)
    tried = 0
    for _, kind, i, j in cands:
        if tried >= MAX_CONFIRM:
            break
        tried += 1
        if kind == "slope":
            w = float(x[min(i + 1, n - 1)] - x[max(i - 1, 0)]) / 2 or abs(float(x[i])) * 1e-6 or 1e-12
            xi = float(x[i])
            pairs = [(xi - h * w, xi + h * w) for h in (0.25, 1e-4, 1e-8)]
        else:
            pairs = [(float(x[i]), float(x[j]))]
        for a, b in pairs:
            if not a < b:
                continue
            va, ma = mp_value(tree, dom.xvar, a, tau)
            vb, mb = mp_value(tree, dom.xvar, b, tau)
            if va is None or vb is None:
                bad = a if va is None else b
                return Finding(
                    False,
                    f"undefined at {dom.show(bad)} (confirmed in {DPS}-digit arithmetic)",
                    _witness(dom, [bad], [None], tau, uses_tau),
                )
            with mpmath.workdps(DPS):  # at the default 15 digits, va - slack would round va itself
                slack = SLACK * max(abs(va), abs(vb), ma, mb, 1e-300)
                drops = vb < va - slack
                level = vb <= va + slack
            tau_text = f" (tau = {tau})" if uses_tau else ""
            if drops:
                return Finding(
                    False,
                    f"decreases: f({dom.show(a)}) = {_fmt(va)} > f({dom.show(b)}) = {_fmt(vb)}{tau_text}, "
                    f"by {_drop(va, vb)} (confirmed in {DPS}-digit arithmetic)",
                    _witness(dom, [a, b], [va, vb], tau, uses_tau),
                )
            if strict and kind == "flat" and level:
                return Finding(
                    False,
                    f"not strictly increasing: f({dom.show(a)}) = f({dom.show(b)}) = {_fmt(va)}{tau_text} "
                    f"(confirmed in {DPS}-digit arithmetic)",
                    _witness(dom, [a, b], [va, vb], tau, uses_tau),
                )
    return None


def nonnegative(tree: Expr) -> Finding:
    """w(tau) >= 0 on [0, 1] (weights)."""
    dom = DOMAINS["tau"]
    s, refined = with_refinement(tree, dom, 0.0, slopes=False)
    found, leave_out = _nonfinite(tree, s, dom, 0.0, False)
    if found is not None and not found.ok:
        return found
    if found is not None and bool(leave_out.any()):
        return Finding(False, f"not finite at {dom.show(float(s.x[leave_out][0]))}", None)
    # every float64 negative is a candidate, however small (1e-20 (tau - 0.5) is negative below 1/2):
    # rounding of a zero weight costs a 50-digit look, never a hidden violation
    neg = (s.f < 0).nonzero().flatten().tolist()
    neg.sort(key=lambda i: float(s.f[i] / (s.mag[i] + 1e-300)))
    for i in neg[:MAX_CONFIRM]:
        xv = float(s.x[i])
        v, m = mp_value(tree, "tau", xv, 0.0)
        if v is None or v < -SLACK * max(m, 1e-300):
            return Finding(
                False,
                f"negative: w({dom.show(xv)}) = {_fmt(v)} (confirmed in {DPS}-digit arithmetic)",
                _witness(dom, [xv], [v], 0.0, False),
            )
    notes = [f"{refined} points refined around turning points of subterms"] if refined else []
    if neg:
        notes.append(
            f"{len(neg)} float64 negatives within rounding were checked in {DPS} digits: none is real"
        )
    return Finding(True, f"w(tau) >= 0 at {len(s.x)} points of {dom.text}", notes=notes)


def vanishes(tree: Expr, var: str) -> bool:
    """True when the tree is 0 (to float64 rounding) at every grid point: worth asking sympy for a proof."""
    dom = DOMAINS[var]
    s = screen(tree, dom.grid(), dom.xvar, 0.0, slopes=False)
    return bool((s.f.abs() <= NOISE * s.mag).all())


LIMIT_PROBES = [-(10.0**k) for k in range(1, 16)]  # log p = -10 .. -1e15


def limit_at_zero(tree: Expr, taus: list[float]) -> Finding:
    """phi_inv -> -inf as p -> 0+: values at log p = -10^k, k = 1..15, must keep falling without levelling off.

    A bounded function's drops between successive probes shrink geometrically; a divergent one's do not
    (log p: drops grow 10x; log(-log p): constant drops). Numeric evidence, never a proof.
    """
    probes = torch.tensor(LIMIT_PROBES, dtype=torch.float64)
    for tau in taus:
        f = evaluate_exact(tree, probes, "L", tau)
        vals = f.tolist()
        shown = ", ".join(f"{v:.4g}" for v in vals[::2])
        witness = {"log_p": LIMIT_PROBES, "value": [f"{v:.6g}" for v in vals]}
        if len(taus) > 1:
            witness["tau"] = tau
        reached = [i for i, v in enumerate(vals) if v == -math.inf]
        upto = reached[0] if reached else len(vals)
        finite = vals[:upto]
        if any(not math.isfinite(v) for v in finite):
            return Finding(False, f"not finite (nan or +inf) as p -> 0+: values {shown}", witness)
        if reached and (upto == 0 or all(b < a for a, b in zip(finite, finite[1:], strict=False))):
            continue  # falls to -inf in float64 itself
        drops = [a - b for a, b in zip(finite, finite[1:], strict=False)]
        if not drops or min(drops) <= 0:
            return Finding(
                False,
                f"does not keep falling as p -> 0+: at log p = -10 .. -1e15 the values are {shown}",
                witness,
            )
        tail = drops[-4:]
        ratios = [b / a for a, b in zip(tail, tail[1:], strict=False)]
        if min(ratios) < 0.5:
            return Finding(
                False,
                f"levels off as p -> 0+ (successive drops shrink geometrically): values {shown} at log p = -10 .. -1e15",
                witness,
            )
    return Finding(True, "keeps falling without levelling off down to log p = -1e15 (numeric evidence)")


def integrable(tree: Expr, taus: list[float]) -> Finding:
    """|phi_inv| integrable on (0, 1]: growth exponents at both ends below 1.

    Near 0: |f| ~ p^-alpha, alpha from log p = -400 and -700 (still finite in float64 for alpha < 1).
    Near 1: |f| ~ (1 - p)^-gamma, gamma from 1 - p = 1e-9 and 1e-12. Both must be < 1 - 1e-3, so
    exponents within 1e-3 of 1 are judged not integrable (numeric evidence, never a proof).
    """
    worst0, worst1 = -math.inf, -math.inf
    for tau in taus:
        near0 = evaluate_exact(tree, torch.tensor([-400.0, -700.0], dtype=torch.float64), "L", tau).abs()
        if not bool(torch.isfinite(near0).all()):
            return Finding(
                False,
                "|phi_inv(p)| overflows float64 at p = e^-700: it grows at least like p^-1 near 0",
                {"log_p": [-400.0, -700.0], "value": [f"{v:.6g}" for v in near0.tolist()]},
            )
        logs = torch.log(near0.clamp(min=1e-300))
        worst0 = max(worst0, float((logs[1] - logs[0]) / 300.0))
        u = torch.tensor([1e-9, 1e-12], dtype=torch.float64)
        near1 = evaluate_exact(tree, torch.log1p(-u), "L", tau).abs()
        if not bool(torch.isfinite(near1).all()):
            return Finding(
                False,
                "|phi_inv(p)| is not finite at p = 1 - 1e-12",
                {"one_minus_p": u.tolist(), "value": [f"{v:.6g}" for v in near1.tolist()]},
            )
        l1 = torch.log(near1.clamp(min=1e-300))
        worst1 = max(worst1, float((l1[1] - l1[0]) / math.log(1e3)))
    if worst0 >= 1 - 1e-3:
        return Finding(
            False, f"|phi_inv(p)| ~ p^-{worst0:.3g} near 0: not integrable", {"exponent_at_0": worst0}
        )
    if worst1 >= 1 - 1e-3:
        return Finding(
            False, f"|phi_inv(p)| ~ (1 - p)^-{worst1:.3g} near 1: not integrable", {"exponent_at_1": worst1}
        )
    return Finding(
        True,
        f"|phi_inv(p)| ~ p^-{max(worst0, 0):.3g} near 0 and (1 - p)^-{max(worst1, 0):.3g} near 1 "
        "(exponents < 1; numeric evidence)",
        {"exponents": [worst0, worst1]},
    )
