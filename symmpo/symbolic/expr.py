"""Immutable, hashable expression trees.

Three node kinds: :class:`Var` (p, z, tau; and L = log p inside the compiler), :class:`Const` (typed
constant) and :class:`Node` (a registry primitive applied to children). ``nt`` records which grammar
non-terminal produced a subtree, so genetic operators can stay type-safe; it is ignored by ``==`` and
``hash`` (a parsed formula equals the same formula sampled from a grammar).

A subtree's *path* is the tuple of child indices from the root; :func:`subtrees` lists them and
:func:`replace_at` rebuilds a tree with one subtree swapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from symmpo.symbolic.constants import to_value

VARIABLES = ("p", "z", "tau")


@dataclass(frozen=True)
class Var:
    name: str
    nt: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Const:
    """A constant. ``raw`` is what optimizers move; ``value`` applies the type's transform."""

    raw: float
    kind: str = "fixed"
    name: str | None = None
    nt: str | None = field(default=None, compare=False, repr=False)

    @property
    def value(self) -> float:
        return to_value(self.kind, self.raw)


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple[Expr, ...]
    nt: str | None = field(default=None, compare=False, repr=False)


Expr = Var | Const | Node
Path = tuple[int, ...]


def is_tree(x: object) -> bool:
    """True for an expression tree (an objective's component may also be an external, neural one)."""
    return isinstance(x, (Var, Const, Node))


def children(e: Expr) -> tuple[Expr, ...]:
    return e.args if isinstance(e, Node) else ()


def subtrees(e: Expr, path: Path = ()) -> Iterator[tuple[Path, Expr]]:
    """Pre-order (path, subtree) pairs."""
    yield path, e
    for i, c in enumerate(children(e)):
        yield from subtrees(c, path + (i,))


def get_at(e: Expr, path: Path) -> Expr:
    for i in path:
        e = children(e)[i]
    return e


def replace_at(e: Expr, path: Path, new: Expr) -> Expr:
    """A copy of e with the subtree at path replaced by new (tags of untouched nodes are kept)."""
    if not path:
        return new
    assert isinstance(e, Node)
    i = path[0]
    args = list(e.args)
    args[i] = replace_at(args[i], path[1:], new)
    return Node(e.op, tuple(args), e.nt)


def with_nt(e: Expr, nt: str | None) -> Expr:
    """The same tree with its root tagged by non-terminal nt."""
    if isinstance(e, Var):
        return Var(e.name, nt)
    if isinstance(e, Const):
        return Const(e.raw, e.kind, e.name, nt)
    return Node(e.op, e.args, nt)


def size(e: Expr) -> int:
    return 1 + sum(size(c) for c in children(e))


def depth(e: Expr) -> int:
    return 1 + max((depth(c) for c in children(e)), default=0)


def variables(e: Expr) -> frozenset[str]:
    if isinstance(e, Var):
        return frozenset([e.name])
    return frozenset().union(*(variables(c) for c in children(e))) if isinstance(e, Node) else frozenset()


def constants(e: Expr) -> list[Const]:
    """Tunable (non-fixed) constants in pre-order."""
    return [s for _, s in subtrees(e) if isinstance(s, Const) and s.kind != "fixed"]


def map_consts(e: Expr, fn: Callable[[Const], Expr]) -> Expr:
    """Rebuild e with every constant c replaced by fn(c) (tags kept)."""
    if isinstance(e, Const):
        return fn(e)
    if isinstance(e, Node):
        return Node(e.op, tuple(map_consts(c, fn) for c in e.args), e.nt)
    return e


def substitute(e: Expr, name: str, new: Expr) -> Expr:
    """Replace variable `name` by `new` everywhere."""
    if isinstance(e, Var):
        return new if e.name == name else e
    if isinstance(e, Node):
        return Node(e.op, tuple(substitute(c, name, new) for c in e.args), e.nt)
    return e


def is_const(e: Expr, value: float | None = None) -> bool:
    """True when e is a constant (optionally: a fixed constant equal to value)."""
    if not isinstance(e, Const):
        return False
    return value is None or (e.kind == "fixed" and e.raw == value)


@dataclass(frozen=True)
class Hole:
    """A non-terminal placeholder in a grammar production (never part of a finished tree)."""

    name: str
