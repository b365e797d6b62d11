"""Typed grammars (YAML) over the registry, with sampling and the hooks typed GP needs.

A grammar has typed non-terminals. An *expression* non-terminal declares its variable (p, z or tau),
a property type (see :data:`symmpo.symbolic.props.TYPES`) and weighted rules: formula templates whose
upper-case names are non-terminals. A *constant* non-terminal declares a constant type (positive,
unit, free) and an initial range. Loading checks the grammar itself and names the faulty rule:
unknown names/primitives, non-terminals of the wrong variable, unreachable or unproductive
non-terminals, and rules whose typing cannot guarantee the declared property (abstract interpretation
with each referenced non-terminal replaced by the weakest member of its type).

For GP: every subtree produced by :meth:`Grammar.expand` remembers its non-terminal in ``tree.nt``;
:meth:`Grammar.positions` lists the paths of a non-terminal's subtrees, and ``expr.replace_at`` swaps
one — replacing a subtree tagged N by another expansion of N keeps the whole tree well-typed.
:meth:`Grammar.annotate` re-derives the tags of a tree parsed from a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from symmpo.errors import FormulaError, GrammarError, SymmpoError
from symmpo.symbolic import props as P
from symmpo.symbolic.component import COMPONENTS
from symmpo.symbolic.constants import interval, normalize_kind, to_raw
from symmpo.symbolic.expr import Const, Expr, Node, Var, depth, size, subtrees, with_nt
from symmpo.symbolic.expr import Path as TreePath
from symmpo.symbolic.limits import (
    MAX_DEPTH,
    MAX_NODES,
    check_identifier,
    check_name,
    integer,
    number,
    shown,
    tree_shape,
)
from symmpo.symbolic.parser import Hole, parse
from symmpo.symbolic.primitives import FUNCTIONS, REGISTRY

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

MAX_GRAMMAR_DEPTH = 16  # limits.max_depth: derivations deeper than this are never readable formulas
MAX_NONTERMINALS = 100
MAX_RULES = 100  # per non-terminal


class _TooBig(GrammarError):
    """A derivation outgrew the tree limits (sampling retries; other callers see a GrammarError)."""


@dataclass(frozen=True)
class Rule:
    text: str
    template: Any  # Expr with Hole leaves
    weight: float
    holes: tuple[tuple[TreePath, str], ...]  # (path in template, non-terminal)


@dataclass(frozen=True)
class Sample:
    """One draw of :meth:`Grammar.sample`: a tree per component (psi's is unused when tied), and the fields."""

    components: dict[str, Expr]
    psi_tied: bool
    beta: float
    reduce: str
    granularity: str = "sequence"


@dataclass(frozen=True)
class NonTerminal:
    name: str
    var: str | None = None  # None for constants
    type: str = "any"
    rules: tuple[Rule, ...] = ()
    const_kind: str | None = None
    init: tuple[float, float] = (0.1, 1.0)

    @property
    def is_constant(self) -> bool:
        return self.const_kind is not None


def shipped_grammars() -> Traversable:
    """The folder of shipped grammars: ``symmpo/grammars/`` inside an installed wheel (the build copies
    the repository's ``grammars/`` there), else ``grammars/`` beside the package in a source checkout or
    an editable install. The tree keeps one copy; this finds it either way."""
    packaged = resources.files("symmpo") / "grammars"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "grammars"


def _holes(t: Any, path: TreePath = ()) -> list[tuple[TreePath, str]]:
    if isinstance(t, Hole):
        return [(path, t.name)]
    if isinstance(t, Node):
        out = []
        for i, c in enumerate(t.args):
            out.extend(_holes(c, path + (i,)))
        return out
    return []


def _template_depth(t: Any) -> int:
    return 1 + max((_template_depth(c) for c in t.args), default=0) if isinstance(t, Node) else 1


class Grammar:
    """A loaded, checked grammar. Build with :meth:`load` or :meth:`from_dict`."""

    def __init__(self, data: Mapping[str, Any], source: str = "grammar"):
        self.source = source
        try:
            self._build(data)
        except GrammarError:
            raise
        except SymmpoError as err:
            raise GrammarError(f"{source}: {err}") from None
        except (
            TypeError,
            ValueError,
            KeyError,
            IndexError,
            OverflowError,
        ) as err:  # a backstop: untrusted data
            raise GrammarError(
                f"{source}: malformed grammar ({type(err).__name__}: {shown(str(err), 120)})"
            ) from None

    def _build(self, data: Mapping[str, Any]) -> None:
        source = self.source
        if not isinstance(data, Mapping):
            raise GrammarError(f"{source}: expected a mapping at the top level")
        self.name = check_name(data.get("name", Path(source).stem), "grammar")
        self.description = str(data.get("description", ""))[:10_000]
        lim = data.get("limits") or {}
        if not isinstance(lim, Mapping):
            raise GrammarError(f"{source}: limits must be a mapping {{max_depth, max_size}}")
        self.max_depth = integer(lim.get("max_depth", 6), "limits.max_depth", 1, MAX_GRAMMAR_DEPTH)
        self.max_size = integer(lim.get("max_size", 40), "limits.max_size", 1, MAX_NODES)
        beta = data.get("beta", [0.05, 0.5])
        if not isinstance(beta, (list, tuple)) or len(beta) != 2:
            raise GrammarError(f"{source}: beta must be [low, high] with 0 < low <= high")
        self.beta_range = tuple(number(b, "beta") for b in beta)
        if not 0 < self.beta_range[0] <= self.beta_range[1]:
            raise GrammarError(f"{source}: beta must be [low, high] with 0 < low <= high")
        reduce = data.get("reduce", ["sum"])
        if not isinstance(reduce, (list, tuple)) or not reduce:
            raise GrammarError(f"{source}: reduce must be a list of sum/mean, got {shown(reduce)}")
        for r in reduce:
            if r not in ("sum", "mean"):
                raise GrammarError(f"{source}: reduce choices must be sum/mean, got {shown(r)}")
        self.reduce_choices = tuple(str(r) for r in reduce)
        granularity = data.get("granularity", ["sequence"])
        if not isinstance(granularity, (list, tuple)) or not granularity:
            raise GrammarError(
                f"{source}: granularity must be a list of sequence/token, got {shown(granularity)}"
            )
        for g in granularity:
            if g not in ("sequence", "token"):
                raise GrammarError(f"{source}: granularity choices must be sequence/token, got {shown(g)}")
        self.granularity_choices = tuple(str(g) for g in granularity)
        raw_nts = data.get("nonterminals")
        if not isinstance(raw_nts, Mapping) or not raw_nts:
            raise GrammarError(f"{source}: missing 'nonterminals'")
        if len(raw_nts) > MAX_NONTERMINALS:
            raise GrammarError(f"{source}: more than {MAX_NONTERMINALS} non-terminals")
        self.nonterminals: dict[str, NonTerminal] = {}
        names = set()
        for name in raw_nts:
            name = check_identifier(name, "non-terminal")
            if name in FUNCTIONS or name in ("p", "z", "tau", "L"):
                raise GrammarError(f"{source}: non-terminal name {name!r} clashes with the vocabulary")
            names.add(name)
        for name, spec in raw_nts.items():
            self.nonterminals[name] = self._load_nt(name, spec, names)
        start = data.get("start")
        if not isinstance(start, Mapping):
            raise GrammarError(f"{source}: missing 'start' (component -> non-terminal)")
        self.start: dict[str, str] = {}
        self.psi_tie = 0.0
        for comp in COMPONENTS:
            if comp not in start:
                raise GrammarError(f"{source}: start has no entry for component {comp!r}")
            entry = start[comp]
            if isinstance(entry, Mapping):
                if comp == "psi":
                    self.psi_tie = number(entry.get("tie", 0.0), "start.psi.tie")
                    if not 0 <= self.psi_tie <= 1:
                        raise GrammarError(f"{source}: start.psi.tie must be in [0, 1], got {self.psi_tie}")
                entry = entry.get("nonterminal")
            if not isinstance(entry, str) or entry not in self.nonterminals:
                raise GrammarError(f"{source}: start.{comp} names unknown non-terminal {shown(entry)}")
            self.start[comp] = entry
        unknown = sorted(shown(k, 30) for k in set(start) - set(COMPONENTS))
        if unknown:
            raise GrammarError(f"{source}: start has unknown component(s) {', '.join(unknown[:5])}")
        self._check()

    # ----- loading ---------------------------------------------------------------------------------------
    def _load_nt(self, name: str, spec: Any, names: set[str]) -> NonTerminal:
        where = f"{self.source}: non-terminal {name}"
        if not isinstance(spec, Mapping):
            raise GrammarError(f"{where}: expected a mapping")
        if "constant" in spec:
            try:
                kind = normalize_kind(spec["constant"])
            except ValueError as err:
                raise GrammarError(f"{where}: {err}") from None
            if kind == "fixed":
                raise GrammarError(f"{where}: constant type must be positive, unit, free or interval(lo, hi)")
            default = {"positive": [0.1, 2.0], "unit": [0.1, 0.9], "free": [-1.0, 1.0]}
            lo, hi = interval(kind, 0.0)
            raw_init = spec.get("init", default.get(kind, [lo, hi]))
            if not isinstance(raw_init, (list, tuple)) or len(raw_init) != 2:
                raise GrammarError(f"{where}: init must be [low, high], got {shown(raw_init)}")
            init = (number(raw_init[0], "init"), number(raw_init[1], "init"))
            if not lo <= init[0] <= init[1] <= hi:
                raise GrammarError(f"{where}: init range {list(init)} is outside the {kind} type")
            return NonTerminal(name, const_kind=kind, init=init)
        var = spec.get("var")
        if var not in ("p", "z", "tau"):
            raise GrammarError(f"{where}: 'var' must be p, z or tau, got {shown(var)}")
        typ = spec.get("type", "any")
        if not isinstance(typ, str) or typ not in P.TYPES:
            raise GrammarError(f"{where}: unknown type {shown(typ)} (known: {', '.join(P.TYPES)})")
        raw_rules = spec.get("rules")
        if not raw_rules:
            raise GrammarError(f"{where}: no rules")
        if isinstance(raw_rules, (str, int, float)):
            raw_rules = [raw_rules]
        if not isinstance(raw_rules, (list, tuple)) or len(raw_rules) > MAX_RULES:
            raise GrammarError(f"{where}: rules must be a list of at most {MAX_RULES} formulas")
        allow_tau = spec.get("tau", False) is True or var == "tau"
        variables = (var, "tau") if allow_tau else (var,)
        rules = []
        for i, r in enumerate(raw_rules):
            if isinstance(r, (str, int, float)) and not isinstance(r, bool):
                text, weight = r, 1.0
            elif isinstance(r, (list, tuple)) and len(r) == 2:
                text, weight = r[0], r[1]
            else:
                raise GrammarError(
                    f"{where} rule {i + 1}: expected a formula or [formula, weight], got {shown(r)}"
                )
            try:
                weight = number(weight, "weight")
            except SymmpoError as err:
                raise GrammarError(f"{where} rule {i + 1}: {err}") from None
            if not isinstance(text, (str, int, float)) or isinstance(text, bool):
                raise GrammarError(f"{where} rule {i + 1}: a rule must be a formula, got {shown(text)}")
            text = str(text)
            try:
                tmpl = parse(text, variables, holes=names)
            except FormulaError as err:
                raise GrammarError(f"{where} rule {i + 1} {shown(text)}: {err}") from None
            if weight <= 0:
                raise GrammarError(f"{where} rule {i + 1} {text!r}: weight must be > 0")
            rules.append(Rule(text, tmpl, weight, tuple(_holes(tmpl))))
        return NonTerminal(name, var, typ, tuple(rules))

    def _check(self) -> None:
        nts = self.nonterminals
        for comp, n in self.start.items():
            nt = nts[n]
            spec = COMPONENTS[comp]
            if nt.is_constant or nt.var != spec.var:
                raise GrammarError(f"{self.source}: start.{comp} = {n} must be a function of {spec.var}")
            ok, why = P.satisfies(P.TYPES[nt.type][0], spec.type)
            if not ok:
                raise GrammarError(
                    f"{self.source}: start.{comp} = {n} has type {nt.type!r}, which does not "
                    f"guarantee {spec.type!r}: {why}"
                )
        # variables agree
        for nt in nts.values():
            for i, r in enumerate(nt.rules):
                for _, h in r.holes:
                    sub_nt = nts[h]
                    if not sub_nt.is_constant and sub_nt.var != nt.var and sub_nt.var != "tau":
                        raise GrammarError(
                            f"{self.source}: non-terminal {nt.name} rule {i + 1} {r.text!r}: {h} is a function of "
                            f"{sub_nt.var}, but {nt.name} is a function of {nt.var}"
                        )
        # productivity: minimal derivation depth, by fixpoint
        self.min_depth: dict[str, float] = {n: (1 if nt.is_constant else math.inf) for n, nt in nts.items()}
        changed = True
        while changed:
            changed = False
            for n, nt in nts.items():
                for r in nt.rules:
                    d = self._rule_depth(r)
                    if d < self.min_depth[n]:
                        self.min_depth[n] = d
                        changed = True
        for n, d in self.min_depth.items():
            if d == math.inf:
                raise GrammarError(
                    f"{self.source}: non-terminal {n} is unproductive (no rule ends in terminals)"
                )
        # reachability
        seen: set[str] = set()
        todo = list(self.start.values())
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            todo.extend(h for r in nts[n].rules for _, h in r.holes)
        unreachable = sorted(set(nts) - seen)
        if unreachable:
            raise GrammarError(
                f"{self.source}: non-terminal(s) {', '.join(unreachable)} unreachable from start"
            )
        # typing of every rule
        for nt in nts.values():
            for i, r in enumerate(nt.rules):
                pr = self.rule_props(r)
                ok, why = P.satisfies(pr, nt.type)
                if not ok:
                    raise GrammarError(
                        f"{self.source}: non-terminal {nt.name} rule {i + 1} {r.text!r} cannot guarantee its "
                        f"type {nt.type!r} ({P.TYPES[nt.type][1]}): {why}"
                    )

    def _rule_depth(self, r: Rule) -> float:
        d = float(_template_depth(r.template))
        for path, h in r.holes:
            d = max(d, len(path) + self.min_depth[h])
        return d

    def rule_props(self, r: Rule) -> P.Props:
        """Abstract properties of a rule, each non-terminal standing for the weakest member of its type."""
        return self._props(r.template)

    def _props(self, t: Any) -> P.Props:
        if isinstance(t, Hole):
            nt = self.nonterminals[t.name]
            if nt.is_constant:
                return P.const_props(*interval(nt.const_kind or "free", 0.0))
            return P.TYPES[nt.type][0]
        if isinstance(t, Var):
            return P.var_props(t.name)
        if isinstance(t, Const):
            return P.const_props(t.value, t.value)
        return REGISTRY[t.op].absint(*(self._props(c) for c in t.args))

    # ----- construction --------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "grammar") -> Grammar:
        return cls(data, source)

    @classmethod
    def load(cls, path_or_name: str | Path) -> Grammar:
        """A grammar file, or a shipped grammar by name: ``mirror``, ``mirror.yaml`` or a path.

        An existing file always wins; a bare name (no directory part, with or without ``.yaml``) that is not
        an existing file is the shipped grammar of that name, so the same command works from any directory.
        """
        spec = str(path_or_name)
        p = Path(spec)
        shipped = shipped_grammar(spec)
        if not p.is_file() and shipped is not None:
            from symmpo.symbolic.safeyaml import load_text

            return cls(load_text(shipped.read_text(), shipped.name, GrammarError), shipped.name)
        if not p.exists() and _is_bare(spec):
            raise GrammarError(
                f"no grammar file or shipped grammar named {spec!r} (shipped: {', '.join(shipped_names())})"
            )
        from symmpo.symbolic.safeyaml import load_file

        return cls(load_file(p, "grammar", GrammarError), str(p))

    # ----- sampling ------------------------------------------------------------------------------------
    def expand(self, nonterminal: str, rng: np.random.Generator, max_depth: int | None = None) -> Expr:
        """A random derivation of `nonterminal` no deeper than max_depth; every subtree is tagged.

        A derivation that grows past the tree limits (MAX_NODES nodes) is abandoned with a GrammarError, so a
        grammar whose rules multiply cannot make sampling run away.
        """
        return self._expand(nonterminal, rng, max_depth, [0])

    def _expand(
        self, nonterminal: str, rng: np.random.Generator, max_depth: int | None, count: list[int]
    ) -> Expr:
        nt = self.nonterminals[nonterminal]
        max_depth = self.max_depth if max_depth is None else max_depth
        if nt.is_constant:
            lo, hi = nt.init
            if nt.const_kind == "positive":
                v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            else:
                v = rng.uniform(lo, hi)
            kind = nt.const_kind or "free"
            lo_t, hi_t = interval(kind, 0.0)
            return Const(to_raw(kind, min(max(v, lo_t), hi_t)), kind, None, nonterminal)
        rules = [r for r in nt.rules if self._rule_depth(r) <= max_depth]
        if not rules:  # the caller asked for less than the minimum: take the shallowest
            best = min(self._rule_depth(r) for r in nt.rules)
            rules = [r for r in nt.rules if self._rule_depth(r) == best]
        w = np.array([r.weight for r in rules], dtype=float)
        rule = rules[int(rng.choice(len(rules), p=w / w.sum()))]
        count[0] += tree_shape(rule.template)[0]
        if count[0] > MAX_NODES:
            raise _TooBig(f"{self.source}: a derivation of {nonterminal} exceeds {MAX_NODES} nodes")
        return with_nt(self._fill(rule.template, rng, max_depth - 1, count), nonterminal)

    def _fill(self, t: Any, rng: np.random.Generator, budget: int, count: list[int]) -> Expr:
        if isinstance(t, Hole):
            return self._expand(t.name, rng, budget + 1, count)
        if isinstance(t, Node):
            return Node(t.op, tuple(self._fill(c, rng, budget - 1, count) for c in t.args))
        return t

    def sample_component(self, comp: str, rng: np.random.Generator, max_depth: int | None = None) -> Expr:
        return self.expand(self.start[comp], rng, max_depth)

    def sample(
        self,
        rng: np.random.Generator,
        max_depth: int | None = None,
        max_size: int | None = None,
        tries: int = 100,
    ) -> Sample:
        """Random component trees, psi tie, beta, reduce and granularity within the size and depth limits (reproducible
        from rng). The size counts psi once when it is tied to phi_inv."""
        max_size = self.max_size if max_size is None else max_size
        for _ in range(tries):
            try:
                comps = {c: self.sample_component(c, rng, max_depth) for c in COMPONENTS}
            except _TooBig:
                continue
            if any(tree_shape(t)[1] > MAX_DEPTH for t in comps.values()):
                continue
            tied = bool(rng.random() < self.psi_tie)
            beta = float(math.exp(rng.uniform(math.log(self.beta_range[0]), math.log(self.beta_range[1]))))
            reduce = str(self.reduce_choices[int(rng.integers(len(self.reduce_choices)))])
            grain = self.granularity_choices  # drawn only when there is a choice: one-choice grammars keep
            granularity = str(grain[int(rng.integers(len(grain)))]) if len(grain) > 1 else grain[0]  # streams
            if sum(size(t) for c, t in comps.items() if not (c == "psi" and tied)) <= max_size:
                return Sample(comps, tied, beta, reduce, granularity)
        raise GrammarError(f"{self.source}: no sample within max_size={max_size} after {tries} tries")

    # ----- GP hooks ------------------------------------------------------------------------------------
    def positions(self, tree: Expr, nonterminal: str | None = None) -> list[tuple[TreePath, str]]:
        """(path, non-terminal) of every tagged subtree (of one non-terminal, when given), pre-order."""
        return [
            (p, s.nt)
            for p, s in subtrees(tree)
            if s.nt is not None and (nonterminal is None or s.nt == nonterminal)
        ]

    def annotate(self, tree: Expr, nonterminal: str) -> Expr | None:
        """Re-derive non-terminal tags of an untagged tree (e.g. read from a file); None if it is not derivable."""
        return self._match(tree, nonterminal, depth(tree) + 2)

    def _match(self, tree: Expr, n: str, fuel: int) -> Expr | None:
        nt = self.nonterminals[n]
        if fuel <= 0:
            return None
        if nt.is_constant:
            if isinstance(tree, Const) and tree.kind == nt.const_kind:
                return with_nt(tree, n)
            return None
        for r in nt.rules:
            m = self._match_tmpl(r.template, tree, fuel)
            if m is not None:
                return with_nt(m, n)
        return None

    def _match_tmpl(self, t: Any, tree: Expr, fuel: int) -> Expr | None:
        if isinstance(t, Hole):
            return self._match(tree, t.name, fuel - 1)
        if isinstance(t, Var):
            return tree if isinstance(tree, Var) and tree.name == t.name else None
        if isinstance(t, Const):
            return (
                tree if isinstance(tree, Const) and tree.kind == "fixed" and tree.value == t.value else None
            )
        if not isinstance(tree, Node) or tree.op != t.op or len(tree.args) != len(t.args):
            return None
        args = []
        for tc, c in zip(t.args, tree.args, strict=True):
            m = self._match_tmpl(tc, c, fuel)
            if m is None:
                return None
            args.append(m)
        return Node(tree.op, tuple(args))

    def describe(self) -> str:
        lines = [
            f"grammar {self.name} ({self.source}): {len(self.nonterminals)} non-terminals, "
            f"max_depth={self.max_depth}, max_size={self.max_size}"
        ]
        for comp, n in self.start.items():
            lines.append(f"  {comp} <- {n}")
        for nt in self.nonterminals.values():
            if nt.is_constant:
                lines.append(f"  {nt.name}: constant {nt.const_kind} init {list(nt.init)}")
            else:
                lines.append(f"  {nt.name}({nt.var}): {nt.type} — {len(nt.rules)} rule(s), ok")
        return "\n".join(lines)


def _is_bare(spec: str) -> bool:
    """A name without a directory part (``mirror`` or ``mirror.yaml``)."""
    return bool(spec) and "/" not in spec and "\\" not in spec and spec not in (".", "..")


def shipped_names() -> list[str]:
    """Names of the grammars shipped with the package (found by :func:`shipped_grammars`)."""
    folder = shipped_grammars()
    names = folder.iterdir() if folder.is_dir() else []
    return sorted(x.name[:-5] for x in names if x.name.endswith(".yaml"))


def grammar_spec(spec: str) -> str:
    """What a run's configuration should record for ``--grammar spec``: valid from any directory.

    An existing file becomes its absolute path; a bare shipped name (``mirror``, ``mirror.yaml``) becomes the
    shipped name; anything else is returned unchanged (loading it then names the problem).
    """
    p = Path(spec)
    if p.is_file():
        return str(p.resolve())
    shipped = shipped_grammar(spec)
    return shipped.name[:-5] if shipped is not None else spec


def shipped_grammar(spec: str) -> Traversable | None:
    """The shipped grammar resource a bare name refers to (``mirror`` or ``mirror.yaml``), else None."""
    if not _is_bare(spec):
        return None
    stem = spec[:-5] if spec.endswith(".yaml") else spec
    if stem not in shipped_names():
        return None
    return shipped_grammars() / f"{stem}.yaml"
