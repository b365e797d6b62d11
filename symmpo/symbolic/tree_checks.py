"""Validity checker: does a component meet the MPO conditions? Three honest verdicts per property.

* **proved** — by the grammar's typing rules (the tree is derivable from a type-checked non-terminal), or by
  a symbolic argument sympy establishes (the derivative's sign for all p > 0 / real z; the limit at 0+;
  integrability from the limits of sqrt(p) phi_inv and sqrt(1 - p) phi_inv when monotonicity is proved);
* **not disproved** — checked numerically (:mod:`symmpo.symbolic.numcheck`) on the domain the trainer feeds,
  at the stated resolution, with refinement around turning points; the reason says where and how densely;
* **invalid** — with a witness: explicit points where the property fails, confirmed in 50-digit
  arithmetic (for the limit and integrability: the values at the probes that show it).

Properties: phi_inv strictly increasing on (0, 1], -> -inf as p -> 0+, integrable on (0, 1] (both ends);
psi non-decreasing or identically 0; g non-decreasing in z; for every tau in [0, 1] when a component reads
tau (screened at tau in {0, 1/2, 1} and at the two worst of 129 tau values, see
:func:`symmpo.symbolic.numcheck.worst_taus`; limits and integrability at 33 tau values as well);
weights non-negative on [0, 1]. sympy runs under a time budget (``SYMPY_SECONDS``); when it runs out the
property is checked numerically instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sympy

from symmpo.errors import FormulaError
from symmpo.symbolic import numcheck
from symmpo.symbolic.budget import total, within
from symmpo.symbolic.component import COMPONENTS
from symmpo.symbolic.expr import Const, Expr, size, variables
from symmpo.symbolic.limits import SYMPY_SECONDS
from symmpo.symbolic.numeval import one_thread
from symmpo.symbolic.parser import parse, to_formula
from symmpo.symbolic.printing import symbol, to_sympy
from symmpo.symbolic.rewrite import fold, to_log_space

STATUSES = ("proved", "not disproved", "invalid")
SYMBOLIC_MAX_SIZE = 20  # sympy's derivative sign is tried on trees up to this many nodes (and without tau)
LIMIT_MAX_SIZE = 12  # sympy.limit (slower) only on log-space trees up to this many nodes


@dataclass
class PropertyVerdict:
    """One property's verdict. ``status`` is derived from ok and method unless given."""

    name: str
    ok: bool
    method: str  # "grammar", "symbolic" or "numeric"
    reason: str
    witness: dict[str, Any] | None = None
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            if not self.ok:
                self.status = "invalid"
            else:
                self.status = "proved" if self.method in ("grammar", "symbolic") else "not disproved"
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        self.ok = self.status != "invalid"


@dataclass
class Verdict:
    component: str
    formula: str
    properties: list[PropertyVerdict] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Not invalid: every property proved or not disproved."""
        return all(p.ok for p in self.properties)

    @property
    def status(self) -> str:
        """invalid if any property is; proved if all are; else not disproved."""
        if not self.valid:
            return "invalid"
        return "proved" if all(p.status == "proved" for p in self.properties) else "not disproved"

    def failures(self) -> list[PropertyVerdict]:
        return [p for p in self.properties if not p.ok]

    def summary(self) -> str:
        lines = [f"{self.component}: {self.formula}"]
        for p in self.properties:
            lines.append(f"  {p.status:<13} {p.name}: {p.reason} [{p.method}]")
        lines.append(f"  => valid ({self.status})" if self.valid else "  => invalid")
        return "\n".join(lines)


# ----- symbolic arguments (each within the time budget; None = undecided) ------------------------------------
def _symbolic_sign(expr: sympy.Expr, var: str, strict: bool) -> bool | None:
    """True when sympy establishes the derivative's sign (> 0, or >= 0) on the whole domain, else None."""

    def decide() -> bool | None:
        try:
            d = sympy.diff(expr, symbol(var))
            ok = d.is_positive if strict else d.is_nonnegative
        except Exception:  # sympy may raise on exotic forms; the numeric check decides then
            return None
        return True if ok else None

    return within(SYMPY_SECONDS, decide, None)


