"""Abstract properties of a one-variable function, for typing grammar productions.

A grammar guarantees validity *by construction*: each production's property is derived from the
declared properties of its parts with the rules below (a small abstract interpretation). The rules are
sound but conservative: when a rule cannot conclude, it says ``mono="any"`` and drops the limit and
integrability facts, so a production that relies on them is rejected at grammar load time.

The variable x is p in (0, 1] for phi_inv/psi, z in R for g; tau in [0, 1] counts as a constant
(properties hold for every tau).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

INF = math.inf
# monotonicity lattice: strictly increasing, non-decreasing, constant, non-increasing, strictly decreasing
MONOS = ("sinc", "inc", "const", "dec", "sdec", "any")


@dataclass(frozen=True)
class Props:
    """What is known of f(x) on the component's domain."""

    mono: str = "any"
    lo: float = -INF  # a lower bound of the values (-inf: none known)
    hi: float = INF  # an upper bound of the values
    lb: bool = False  # bounded below (possibly by an unknown number)
    ub: bool = False  # bounded above
    neginf0: bool = False  # f -> -inf as p -> 0+
    posinf0: bool = False  # f -> +inf as p -> 0+
    integrable: bool = False  # integral of |f| over (0, 1] is finite
    zero0: bool = False  # f -> 0+ as p -> 0+ no faster than a power of p (log f integrable, -> -inf)
    is_p: bool = False  # f is exactly the variable p
    vanish1: bool = False  # f = c (1 - p) with c > 0: vanishes linearly at p = 1 (so log f is integrable)

    def __post_init__(self) -> None:
        if math.isnan(self.lo):  # an undefined bound (inf - inf) means no bound is known
            object.__setattr__(self, "lo", -INF)
        if math.isnan(self.hi):
            object.__setattr__(self, "hi", INF)
        if self.lo > -INF and not self.lb:
            object.__setattr__(self, "lb", True)
        if self.hi < INF and not self.ub:
            object.__setattr__(self, "ub", True)

    @property
    def bounded(self) -> bool:
        return self.lb and self.ub


def _pw(x: float, y: float) -> float:
    """x ** y for bounds: overflow and 0 ** negative are +inf (bounds stay sound, never an exception)."""
    try:
        return float(x**y)
    except (OverflowError, ZeroDivisionError):
        return INF


def _ex(x: float) -> float:
    return math.exp(x) if x < 709 else INF


def const_props(lo: float, hi: float) -> Props:
    return Props(mono="const", lo=lo, hi=hi, integrable=lo > -INF and hi < INF)


def var_props(name: str) -> Props:
    if name == "p":
        return Props(mono="sinc", lo=0.0, hi=1.0, integrable=True, zero0=True, is_p=True)
    if name == "tau":
        return const_props(0.0, 1.0)
    return Props(mono="sinc")  # z


def _flip(m: str) -> str:
    return {"sinc": "sdec", "inc": "dec", "const": "const", "dec": "inc", "sdec": "sinc"}.get(m, "any")


def _mono_add(a: str, b: str) -> str:
    if a == "const":
        return b
    if b == "const":
        return a
    up = {"sinc", "inc"}
    down = {"sdec", "dec"}
    if a in up and b in up:
        return "sinc" if "sinc" in (a, b) else "inc"
    if a in down and b in down:
        return "sdec" if "sdec" in (a, b) else "dec"
    return "any"


def _is_up(m: str) -> bool:
    return m in ("sinc", "inc", "const")


def _mul_iv(a: Props, b: Props) -> tuple[float, float]:
    vals = []
    for x in (a.lo, a.hi):
        for y in (b.lo, b.hi):
            if (x == 0 and abs(y) == INF) or (y == 0 and abs(x) == INF):
                vals.append(0.0)
            else:
                vals.append(x * y)
    return min(vals), max(vals)


