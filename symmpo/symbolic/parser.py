"""Restricted formula parser: the registry's vocabulary and nothing else.

Formulas from files and users are parsed by a small recursive-descent parser over a fixed token set
(numbers, names, + - * / ** ( ) ,). Names must be registry functions, the component's variables, or
declared constants (and, in grammars, non-terminals). Nothing is ever evaluated as Python: an unknown
name or character is a :class:`FormulaError` that names the token and its position.

Grammar (precedence low to high)::

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary)*
    unary  := '-' unary | '+' unary | power
    power  := atom ('**' unary)?          # right-associative, -p**2 == -(p**2)
    atom   := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from symmpo.errors import FormulaError
from symmpo.symbolic.constants import KINDS, to_raw
from symmpo.symbolic.expr import Const, Expr, Node, Var
from symmpo.symbolic.primitives import FUNCTIONS

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>\*\*|[-+*/(),^]))"
)
MAX_LENGTH = 10_000


@dataclass(frozen=True)
class Hole:
    """A non-terminal placeholder in a grammar production (never part of a finished tree)."""

    name: str


@dataclass(frozen=True)
class ConstSpec:
    """A named constant a formula may use: its type and value."""

    kind: str
    value: float


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) triples; an unknown character is an error at its position."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"formula longer than {MAX_LENGTH} characters", text[:40] + "...", MAX_LENGTH)
    out = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            j = pos
            while text[j].isspace():
                j += 1
            out.append(("bad", text[j], j))  # reported when the parser reaches it, so errors come in order
            return out
        kind = m.lastgroup or ""
        tok = m.group(kind)
        out.append((kind, tok, m.start(kind)))
        pos = m.end()
    out.append(("end", "", len(text)))
    return out


class _Parser:
    def __init__(
        self,
        text: str,
        variables: frozenset[str],
        constants: Mapping[str, ConstSpec],
        holes: frozenset[str],
    ):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.variables = variables
        self.constants = constants
        self.holes = holes

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def take(self) -> tuple[str, str, int]:
        t = self.toks[self.i]
        if t[0] == "bad":
            raise FormulaError(f"unexpected character {t[1]!r}", self.text, t[2])
        self.i += 1
        return t

    def expect(self, tok: str) -> None:
        k, t, pos = self.take()
        if t != tok:
            shown = repr(t) if t else "end of formula"
            raise FormulaError(f"expected {tok!r}, found {shown}", self.text, pos)

    def parse(self) -> Expr:
        if self.peek()[0] == "end":
            raise FormulaError("empty formula", self.text, 0)
        e = self.expr()
        k, t, pos = self.peek()
        if k == "bad":
            raise FormulaError(f"unexpected character {t!r}", self.text, pos)
        if k != "end":
            raise FormulaError(f"unexpected token {t!r}", self.text, pos)
        return e

    def expr(self) -> Expr:
        e = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            e = Node("add" if op == "+" else "sub", (e, self.term()))
        return e

    def term(self) -> Expr:
        e = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            e = Node("mul" if op == "*" else "div", (e, self.unary()))
        return e

    def unary(self) -> Expr:
        t = self.peek()[1]
        if t == "-":
            self.take()
            inner = self.unary()
            if isinstance(inner, Const) and inner.kind == "fixed":
                return Const(-inner.raw)
            return Node("neg", (inner,))
        if t == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Expr:
        base = self.atom()
        if self.peek()[1] in ("**", "^"):
            self.take()
            return Node("pow", (base, self.unary()))
        return base

    def atom(self) -> Expr:
        k, t, pos = self.take()
        if k == "num":
            return Const(float(t))
        if t == "(":
            e = self.expr()
            self.expect(")")
            return e
        if k == "name":
            if self.peek()[1] == "(":
                if t not in FUNCTIONS:
                    raise FormulaError(f"unknown function {t!r}", self.text, pos)
                prim = FUNCTIONS[t]
                self.take()
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.expr())
                close = self.peek()[2]
                self.expect(")")
                if len(args) != prim.arity:
                    raise FormulaError(
                        f"{t} takes {prim.arity} argument(s), got {len(args)}", self.text, close
                    )
                return Node(t, tuple(args))
            if t in self.variables:
                return Var(t)
            if t in self.constants:
                spec = self.constants[t]
                return Const(to_raw(spec.kind, spec.value), spec.kind, t)
            if t in self.holes:
                return Hole(t)  # type: ignore[return-value]
            if t in FUNCTIONS:
                raise FormulaError(f"function {t!r} needs arguments", self.text, pos)
            allowed = sorted(self.variables) + sorted(self.constants)
            raise FormulaError(
                f"unknown name {t!r} (allowed here: {', '.join(allowed) or 'none'} and the functions "
                f"{', '.join(sorted(FUNCTIONS))})",
                self.text,
                pos,
            )
        shown = repr(t) if t else "end of formula"
        raise FormulaError(f"unexpected {shown}", self.text, pos)


def parse(
    text: str,
    variables: tuple[str, ...] | frozenset[str] = ("p", "z", "tau"),
    constants: Mapping[str, ConstSpec | tuple[str, float]] | None = None,
    holes: frozenset[str] | set[str] = frozenset(),
) -> Expr:
    """Parse a formula string into a tree; raises FormulaError naming the token and position."""
    if not isinstance(text, str):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return Const(float(text))
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}")
    specs: dict[str, ConstSpec] = {}
    for name, spec in (constants or {}).items():
        if not isinstance(spec, ConstSpec):
            kind, value = spec
            spec = ConstSpec(kind, float(value))
        if spec.kind not in KINDS:
            raise FormulaError(f"constant {name!r} has unknown type {spec.kind!r}")
        if name in FUNCTIONS or name in ("p", "z", "tau", "L"):
            raise FormulaError(f"constant name {name!r} clashes with the vocabulary")
        specs[name] = spec
    try:
        return _Parser(text, frozenset(variables), specs, frozenset(holes)).parse()
    except ValueError as err:  # a constant value outside its type
        raise FormulaError(str(err), text) from err


def _fmt_num(v: float) -> str:
    r = repr(float(v))
    return r[:-2] if r.endswith(".0") else r


def to_formula(e: Expr, names: bool = True) -> str:
    """Print a tree back in formula syntax (parseable by :func:`parse`); constants by name when named."""
    return _fmt(e, names)[0]


def _fmt(e: Expr, names: bool) -> tuple[str, int]:
    from symmpo.symbolic.primitives import REGISTRY

    if isinstance(e, Var):
        return e.name, 100
    if isinstance(e, Const):
        if names and e.name:
            return e.name, 100
        s = _fmt_num(e.value)
        return s, (100 if e.value >= 0 else 3)
    if isinstance(e, Hole):  # pragma: no cover - debugging aid
        return e.name, 100
    prim = REGISTRY[e.op]
    if e.op == "neg":
        s, p = _fmt(e.args[0], names)
        return "-" + (s if p > 3 else f"({s})"), 3
    if prim.infix:
        prec = prim.precedence
        (a, pa), (b, pb) = _fmt(e.args[0], names), _fmt(e.args[1], names)
        if e.op == "pow":
            a = a if pa > prec else f"({a})"
            b = b if pb >= 3 else f"({b})"
            return f"{a}**{b}", prec
        a = a if pa >= prec else f"({a})"
        right_ok = pb > prec or (pb == prec and e.op in ("add", "mul"))
        b = b if right_ok else f"({b})"
        return f"{a} {prim.infix} {b}", prec
    return f"{e.op}({', '.join(_fmt(c, names)[0] for c in e.args)})", 100