def _symbolic_limit(expr: sympy.Expr, at: int) -> Any:
    """sympy's one-sided limit of expr as p -> at (0 from above, 1 from below), or None."""

    def lim() -> Any:
        try:
            return sympy.limit(expr, symbol("p"), at, "+" if at == 0 else "-")
        except Exception:  # undecided
            return None

    return within(SYMPY_SECONDS, lim, None)


def _is_zero(expr: sympy.Expr) -> bool:
    def decide() -> bool:
        try:
            return bool(sympy.simplify(expr) == 0)
        except Exception:
            return False

    return within(SYMPY_SECONDS, decide, False)


def _taus(tree: Expr, var: str) -> list[float]:
    """tau values of the monotonicity screen (``tree`` reads ``var``'s screening variable: L for p)."""
    return numcheck.tau_values(tree, var)


def _dense_taus(taus: list[float]) -> list[float]:
    """For the cheap end-point probes (limit, integrability): 33 evenly spaced tau values besides ``taus``."""
    if len(taus) == 1:
        return taus
    return sorted({*taus, *(k / 32 for k in range(33))})


def _numeric(name: str, found: numcheck.Finding) -> PropertyVerdict:
    reason = found.reason + ("; " + "; ".join(found.notes) if found.notes and found.ok else "")
    return PropertyVerdict(name, found.ok, "numeric", reason, None if found.ok else found.witness)


# ----- the checker --------------------------------------------------------------------------------------------
def check_tree(tree: Expr, component: str, limits: bool = True) -> Verdict:
    """Verdict per property for a component tree (phi_inv, psi, g, w_po, w_sft), without grammar knowledge.

    ``limits=False`` skips the sympy limits that can upgrade phi_inv's limit and integrability verdicts from
    not disproved to proved (tens of ms each); the search uses it. Results are cached per tree.
    """
    if component not in COMPONENTS:
        raise FormulaError(f"unknown component {component!r} (use phi_inv, psi, g, w_po or w_sft)")
    return copy.deepcopy(_cached(tree, component, limits))


@lru_cache(maxsize=4096)
def _cached(tree: Expr, component: str, limits: bool) -> Verdict:
    with one_thread(), total(SYMPY_SECONDS):
        return _check_tree(tree, component, limits)


def _check_tree(tree: Expr, component: str, limits: bool) -> Verdict:
    verdict = Verdict(component, to_formula(tree, names=False))
    var = COMPONENTS[component].var
    small = size(tree) <= SYMBOLIC_MAX_SIZE and "tau" not in variables(tree)
    sym = within(SYMPY_SECONDS, lambda: to_sympy(tree), None) if small else None
    if component in ("w_po", "w_sft"):
        folded = fold(tree)
        if isinstance(folded, Const) and folded.value >= 0:
            verdict.properties.append(
                PropertyVerdict("non-negative", True, "symbolic", f"the constant {folded.value:g}")
            )
        else:
            verdict.properties.append(
                _numeric("non-negative", numcheck.nonnegative(to_log_space(tree, "__none__")))
            )
        return verdict
    if var == "p":
        lt = to_log_space(tree, "p")
        taus = _taus(lt, "p")
        if component == "psi" and (
            (isinstance(lt, Const) and lt.value == 0.0)
            or (sym is not None and numcheck.vanishes(lt, "p") and _is_zero(sym))
        ):
            verdict.properties.append(
                PropertyVerdict("non-decreasing or 0", True, "symbolic", "identically 0")
            )
            return verdict
        strict = component == "phi_inv"
        name = "strictly increasing on (0,1]" if strict else "non-decreasing on (0,1] (or identically 0)"
        mono_proved = sym is not None and _symbolic_sign(sym, "p", strict) is True
        if mono_proved:
            why = "derivative in p > 0 for all p > 0" if strict else "derivative in p >= 0 for all p > 0"
            verdict.properties.append(PropertyVerdict(name, True, "symbolic", why))
        else:
            verdict.properties.append(_numeric(name, numcheck.monotone(lt, "p", taus, strict)))
        if component == "phi_inv":
            sym_limits = sym if limits else None
            verdict.properties.append(_limit_at_zero(lt, sym_limits, _dense_taus(taus)))
            verdict.properties.append(_integrable(lt, sym_limits, _dense_taus(taus), mono_proved))
        return verdict
    # g
    name = "non-decreasing in z"
    if sym is not None and _symbolic_sign(sym, "z", False) is True:
        verdict.properties.append(PropertyVerdict(name, True, "symbolic", "dg/dz >= 0 for all real z"))
    else:
        folded = fold(tree)
        verdict.properties.append(_numeric(name, numcheck.monotone(folded, "z", _taus(folded, "z"), False)))
    return verdict