def add(a: Props, b: Props) -> Props:
    return Props(
        mono=_mono_add(a.mono, b.mono),
        lo=a.lo + b.lo,
        hi=a.hi + b.hi,
        lb=a.lb and b.lb,
        ub=a.ub and b.ub,
        neginf0=(a.neginf0 and (b.lb or b.neginf0)) or (b.neginf0 and a.lb),
        posinf0=(a.posinf0 and (b.ub or b.posinf0)) or (b.posinf0 and a.ub),
        integrable=a.integrable and b.integrable,
        zero0=a.zero0 and b.zero0,
    )


def neg(a: Props) -> Props:
    return Props(
        mono=_flip(a.mono),
        lo=-a.hi,
        hi=-a.lo,
        lb=a.ub,
        ub=a.lb,
        neginf0=a.posinf0,
        posinf0=a.neginf0,
        integrable=a.integrable,
    )


def sub(a: Props, b: Props) -> Props:
    out = add(a, neg(b))
    if a.mono == "const" and a.lo == a.hi == 1.0 and b.is_p:
        out = replace(out, vanish1=True)
    return out


def _scale(a: Props, lo: float, hi: float) -> Props:
    """a times a constant in [lo, hi] with lo > 0."""
    c = const_props(lo, hi)
    ilo, ihi = _mul_iv(a, c)
    return replace(
        a,
        lo=ilo,
        hi=ihi,
        lb=a.lb and (a.lo >= 0 or hi < INF),
        ub=a.ub and (a.hi <= 0 or hi < INF),
        is_p=False,
    )


def mul(a: Props, b: Props) -> Props:
    if a.mono == "const" and b.mono != "const":
        a, b = b, a
    if b.mono == "const":
        if b.lo > 0:
            return _scale(a, b.lo, b.hi)
        if b.hi < 0:
            return neg(_scale(a, -b.hi, -b.lo))
        if a.mono == "const":
            lo, hi = _mul_iv(a, b)
            return const_props(lo, hi)
        lo, hi = _mul_iv(a, b)
        if b.lo >= 0:  # a non-negative (possibly zero) scale keeps non-strict monotonicity
            mono = {"sinc": "inc", "sdec": "dec"}.get(a.mono, a.mono)
            return Props(
                mono=mono, lo=lo, hi=hi, lb=a.lb and b.ub, ub=a.ub and b.ub, integrable=a.integrable and b.ub
            )
        return Props(lo=lo, hi=hi, integrable=a.integrable and b.bounded)
    lo, hi = _mul_iv(a, b)
    mono = "any"
    if a.lo >= 0 and b.lo >= 0 and _is_up(a.mono) and _is_up(b.mono):
        strict = (
            (a.mono == "sinc" and b.lo > 0)
            or (b.mono == "sinc" and a.lo > 0)
            or (a.mono == "sinc" and b.mono == "sinc")
        )
        mono = "sinc" if strict else "inc"
    integrable = (a.bounded and b.bounded) or (a.bounded and b.integrable) or (b.bounded and a.integrable)
    return Props(mono=mono, lo=lo, hi=hi, integrable=integrable, zero0=a.zero0 and b.zero0 and a.ub and b.ub)


def div(a: Props, b: Props) -> Props:
    if b.mono == "const" and (b.lo > 0 or b.hi < 0):
        inv = const_props(
            1 / b.hi if b.hi not in (INF, 0) else 0.0, 1 / b.lo if b.lo not in (0, -INF) else INF
        )
        if b.hi < 0:
            inv = const_props(1 / b.hi, 1 / b.lo if b.lo != -INF else 0.0)
        return mul(a, inv)
    return Props()


