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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mpmath
import torch
import torch.nn.functional as F

from symmpo.errors import FormulaError
from symmpo.symbolic.expr import Const, Expr, Node, Var

EPS = 2.220446049250313e-16
NOISE = 64 * EPS  # float64 rounding allowance, relative to the largest intermediate value at a point
DPS = 50  # digits of the confirming arithmetic
SLACK = 10.0 ** -(DPS - 12)  # a 50-digit difference below this (relative) is rounding, not a violation
MAX_CONFIRM = 8  # candidate violations confirmed per screen (worst first)
MAX_REFINE = 256  # refined critical points per screen
L_RANGE = (-1e4, -1e-12)
Z_RANGE = (-1e6, 1e6)

# exact float64 forms (no clamps): the checker must see the true function, not the compiler's guard rails
EXACT: dict[str, Callable[..., torch.Tensor]] = {
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

# the same functions in mpmath (50 digits): undefined results come back complex or raise
_mp = mpmath.mp
MP: dict[str, Callable[..., Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "pow": lambda a, b: _mp.power(a, b),
    "log": lambda a: _mp.log(a),
    "exp": lambda a: _mp.exp(a),
    "sigmoid": lambda a: 1 / (1 + _mp.exp(-a)),
    "logsigmoid": lambda a: -_mp.log1p(_mp.exp(-a)),
    "softplus": lambda a: _mp.log1p(_mp.exp(a)),
    "tanh": lambda a: _mp.tanh(a),
    "min": lambda a, b: min(a, b),
    "max": lambda a, b: max(a, b),
    "log1p": lambda a: _mp.log1p(a),
    "expm1": lambda a: _mp.expm1(a),
    "log1mexp": lambda a: _mp.log(-_mp.expm1(a)),
    "sqrt": lambda a: _mp.sqrt(a),
    "square": lambda a: a * a,
    "abs": lambda a: abs(a),
    "sin": lambda a: _mp.sin(a),
    "cos": lambda a: _mp.cos(a),
}


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the checks single-threaded: on these small tensors extra threads only contend (10x slower on a
    busy machine), and the search's main process must not fight its workers for cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ----- domains -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Domain:
    var: str  # what the user sees: p, z or tau
    xvar: str  # what the (log-space) tree reads: L, z or tau
    text: str  # the domain in words

    def grid(self) -> torch.Tensor:
        return _grid(self.var)

    def show(self, x: float) -> str:
        """A point in the user's variable (p = e^L, printed as e^L when it underflows)."""
        if self.xvar == "L":
            p = math.exp(x)
            return f"p = {p:.6g}" if p > 1e-300 and x > -600 else f"p = e^{x:.6g}"
        return f"{self.var} = {x:.6g}"

    def point(self, x: float) -> float | str:
        if self.xvar == "L":
            return math.exp(x) if x > -600 else f"e^{x:.17g}"
        return x


DOMAINS = {
    "p": Domain("p", "L", "p in [e^-1e4, 1) (log p from -1e4 to -1e-12)"),
    "z": Domain("z", "z", "z in [-1e6, 1e6]"),
    "tau": Domain("tau", "tau", "tau in [0, 1]"),
}


@lru_cache(maxsize=4)
def _grid(var: str) -> torch.Tensor:
    """The screening grid (sorted, float64): dense log-spaced magnitudes plus uniform and random points."""
    g = torch.Generator().manual_seed(0)
    if var == "p":
        lo, hi = math.log10(-L_RANGE[1]), math.log10(-L_RANGE[0])
        dense = -torch.logspace(lo, hi, 5000, dtype=torch.float64)
        rand = -torch.pow(10.0, lo + (hi - lo) * torch.rand(1000, generator=g, dtype=torch.float64))
        lin = torch.log(torch.linspace(1e-3, 1 - 1e-9, 2000, dtype=torch.float64))
        pts = torch.cat([dense, rand, lin])
    elif var == "z":
        mags = torch.logspace(-8, math.log10(Z_RANGE[1]), 2500, dtype=torch.float64)
        rand = (torch.rand(1000, generator=g, dtype=torch.float64) - 0.5) * 200.0
        pts = torch.cat([-mags, mags, torch.linspace(-50, 50, 2001, dtype=torch.float64), rand])
    else:
        pts = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64)
    return torch.unique(pts)  # sorted, no duplicates


def _grid_p() -> torch.Tensor:
    """log p grid of the p domain (kept for the neural checks, which screen the same points)."""
    return _grid("p")


def _grid_z() -> torch.Tensor:
    return _grid("z")


# ----- evaluation ------------------------------------------------------------------------------------------
def _walk(
    e: Expr, x: torch.Tensor, xvar: str, tau: float, records: list[torch.Tensor] | None
) -> torch.Tensor:
    if isinstance(e, Const):
        return torch.full_like(x, e.value)
    if isinstance(e, Var):
        if e.name == xvar:
            return x
        if e.name == "tau":
            return torch.full_like(x, tau)
        raise FormulaError(f"variable {e.name!r} is not allowed in this component")
    assert isinstance(e, Node)
    out = EXACT[e.op](*(_walk(c, x, xvar, tau, records) for c in e.args))
    if records is not None:
        records.append(out)
    return out


def evaluate_exact(e: Expr, x: torch.Tensor, xvar: str, tau: float) -> torch.Tensor:
    """Exact float64 evaluation of a (log-space) tree at x (tensor) and a fixed tau."""
    return _walk(e, x, xvar, tau, None)


@dataclass
class _Screen:
    x: torch.Tensor
    f: torch.Tensor
    d: torch.Tensor  # df/dx (autograd), nan where unavailable
    mag: torch.Tensor  # largest |intermediate value| at each point (the scale of float64 rounding)
    records: list[torch.Tensor]  # every node's values (for refinement)


def _screen(tree: Expr, x: torch.Tensor, xvar: str, tau: float, slopes: bool = True) -> _Screen:
    xr = x.clone().requires_grad_(slopes)
    records: list[torch.Tensor] = []
    with torch.enable_grad() if slopes else torch.no_grad():
        f = _walk(tree, xr, xvar, tau, records)
        d = None
        if slopes and f.requires_grad:
            (d,) = torch.autograd.grad(f.sum(), xr, allow_unused=True)
    d = torch.zeros_like(x) if d is None else d.detach()
    mag = x.abs().clone()
    for r in records:
        mag = torch.maximum(mag, torch.nan_to_num(r.detach().abs(), nan=0.0, posinf=0.0))
    return _Screen(x, f.detach(), d, mag, [r.detach() for r in records])


def mp_value(tree: Expr, xvar: str, x: float, tau: float) -> tuple[Any, Any]:
    """(value, largest |intermediate|) in 50-digit arithmetic; value None when undefined (complex, 1/0, ...)."""
    with mpmath.workdps(DPS):
        mag = [abs(_mp.mpf(x))]

        def ev(e: Expr) -> Any:
            if isinstance(e, Const):
                return _mp.mpf(e.value)
            if isinstance(e, Var):
                return _mp.mpf(x) if e.name == xvar else _mp.mpf(tau)
            assert isinstance(e, Node)
            v = MP[e.op](*(ev(c) for c in e.args))
            if isinstance(v, mpmath.mpc):
                if v.imag != 0:
                    raise ValueError("not real")
                v = v.real
            if _mp.isfinite(v):
                mag.append(abs(v))
            return v

        try:
            v = ev(tree)
        except (ValueError, ZeroDivisionError, TypeError, OverflowError):
            return None, max(mag)
        if _mp.isnan(v):
            return None, max(mag)
        return v, max(mag)


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


def _witness(dom: Domain, xs: list[float], vals: list[Any], tau: float, uses_tau: bool) -> dict[str, Any]:
    w: dict[str, Any] = {dom.var: [dom.point(x) for x in xs], "value": [_fmt(v) for v in vals]}
    if uses_tau and dom.var != "tau":
        w["tau"] = tau
    return w


# ----- refinement ------------------------------------------------------------------------------------------
def _critical_points(tree: Expr, s: _Screen, xvar: str, tau: float) -> torch.Tensor:
    """Points where some subterm changes sign or has an extremum, located to ~1e-10 of a grid cell.

    Narrow features (a dip of width 1e-5 at p = 0.3) live where an inner term turns: (p - 0.3)^2 has its
    minimum there. A value sign change is bracketed by two grid points and bisected; an extremum is
    bracketed by three and located by golden-section search. The refined points are returned with a
    geometric ladder of neighbours (cell / 2^k), so a feature of any width down to ~1e-12 cells is sampled.
    """
    x = s.x
    n = len(x)
    if n < 3 or not s.records:
        return x[:0]
    pairs: list[tuple[int, str, int]] = []
    for k, r in enumerate(s.records):
        finite = torch.isfinite(r)
        if not bool((r[1:] != r[:-1]).any()):
            continue  # constant subterm
        sign = ((r[:-1] * r[1:]) < 0) & finite[:-1] & finite[1:]
        pairs += [(k, "root", int(i)) for i in sign.nonzero().flatten().tolist()]
        dr = r[1:] - r[:-1]
        turn = ((dr[:-1] * dr[1:]) < 0) & finite[:-2] & finite[1:-1] & finite[2:]
        pairs += [(k, "turn", int(i) + 1) for i in turn.nonzero().flatten().tolist()]
    if not pairs:
        return x[:0]
    if len(pairs) > MAX_REFINE:  # evenly spread, deterministic
        step = len(pairs) / MAX_REFINE
        pairs = [pairs[int(j * step)] for j in range(MAX_REFINE)]
    node = torch.tensor([p[0] for p in pairs])
    idx = torch.tensor([p[2] for p in pairs])
    is_root = torch.tensor([p[1] == "root" for p in pairs])
    lo = torch.where(is_root, x[idx], x[(idx - 1).clamp(min=0)])
    hi = torch.where(is_root, x[(idx + 1).clamp(max=n - 1)], x[(idx + 1).clamp(max=n - 1)])
    width = hi - lo
    stacked = torch.stack(s.records)  # (nodes, points)
    sign_lo = torch.sign(stacked[node, idx])
    # extremum direction: +1 for a maximum, -1 for a minimum (golden section maximizes direction * value)
    direction = torch.where(stacked[node, idx] > stacked[node, (idx - 1).clamp(min=0)], 1.0, -1.0)

    node3 = node.repeat(3)

    def values_at(pts: torch.Tensor) -> torch.Tensor:
        """Each pair's own subterm at its three points (mid, c1, c2 stacked)."""
        recs: list[torch.Tensor] = []
        with torch.no_grad():
            _walk(tree, pts, xvar, tau, recs)
        return torch.stack(recs)[node3, torch.arange(len(pts))]

    a, b = lo.clone(), hi.clone()
    gr = (math.sqrt(5) - 1) / 2
    for _ in range(45):
        mid = (a + b) / 2
        c1, c2 = b - gr * (b - a), a + gr * (b - a)
        v = values_at(torch.cat([mid, c1, c2]))
        m = len(pairs)
        vm, v1, v2 = v[:m], v[m : 2 * m], v[2 * m :]
        same = torch.sign(vm) == sign_lo
        a_root, b_root = torch.where(same, mid, a), torch.where(same, b, mid)
        keep_left = (direction * torch.nan_to_num(v1, nan=-math.inf)) >= (
            direction * torch.nan_to_num(v2, nan=-math.inf)
        )
        a_turn, b_turn = torch.where(keep_left, a, c1), torch.where(keep_left, c2, b)
        a, b = torch.where(is_root, a_root, a_turn), torch.where(is_root, b_root, b_turn)
    centre = (a + b) / 2
    ladder = torch.tensor([2.0**-k for k in range(1, 42, 3)], dtype=torch.float64)
    offsets = torch.cat([torch.zeros(1, dtype=torch.float64), ladder, -ladder])
    pts = (centre[:, None] + width[:, None] * offsets[None, :]).flatten()
    lo_x, hi_x = float(x[0]), float(x[-1])
    return pts[(pts >= lo_x) & (pts <= hi_x) & torch.isfinite(pts)]


def _with_refinement(tree: Expr, dom: Domain, tau: float, slopes: bool = True) -> tuple[_Screen, int]:
    base = dom.grid()
    s = _screen(tree, base, dom.xvar, tau, slopes)
    extra = _critical_points(tree, s, dom.xvar, tau)
    if len(extra) == 0:
        return s, 0
    x = torch.unique(torch.cat([base, extra]))
    return _screen(tree, x, dom.xvar, tau, slopes), len(x) - len(base)


# ----- non-finite points -----------------------------------------------------------------------------------
def _nonfinite(
    tree: Expr, s: _Screen, dom: Domain, tau: float, uses_tau: bool
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
        s, refined = _with_refinement(tree, dom, tau)
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
        sl = (torch.isfinite(d) & (d < 0) & (implied > NOISE * mag)).nonzero().flatten()
        sev_parts.append(implied[sl] / (NOISE * mag[sl] + 1e-300))
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
    s: _Screen,
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
            slack = SLACK * max(abs(va), abs(vb), ma, mb, 1e-300)
            tau_text = f" (tau = {tau})" if uses_tau else ""
            if vb < va - slack:
                return Finding(
                    False,
                    f"decreases: f({dom.show(a)}) = {_fmt(va)} > f({dom.show(b)}) = {_fmt(vb)}{tau_text} "
                    f"(confirmed in {DPS}-digit arithmetic)",
                    _witness(dom, [a, b], [va, vb], tau, uses_tau),
                )
            if strict and kind == "flat" and vb <= va + slack:
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
    s, refined = _with_refinement(tree, dom, 0.0, slopes=False)
    found, leave_out = _nonfinite(tree, s, dom, 0.0, False)
    if found is not None and not found.ok:
        return found
    if found is not None and bool(leave_out.any()):
        return Finding(False, f"not finite at {dom.show(float(s.x[leave_out][0]))}", None)
    neg = (s.f < -NOISE * s.mag).nonzero().flatten().tolist()
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
    s = _screen(tree, dom.grid(), dom.xvar, 0.0, slopes=False)
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
