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
import yaml

from symmpo.errors import FormulaError, GrammarError
from symmpo.symbolic import props as P
from symmpo.symbolic.constants import KINDS, interval, to_raw
from symmpo.symbolic.expr import Const, Expr, Node, Var, depth, size, subtrees, with_nt
from symmpo.symbolic.expr import Path as TreePath
from symmpo.symbolic.parser import Hole, parse
from symmpo.symbolic.primitives import REGISTRY

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

COMPONENT_TYPES = {"phi_inv": "phi_inv", "psi": "psi", "g": "g", "w_po": "weight", "w_sft": "weight"}
COMPONENT_VARS = {"phi_inv": "p", "psi": "p", "g": "z", "w_po": "tau", "w_sft": "tau"}


@dataclass(frozen=True)
class Rule:
    text: str
    template: Any  # Expr with Hole leaves
    weight: float
    holes: tuple[tuple[TreePath, str], ...]  # (path in template, non-terminal)


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
        if not isinstance(data, Mapping):
            raise GrammarError(f"{source}: expected a mapping at the top level")
        self.name = str(data.get("name", Path(source).stem))
        self.description = str(data.get("description", ""))
        limits = data.get("limits") or {}
        self.max_depth = int(limits.get("max_depth", 6))
        self.max_size = int(limits.get("max_size", 40))
        self.beta_range = tuple(float(b) for b in data.get("beta", [0.05, 0.5]))
        self.reduce_choices = tuple(data.get("reduce", ["sum"]))
        for r in self.reduce_choices:
            if r not in ("sum", "mean"):
                raise GrammarError(f"{source}: reduce choices must be sum/mean, got {r!r}")
        if len(self.beta_range) != 2 or not 0 < self.beta_range[0] <= self.beta_range[1]:
            raise GrammarError(f"{source}: beta must be [low, high] with 0 < low <= high")
        raw_nts = data.get("nonterminals")
        if not isinstance(raw_nts, Mapping) or not raw_nts:
            raise GrammarError(f"{source}: missing 'nonterminals'")
        self.nonterminals: dict[str, NonTerminal] = {}
        names = set(raw_nts)
        for name, spec in raw_nts.items():
            self.nonterminals[name] = self._load_nt(str(name), spec, names)
        start = data.get("start")
        if not isinstance(start, Mapping):
            raise GrammarError(f"{source}: missing 'start' (component -> non-terminal)")
        self.start: dict[str, str] = {}
        self.psi_tie = 0.0
        for comp in COMPONENT_TYPES:
            if comp not in start:
                raise GrammarError(f"{source}: start has no entry for component {comp!r}")
            entry = start[comp]
            if isinstance(entry, Mapping):
                self.psi_tie = float(entry.get("tie", 0.0)) if comp == "psi" else 0.0
                entry = entry.get("nonterminal")
            if entry not in self.nonterminals:
                raise GrammarError(f"{source}: start.{comp} names unknown non-terminal {entry!r}")
            self.start[comp] = str(entry)
        unknown = set(start) - set(COMPONENT_TYPES)
        if unknown:
            raise GrammarError(f"{source}: start has unknown component(s) {', '.join(sorted(unknown))}")
        self._check()

    # ----- loading ---------------------------------------------------------------------------------------
    def _load_nt(self, name: str, spec: Any, names: set[str]) -> NonTerminal:
        where = f"{self.source}: non-terminal {name}"
        if not isinstance(spec, Mapping):
            raise GrammarError(f"{where}: expected a mapping")
        if "constant" in spec:
            kind = spec["constant"]
            if kind not in KINDS or kind == "fixed":
                raise GrammarError(f"{where}: constant type must be positive, unit or free, got {kind!r}")
            init = tuple(
                float(x)
                for x in spec.get(
                    "init", {"positive": [0.1, 2.0], "unit": [0.1, 0.9], "free": [-1.0, 1.0]}[kind]
                )
            )
            lo, hi = interval(kind, 0.0)
            if len(init) != 2 or not lo <= init[0] <= init[1] <= hi:
                raise GrammarError(f"{where}: init range {list(init)} is outside the {kind} type")
            return NonTerminal(name, const_kind=kind, init=init)  # type: ignore[arg-type]
        var = spec.get("var")
        if var not in ("p", "z", "tau"):
            raise GrammarError(f"{where}: 'var' must be p, z or tau, got {var!r}")
        typ = spec.get("type", "any")
        if typ not in P.TYPES:
            raise GrammarError(f"{where}: unknown type {typ!r} (known: {', '.join(P.TYPES)})")
        raw_rules = spec.get("rules")
        if not raw_rules:
            raise GrammarError(f"{where}: no rules")
        allow_tau = bool(spec.get("tau", False)) or var == "tau"
        variables = (var, "tau") if allow_tau else (var,)
        rules = []
        for i, r in enumerate(raw_rules):
            text, weight = (r, 1.0) if isinstance(r, (str, int, float)) else (r[0], float(r[1]))
            text = str(text)
            try:
                tmpl = parse(text, variables, holes=names)
            except FormulaError as err:
                raise GrammarError(f"{where} rule {i + 1} {text!r}: {err}") from None
            if weight <= 0:
                raise GrammarError(f"{where} rule {i + 1} {text!r}: weight must be > 0")
            rules.append(Rule(text, tmpl, weight, tuple(_holes(tmpl))))
        return NonTerminal(name, var, typ, tuple(rules))

    def _check(self) -> None:
        nts = self.nonterminals
        for comp, n in self.start.items():
            nt = nts[n]
            if nt.is_constant or nt.var != COMPONENT_VARS[comp]:
                raise GrammarError(
                    f"{self.source}: start.{comp} = {n} must be a function of {COMPONENT_VARS[comp]}"
                )
            ok, why = P.satisfies(P.TYPES[nt.type][0], COMPONENT_TYPES[comp])
            if not ok:
                raise GrammarError(
                    f"{self.source}: start.{comp} = {n} has type {nt.type!r}, which does not "
                    f"guarantee {COMPONENT_TYPES[comp]!r}: {why}"
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
        """A grammar file, or a shipped grammar by name ("mirror", "ta_mirror")."""
        p = Path(path_or_name)
        if not p.exists() and p.suffix == "" and "/" not in str(path_or_name):
            shipped = shipped_grammars()
            res = shipped / f"{path_or_name}.yaml"
            if res.is_file():
                return cls(yaml.safe_load(res.read_text()), f"{path_or_name}.yaml")
            names = shipped.iterdir() if shipped.is_dir() else []
            known = sorted(x.name[:-5] for x in names if x.name.endswith(".yaml"))
            raise GrammarError(
                f"no grammar file or shipped grammar named {str(path_or_name)!r} "
                f"(shipped: {', '.join(known)})"
            )
        try:
            text = p.read_text()
        except OSError as err:
            raise GrammarError(f"cannot read grammar {p}: {err.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise GrammarError(f"{p}: not valid YAML: {err}") from None
        return cls(data, str(p))

    # ----- sampling ------------------------------------------------------------------------------------
    def expand(self, nonterminal: str, rng: np.random.Generator, max_depth: int | None = None) -> Expr:
        """A random derivation of `nonterminal` no deeper than max_depth; every subtree is tagged."""
        nt = self.nonterminals[nonterminal]
        max_depth = self.max_depth if max_depth is None else max_depth
        if nt.is_constant:
            lo, hi = nt.init
            if nt.const_kind == "positive":
                v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            else:
                v = rng.uniform(lo, hi)
            return Const(to_raw(nt.const_kind or "free", v), nt.const_kind or "free", None, nonterminal)
        rules = [r for r in nt.rules if self._rule_depth(r) <= max_depth]
        if not rules:  # the caller asked for less than the minimum: take the shallowest
            best = min(self._rule_depth(r) for r in nt.rules)
            rules = [r for r in nt.rules if self._rule_depth(r) == best]
        w = np.array([r.weight for r in rules], dtype=float)
        rule = rules[int(rng.choice(len(rules), p=w / w.sum()))]
        return with_nt(self._fill(rule.template, rng, max_depth - 1), nonterminal)

    def _fill(self, t: Any, rng: np.random.Generator, budget: int) -> Expr:
        if isinstance(t, Hole):
            return self.expand(t.name, rng, budget + 1)
        if isinstance(t, Node):
            return Node(t.op, tuple(self._fill(c, rng, budget - 1) for c in t.args))
        return t

    def sample_component(self, comp: str, rng: np.random.Generator, max_depth: int | None = None) -> Expr:
        return self.expand(self.start[comp], rng, max_depth)

    def sample_objective(
        self,
        rng: np.random.Generator,
        max_depth: int | None = None,
        max_size: int | None = None,
        name: str = "sample",
        tries: int = 100,
    ) -> Any:
        """A random objective within the size and depth limits (reproducible from rng)."""
        from symmpo.objective import Objective

        max_size = self.max_size if max_size is None else max_size
        for _ in range(tries):
            comps = {c: self.sample_component(c, rng, max_depth) for c in COMPONENT_TYPES}
            tied = bool(rng.random() < self.psi_tie)
            beta = float(math.exp(rng.uniform(math.log(self.beta_range[0]), math.log(self.beta_range[1]))))
            reduce = str(self.reduce_choices[int(rng.integers(len(self.reduce_choices)))])
            obj = Objective(
                comps["phi_inv"],
                comps["psi"],
                comps["g"],
                comps["w_po"],
                comps["w_sft"],
                beta=beta,
                reduce=reduce,
                name=name,
                psi_tied=tied,
            )
            if obj.size() <= max_size:
                return obj
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

    def annotate_objective(self, obj: Any) -> Any:
        """The objective with tags re-derived for every component; GrammarError names a component outside it."""
        comps = {}
        for comp, n in self.start.items():
            tree = obj.components[comp]
            if comp == "psi" and obj.psi_tied:
                continue
            m = self.annotate(tree, n)
            if m is None:
                raise GrammarError(
                    f"{self.source}: component {comp} of {obj.name!r} is not derivable from {n}"
                )
            comps[comp] = m
        return obj.with_components(**comps)

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


def tree_size(e: Expr) -> int:
    return size(e)