def _limit_at_zero(lt: Expr, sym: sympy.Expr | None, taus: list[float]) -> PropertyVerdict:
    name = "-> -inf as p -> 0+"
    if sym is not None and size(lt) <= LIMIT_MAX_SIZE:
        lim = _symbolic_limit(sym, 0)
        if lim == -sympy.oo:
            return PropertyVerdict(name, True, "symbolic", "sympy: the limit is -oo")
        if lim is not None and (lim == sympy.oo or lim.is_finite):
            found = numcheck.limit_at_zero(lt, taus)
            return PropertyVerdict(name, False, "symbolic", f"sympy: the limit is {lim}", found.witness)
    return _numeric(name, numcheck.limit_at_zero(lt, taus))


def _integrable(lt: Expr, sym: sympy.Expr | None, taus: list[float], mono_proved: bool) -> PropertyVerdict:
    """Numeric exponents at both ends; proved when sympy also shows p^s f -> 0 and (1 - p)^s f -> 0 (s < 1).

    The proof: f is differentiable on (0, 1) (its derivative's sign was established), so it is continuous
    there, and the two limits bound |f| by C p^-s near 0 and C (1 - p)^-s near 1, both integrable.
    """
    name = "integrable on (0,1]"
    found = numcheck.integrable(lt, taus)
    if not found.ok or sym is None or not mono_proved or size(lt) > LIMIT_MAX_SIZE:
        return _numeric(name, found)
    p = symbol("p")
    growth = max(found.witness["exponents"]) if found.witness else 1.0
    for s in [x for x in (sympy.Rational(1, 2), sympy.Rational(9, 10)) if growth < float(x) - 0.05][:1]:
        at0 = _symbolic_limit(p**s * sym, 0)
        if at0 == 0:
            at1 = _symbolic_limit((1 - p) ** s * sym, 1)
            if at1 == 0:
                return PropertyVerdict(
                    name,
                    True,
                    "symbolic",
                    f"sympy: p^{s} phi_inv -> 0 at 0+ and (1-p)^{s} phi_inv -> 0 at 1-",
                )
    return _numeric(name, found)


def check_formula(
    formula: str, component: str, constants: dict[str, tuple[str, float]] | None = None
) -> Verdict:
    """Parse (restricted parser) and check; FormulaError when it cannot be parsed."""
    if component not in COMPONENTS:
        raise FormulaError(f"unknown component {component!r} (use phi_inv, psi, g, w_po or w_sft)")
    tree = parse(formula, COMPONENTS[component].variables, constants)
    v = check_tree(tree, component)
    v.formula = formula
    return v


def proved_by_grammar(tree: Expr, component: str, grammar: Any) -> Verdict | None:
    """A verdict of 'proved' when the tree is derivable from the grammar's start non-terminal, else None.

    Every rule of a loaded grammar was type-checked (abstract interpretation, :mod:`symmpo.symbolic.props`),
    so a derivation has its non-terminal's declared property: the component's conditions hold for every value
    its typed constants can take.
    """
    from symmpo.symbolic.props import TYPES

    nt = grammar.start.get(component)
    if nt is None or grammar.annotate(tree, nt) is None:
        return None
    what = TYPES[grammar.nonterminals[nt].type][1]
    verdict = Verdict(component, to_formula(tree, names=False))
    names = {
        "phi_inv": ["strictly increasing on (0,1]", "-> -inf as p -> 0+", "integrable on (0,1]"],
        "psi": ["non-decreasing on (0,1] (or identically 0)"],
        "g": ["non-decreasing in z"],
        "w_po": ["non-negative"],
        "w_sft": ["non-negative"],
    }[component]
    for n in names:
        verdict.properties.append(
            PropertyVerdict(n, True, "grammar", f"derivable from {nt} ({what}) of grammar {grammar.name}")
        )
    return verdict
