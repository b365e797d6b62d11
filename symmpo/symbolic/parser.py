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

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from symmpo.errors import FormulaError, SymmpoError
from symmpo.symbolic.constants import normalize_kind, to_raw
from symmpo.symbolic.expr import Const, Expr, Hole, Node, Var
from symmpo.symbolic.limits import (
    MAX_CONSTANTS,
    MAX_DEPTH,
    MAX_FORMULA_CHARS,
    MAX_LITERAL,
    MAX_NODES,
    check_constants,
    check_identifier,
    check_literal,
)
from symmpo.symbolic.primitives import FUNCTIONS

# to_formula lives with the other printers (limits' messages use it, and parse imports limits)
from symmpo.symbolic.printing import to_formula as to_formula

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<op>\*\*|[-+*/(),^]))"
)  # ASCII digits only: Python's float() reads an Arabic-Indic digit as a number, a formula must not
MAX_LENGTH = MAX_FORMULA_CHARS


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
    stop = len(text.rstrip())
    while pos < stop:
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
    """Recursive descent with explicit bounds: every method returns (tree, depth) and counts nodes.

    ``level`` counts the recursion the formula forces (parentheses, signs, powers, function calls), so a
    formula nested deeper than MAX_DEPTH is refused before Python's own recursion limit is near; the
    returned depths bound the tree (a 5,000-term sum is a 5,000-deep tree) and ``nodes`` its size.
    """

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
        self.level = 0
        self.nodes = 0

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

    def enter(self) -> None:
        self.level += 1
        if self.level > MAX_DEPTH:
            raise FormulaError(f"formula nested deeper than {MAX_DEPTH} levels", self.text, self.peek()[2])

    def leaf(self, e: Any) -> tuple[Any, int]:
        self.count()
        return e, 1

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FormulaError(f"formula has more than {MAX_NODES} nodes", self.text, self.peek()[2])

    def node(self, op: str, *parts: tuple[Any, int]) -> tuple[Node, int]:
        self.count()
        d = 1 + max(p[1] for p in parts)
        if d > MAX_DEPTH:
            raise FormulaError(f"formula nested deeper than {MAX_DEPTH} levels", self.text, self.peek()[2])
        return Node(op, tuple(p[0] for p in parts)), d

    def parse(self) -> Expr:
        if self.peek()[0] == "end":
            raise FormulaError("empty formula", self.text, 0)
        e, _ = self.expr()
        k, t, pos = self.peek()
        if k == "bad":
            raise FormulaError(f"unexpected character {t!r}", self.text, pos)
        if k != "end":
            raise FormulaError(f"unexpected token {t!r}", self.text, pos)
        return e

    def expr(self) -> tuple[Any, int]:
        e = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            e = self.node("add" if op == "+" else "sub", e, self.term())
        return e

    def term(self) -> tuple[Any, int]:
        e = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            e = self.node("mul" if op == "*" else "div", e, self.unary())
        return e

    def unary(self) -> tuple[Any, int]:
        t = self.peek()[1]
        if t in ("-", "+"):
            self.take()
            self.enter()
            inner = self.unary()
            self.level -= 1
            if t == "+":
                return inner
            if isinstance(inner[0], Const) and inner[0].kind == "fixed":
                return Const(-inner[0].raw), inner[1]
            return self.node("neg", inner)
        return self.power()

    def power(self) -> tuple[Any, int]:
        base = self.atom()
        if self.peek()[1] in ("**", "^"):
            self.take()
            self.enter()
            exponent = self.unary()
            self.level -= 1
            return self.node("pow", base, exponent)
        return base

    def atom(self) -> tuple[Any, int]:
        k, t, pos = self.take()
        if k == "num":
            try:
                value = float(t)
            except OverflowError:  # pragma: no cover - float() of a decimal string gives inf, not an error
                value = math.inf
            return self.leaf(Const(check_literal(value, self.text, pos, t)))
        if t == "(":
            self.enter()
            e = self.expr()
            self.expect(")")
            self.level -= 1
            return e
        if k == "name":
            if self.peek()[1] == "(":
                if t not in FUNCTIONS:
                    raise FormulaError(f"unknown function {t!r}", self.text, pos)
                prim = FUNCTIONS[t]
                self.take()
                self.enter()
                args = [self.expr()]
                while self.peek()[1] == ",":
                    self.take()
                    args.append(self.expr())
                close = self.peek()[2]
                self.expect(")")
                self.level -= 1
                if len(args) != prim.arity:
                    raise FormulaError(
                        f"{t} takes {prim.arity} argument(s), got {len(args)}", self.text, close
                    )
                return self.node(t, *args)
            if t in self.variables:
                return self.leaf(Var(t))
            if t in self.constants:
                spec = self.constants[t]
                return self.leaf(Const(to_raw(spec.kind, spec.value), spec.kind, t))
            if t in self.holes:
                return self.leaf(Hole(t))
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
    """Parse a formula string into a tree; raises FormulaError naming the token and position.

    The result is within every limit of :mod:`symmpo.symbolic.limits` (size, depth, literal, exponent and
    finite constant subexpressions), checked before anything evaluates it.
    """
    if not isinstance(text, str):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            try:
                value = float(text)
            except OverflowError:
                value = math.inf
            return Const(check_literal(value))
        raise FormulaError(f"a formula must be a string, got {type(text).__name__}")
    specs: dict[str, ConstSpec] = {}
    if len(constants or {}) > MAX_CONSTANTS:
        raise FormulaError(f"more than {MAX_CONSTANTS} constants")
    for name, spec in (constants or {}).items():
        try:
            check_identifier(name, "constant")
        except SymmpoError as err:
            raise FormulaError(str(err)) from None
        if not isinstance(spec, ConstSpec):
            kind, value = spec
            spec = ConstSpec(kind, float(value))
        try:
            spec = ConstSpec(normalize_kind(spec.kind), spec.value)
        except ValueError as err:
            raise FormulaError(f"constant {name!r}: {err}") from None
        if name in FUNCTIONS or name in ("p", "z", "tau", "L"):
            raise FormulaError(f"constant name {name!r} clashes with the vocabulary")
        if not (math.isfinite(spec.value) and abs(spec.value) <= MAX_LITERAL):
            raise FormulaError(
                f"constant {name!r}: value {spec.value:g} is outside [-{MAX_LITERAL:g}, {MAX_LITERAL:g}]"
            )
        specs[name] = spec
    try:
        tree = _Parser(text, frozenset(variables), specs, frozenset(holes)).parse()
    except ValueError as err:  # a constant value outside its type
        raise FormulaError(str(err), text) from err
    check_constants(tree, text)
    return tree