def pow_(a: Props, b: Props) -> Props:
    if b.mono != "const" or a.lo < 0:
        return Props()
    if b.lo > 0:  # increasing power of a non-negative base
        lo = 0.0 if a.lo == 0 else (_pw(a.lo, b.hi) if a.lo < 1 else _pw(a.lo, b.lo))
        hi = INF if a.hi == INF else max(_pw(a.hi, b.lo), _pw(a.hi, b.hi))
        return Props(
            mono=a.mono,
            lo=lo,
            hi=hi,
            lb=True,
            ub=a.ub,
            integrable=a.ub or a.integrable and b.hi <= 1,
            zero0=a.zero0,
        )
    if b.hi < 0:  # decreasing power
        lo = 0.0 if a.hi == INF else min(_pw(a.hi, b.lo), _pw(a.hi, b.hi))
        integrable = (a.is_p and b.lo > -1) or (a.lo > 0 and a.ub)
        return Props(mono=_flip(a.mono), lo=lo, lb=True, posinf0=a.zero0, integrable=integrable)
    return Props()


def log(a: Props) -> Props:
    if a.lo < 0:
        return Props()
    lo = math.log(a.lo) if a.lo > 0 else -INF
    hi = math.log(a.hi) if a.hi < INF else INF
    return Props(
        mono=a.mono,
        lo=lo,
        hi=hi,
        neginf0=a.zero0,
        posinf0=a.posinf0,
        integrable=a.zero0 or (a.lo > 0 and a.ub) or a.is_p or (a.vanish1 and a.ub),
    )


def exp(a: Props) -> Props:
    return Props(
        mono=a.mono,
        lo=_ex(a.lo) if a.lo > -INF else 0.0,
        hi=math.exp(a.hi) if a.hi < 700 else INF,
        integrable=a.ub,
        zero0=a.neginf0 and a.integrable,
        posinf0=a.posinf0,
    )


def sigmoid(a: Props) -> Props:
    return Props(mono=a.mono, lo=0.0, hi=1.0, integrable=True, zero0=a.neginf0 and a.integrable)


def logsigmoid(a: Props) -> Props:
    return Props(mono=a.mono, hi=0.0, lb=a.lb, neginf0=a.neginf0, integrable=a.integrable or a.lb)


def softplus(a: Props) -> Props:
    return Props(mono=a.mono, lo=0.0, ub=a.ub, posinf0=a.posinf0, integrable=a.integrable or a.ub)


def tanh(a: Props) -> Props:
    return Props(mono=a.mono, lo=-1.0, hi=1.0, integrable=True)


def _minmax_mono(a: str, b: str) -> str:
    if a in ("sinc", "inc", "const") and b in ("sinc", "inc", "const"):
        if a == b:
            return a
        return "inc"
    if a in ("sdec", "dec", "const") and b in ("sdec", "dec", "const"):
        return a if a == b else "dec"
    return "any"


def _extreme(a: Props, b: Props, lower: bool) -> Props:
    """min (``lower``) or max of two functions, written once since each is the other's mirror: for min, being
    bounded above or falling to -inf at 0 holds if either does and being bounded below only if both do; for max
    the reverse."""
    ceiling, floor = (any, all) if lower else (all, any)
    pick = min if lower else max
    return Props(
        mono=_minmax_mono(a.mono, b.mono),
        lo=pick(a.lo, b.lo),
        hi=pick(a.hi, b.hi),
        lb=floor((a.lb, b.lb)),
        ub=ceiling((a.ub, b.ub)),
        neginf0=ceiling((a.neginf0, b.neginf0)),
        integrable=a.integrable and b.integrable,
    )


def minimum(a: Props, b: Props) -> Props:
    return _extreme(a, b, lower=True)


def maximum(a: Props, b: Props) -> Props:
    return _extreme(a, b, lower=False)


def log1p(a: Props) -> Props:
    if a.lo < -1:
        return Props()
    return Props(
        mono=a.mono,
        lo=math.log1p(a.lo) if a.lo > -1 else -INF,
        hi=math.log1p(a.hi) if a.hi < INF else INF,
        integrable=a.bounded and a.lo > -1,
    )


def expm1(a: Props) -> Props:
    e = exp(a)
    return Props(mono=a.mono, lo=e.lo - 1, hi=e.hi - 1, integrable=a.ub)


