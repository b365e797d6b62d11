"""Evaluating trees for the validity checker: exact float64 on the trainer's domains, and 50 digits.

* evaluation of every primitive without the compiler's guard rails (the registry's ``exact_fn``, float64
  torch, and ``mp_fn``, 50-digit mpmath: undefined results come back complex or raise);
* ``DOMAINS``: what the trainer feeds each component (log p in [-1e4, -1e-12], z in [-1e6, 1e6], tau in
  [0, 1]) and their dense screening grids;
* ``screen``: values, autograd slopes and the scale of float64 rounding at every grid point;
* ``with_refinement``: the grid plus points around every sign change and extremum of every subterm.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mpmath
import torch

from symmpo.errors import FormulaError
from symmpo.symbolic.expr import Const, Expr, Node, Var
from symmpo.symbolic.primitives import REGISTRY

EPS = 2.220446049250313e-16
NOISE = 64 * EPS  # float64 rounding allowance, relative to the largest intermediate value at a point
DPS = 50  # digits of the confirming arithmetic
MAX_REFINE = 256  # refined critical points per screen
L_RANGE = (-1e4, -1e-12)
Z_RANGE = (-1e6, 1e6)

_mp = mpmath.mp


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
            if -1e-6 < x < 0:  # p prints as 1: say how far below 1 it is
                return f"p = 1 - {-math.expm1(x):.10g}"
            return f"p = {p:.10g}" if p > 1e-300 and x > -600 else f"p = e^{x:.10g}"
        return f"{self.var} = {x:.10g}"

    def point(self, x: float) -> float | str:
        if self.xvar == "L":
            return math.exp(x) if x > -600 else f"e^{x:.17g}"
        return x


DOMAINS = {
    "p": Domain("p", "L", "p in [e^-1e4, 1) (log p from -1e4 to -1e-12, adjacent |log p| <= 0.74% apart)"),
    "z": Domain(
        "z", "z", "z in [-1e6, 1e6] (adjacent |z| >= 1e-8 at most 1.3% apart, at most 0.05 on [-50, 50])"
    ),
    "tau": Domain("tau", "tau", "tau in [0, 1] (spacing 0.001)"),
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


# ----- evaluation ------------------------------------------------------------------------------------------
def _walk(
    e: Expr, x: torch.Tensor, xvar: str, tau: float | torch.Tensor, records: list[torch.Tensor] | None
) -> torch.Tensor:
    """Values of ``e`` at ``x``; ``tau`` is one value, or a tensor of x's shape (one tau per point)."""
    if isinstance(e, Const):
        return torch.full_like(x, e.value)
    if isinstance(e, Var):
        if e.name == xvar:
            return x
        if e.name == "tau":
            return tau if isinstance(tau, torch.Tensor) else torch.full_like(x, tau)
        raise FormulaError(f"variable {e.name!r} is not allowed in this component")
    assert isinstance(e, Node)
    out = REGISTRY[e.op].exact_fn(*(_walk(c, x, xvar, tau, records) for c in e.args))
    if records is not None:
        records.append(out)
    return out


def evaluate_exact(e: Expr, x: torch.Tensor, xvar: str, tau: float | torch.Tensor) -> torch.Tensor:
    """Exact float64 evaluation of a (log-space) tree at x (tensor) and a fixed tau."""
    return _walk(e, x, xvar, tau, None)


@dataclass
class Screen:
    x: torch.Tensor
    f: torch.Tensor
    d: torch.Tensor  # df/dx (autograd), nan where unavailable
    mag: torch.Tensor  # largest |intermediate value| at each point (the scale of float64 rounding)
    records: list[torch.Tensor]  # every node's values (for refinement)


def screen(tree: Expr, x: torch.Tensor, xvar: str, tau: float | torch.Tensor, slopes: bool = True) -> Screen:
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
    return Screen(x, f.detach(), d, mag, [r.detach() for r in records])


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
            v = REGISTRY[e.op].mp_fn(*(ev(c) for c in e.args))
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


# ----- refinement ------------------------------------------------------------------------------------------
def _critical_points(tree: Expr, s: Screen, xvar: str, tau: float) -> torch.Tensor:
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


def with_refinement(tree: Expr, dom: Domain, tau: float, slopes: bool = True) -> tuple[Screen, int]:
    base = dom.grid()
    s = screen(tree, base, dom.xvar, tau, slopes)
    extra = _critical_points(tree, s, dom.xvar, tau)
    if len(extra) == 0:
        return s, 0
    x = torch.unique(torch.cat([base, extra]))
    return screen(tree, x, dom.xvar, tau, slopes), len(x) - len(base)