def log1mexp(a: Props) -> Props:
    """log(1 - e^a): decreasing in a, needs a < 0."""
    if a.hi > 0:
        return Props()
    return Props(mono=_flip(a.mono), hi=0.0, integrable=a.neginf0 or a.hi < 0)


def sqrt(a: Props) -> Props:
    if a.lo < 0:
        return Props()
    return Props(
        mono=a.mono,
        lo=math.sqrt(a.lo),
        hi=math.sqrt(a.hi) if a.hi < INF else INF,
        integrable=a.integrable or a.ub,
        zero0=a.zero0,
    )


def square(a: Props) -> Props:
    if a.lo >= 0:
        return Props(mono=a.mono, lo=_pw(a.lo, 2), hi=_pw(a.hi, 2), integrable=a.ub, zero0=a.zero0)
    if a.hi <= 0:
        return Props(mono=_flip(a.mono), lo=_pw(a.hi, 2), hi=_pw(a.lo, 2), integrable=a.lb)
    return Props(lo=0.0, hi=max(_pw(a.lo, 2), _pw(a.hi, 2)), integrable=a.bounded)


def absolute(a: Props) -> Props:
    if a.lo >= 0:
        return a
    if a.hi <= 0:
        return neg(a)
    return Props(lo=0.0, hi=max(-a.lo, a.hi), integrable=a.integrable)


def periodic(a: Props) -> Props:
    return Props(lo=-1.0, hi=1.0, integrable=True) if a.mono != "const" else const_props(-1.0, 1.0)


# --- property classes a component or non-terminal may declare -------------------------------------------
TYPES: dict[str, tuple[Props, str]] = {
    # name: (the weakest Props a member has, description)
    "phi_inv": (
        Props(mono="sinc", neginf0=True, integrable=True),
        "strictly increasing on (0,1], -> -inf at 0+, integrable",
    ),
    "psi": (Props(mono="inc"), "non-decreasing on (0,1] (or constant)"),
    "g": (Props(mono="inc"), "non-decreasing in z"),
    "weight": (Props(mono="any", lo=0.0), "non-negative"),
    "inc": (Props(mono="inc"), "non-decreasing"),
    "inc_bounded": (Props(mono="inc", lb=True, ub=True, integrable=True), "non-decreasing and bounded"),
    "inc_lb": (Props(mono="inc", lb=True, integrable=True), "non-decreasing, bounded below, integrable"),
    "pmap": (
        Props(mono="sinc", lo=0.0, hi=1.0, integrable=True, zero0=True),
        "strictly increasing (0,1] -> (0,1], vanishing like a power of p at 0+",
    ),
    "any": (Props(), "no property required"),
}


def satisfies(p: Props, type_name: str) -> tuple[bool, str]:
    """Does p guarantee the declared type? Returns (ok, reason naming what is missing)."""
    want, _ = TYPES[type_name]
    missing = []
    mono_ok = {
        "sinc": ("sinc",),
        "inc": ("sinc", "inc", "const"),
        "any": MONOS,
    }[want.mono]
    if type_name == "g":
        mono_ok = ("sinc", "inc")
    if p.mono not in mono_ok:
        missing.append(f"monotonicity is {p.mono!r}, need {want.mono!r}")
    if want.lo > -INF and p.lo < want.lo:
        missing.append(f"lower bound {p.lo} < {want.lo}")
    if want.hi < INF and p.hi > want.hi:
        missing.append(f"upper bound {p.hi} > {want.hi}")
    for flag in ("lb", "ub", "neginf0", "integrable", "zero0"):
        if getattr(want, flag) and not getattr(p, flag):
            missing.append(
                {
                    "lb": "not bounded below",
                    "ub": "not bounded above",
                    "neginf0": "no -inf limit at 0+",
                    "integrable": "not provably integrable",
                    "zero0": "not provably vanishing at 0+",
                }[flag]
            )
    return (not missing, "; ".join(missing))
