"""The search space of MPO objectives over a grammar: what GP and CMA-ES move, and how it is stored.

A genome is an :class:`~symmpo.Objective` whose component trees carry grammar non-terminal tags.
Objective files (formula strings) drop those tags, so checkpoints store genomes as tagged JSON trees
instead (:func:`tree_to_json`), which round-trip exactly (raw constants included): a resumed search
sees the very same trees and makes the very same choices.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from symmpo.errors import SymmpoError
from symmpo.objective import COMPONENTS, Objective, check_objective, sample_objective
from symmpo.objective import prune as pruning
from symmpo.search import operators as ops
from symmpo.symbolic import expr as E

if TYPE_CHECKING:
    from symmpo.search.config import SearchConfig


# -- exact, tag-preserving serialization ------------------------------------------------------
def tree_to_json(e: E.Expr) -> dict[str, Any]:
    if isinstance(e, E.Var):
        return {"v": e.name, "nt": e.nt}
    if isinstance(e, E.Const):
        return {"c": e.raw, "k": e.kind, "n": e.name, "nt": e.nt}
    return {"op": e.op, "a": [tree_to_json(c) for c in e.args], "nt": e.nt}


def tree_from_json(d: dict[str, Any]) -> E.Expr:
    if "v" in d:
        return E.Var(d["v"], d.get("nt"))
    if "c" in d:
        return E.Const(float(d["c"]), d["k"], d.get("n"), d.get("nt"))
    return E.Node(d["op"], tuple(tree_from_json(c) for c in d["a"]), d.get("nt"))


def _blank_constants(e: E.Expr) -> E.Expr:
    return E.map_consts(e, lambda c: c if c.kind == "fixed" else E.Const(0.0, c.kind, None, c.nt))


def _unnamed(c: E.Const) -> E.Const:
    return c if c.kind == "fixed" else E.Const(c.raw, c.kind, None, c.nt)


def _objective_or_none(*args: Any) -> Objective | None:
    """An Objective, or None when the child breaks a tree limit (too deep / large): a failed variation."""
    try:
        return Objective(*args)
    except SymmpoError:
        return None


class ObjectiveSpace:
    """GP's view of a grammar (see :class:`symmpo.search.gp.Space`)."""

    def __init__(self, grammar: Any, grammar_name: str, jitter_sigma: float = 0.3):
        self.grammar = grammar
        self.grammar_name = grammar_name
        self.jitter_sigma = jitter_sigma
        self.max_depth = int(getattr(grammar, "max_depth", 6))

    @classmethod
    def from_config(cls, config: SearchConfig) -> ObjectiveSpace:
        """The space of a search configuration's grammar."""
        if config.grammar is None:
            raise SymmpoError("the configuration names no grammar (it is not a GP run's)")
        return cls.load(config.grammar)

    @classmethod
    def load(cls, name: str) -> ObjectiveSpace:
        """The space of grammar ``name`` (a file, or a shipped grammar by name)."""
        from symmpo.symbolic.grammar import Grammar

        try:
            grammar = Grammar.load(name)
        except SymmpoError:
            raise
        except FileNotFoundError as err:
            raise SymmpoError(f"grammar {name!r} not found ({err})") from None
        return cls(grammar, name)

    # -- genomes -----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Objective:
        return sample_objective(self.grammar, rng)

    def _evolvable(self, obj: Objective) -> list[str]:
        """Components that carry grammar tags (psi only when it is not tied to phi_inv)."""
        comps = obj.components
        return [k for k in COMPONENTS if not (k == "psi" and obj.psi_tied) and ops.typed_positions(comps[k])]

    def _replace(self, obj: Objective, comp: str, tree: E.Expr) -> Objective | None:
        """Swap one component and rename every constant afresh: a donor subtree's ``c0`` must not alias ours."""
        comps = obj.components
        comps[comp] = tree
        t = {k: E.map_consts(v, _unnamed) for k, v in comps.items()}
        tied = obj.psi_tied and comp != "psi"
        return _objective_or_none(
            t["phi_inv"],
            t["phi_inv"] if tied else t["psi"],
            t["g"],
            t["w_po"],
            t["w_sft"],
            obj.beta,
            obj.reduce,
            obj.name,
            tied,
            None,
            obj.granularity,
        )

    def mutate(self, obj: Objective, kind: str, rng: np.random.Generator) -> Objective | None:
        if kind == "jitter":
            raw = np.asarray(self.constants(obj))
            return self.with_constants(
                obj, (raw + self.jitter_sigma * rng.standard_normal(raw.size)).tolist()
            )
        comps = self._evolvable(obj)
        if not comps:
            return None
        comp = comps[int(rng.integers(len(comps)))]
        tree = obj.components[comp]
        if kind == "subtree":
            try:
                new = ops.subtree_mutation(tree, self._expand, rng, self.max_depth)
            except SymmpoError:  # a regrowth past the tree limits: a failed variation
                return None
        elif kind == "point":
            new = ops.point_mutation(tree, rng)
        elif kind == "hoist":
            new = ops.hoist_mutation(tree, rng)
        else:
            raise ValueError(f"unknown mutation {kind!r}")
        return None if new is None else self._replace(obj, comp, new)

    def _expand(self, nt: str, rng: np.random.Generator, max_depth: int) -> E.Expr:
        return self.grammar.expand(nt, rng, max_depth)

    def crossover(self, a: Objective, b: Objective, rng: np.random.Generator) -> Objective | None:
        shared = [k for k in self._evolvable(a) if k in self._evolvable(b)]
        if not shared:
            return None
        comp = shared[int(rng.integers(len(shared)))]
        new = ops.crossover(a.components[comp], b.components[comp], rng)
        return None if new is None else self._replace(a, comp, new)

    def check(self, obj: Objective) -> str | None:
        """None when the candidate may enter the search, else why not.

        Admitted: within the grammar's size and depth limits, and every component *proved* (derivable from
        the grammar, whose rules are type-checked, or shown symbolically) or *not disproved* (numerically
        checked on the trainer's domain). A component with a confirmed violation is refused.
        """
        if obj.size() > self.grammar.max_size:
            return f"size {obj.size()} > max_size {self.grammar.max_size}"
        if obj.granularity not in self.grammar.granularity_choices:
            return f"granularity {obj.granularity} is not one of the grammar's ({', '.join(self.grammar.granularity_choices)})"
        deepest = max(E.depth(t) for t in obj.components.values())
        if deepest > self.max_depth + 2:  # templates add a level or two beyond the derivation depth
            return f"depth {deepest} > {self.max_depth + 2}"
        for comp, verdict in self._verdicts(obj).items():
            if not verdict.valid:
                return f"{comp}: " + "; ".join(f"{f.name}: {f.reason}" for f in verdict.failures())
        return None

    def _verdicts(self, obj: Objective) -> dict[str, Any]:
        return check_objective(obj, self.grammar, limits=False)

    def validity(self, obj: Objective) -> dict[str, Any]:
        """What the hall of fame reports: the overall status (proved / not disproved) and each component's."""
        verdicts = self._verdicts(obj)
        statuses = {comp: v.status for comp, v in verdicts.items()}
        overall = (
            "invalid"
            if "invalid" in statuses.values()
            else "proved"
            if all(s == "proved" for s in statuses.values())
            else "not disproved"
        )
        return {
            "status": overall,
            **({"granularity": obj.granularity} if obj.granularity != "sequence" else {}),
            "components": statuses,
            "how": {comp: sorted({p.method for p in v.properties}) for comp, v in verdicts.items()},
        }

    # -- dead-term pruning (symmpo.objective.prune) ---------------------------------------------
    def count_dead(self, obj: Objective, occurring: dict[str, list[float]]) -> tuple[int, int]:
        """(additive terms of φ⁻¹ and ψ, dead ones) on what the candidate's trainings saw (task/seed -> sketch)."""
        sample = pruning.sample_of(occurring.values())
        return pruning.count_dead(obj, sample) if sample is not None else (0, 0)

    def prune(self, obj: Objective, occurring: dict[str, list[float]]) -> pruning.Pruned:
        """The candidate without its dead terms; a removal the validity checker refuses is undone."""
        return pruning.prune(obj, pruning.sample_of(occurring.values()), check=self.check)

    # -- identity ----------------------------------------------------------------------------
    def key(self, obj: Objective) -> str:
        return obj.canonical_key()

    def structure_key(self, obj: Objective) -> str:
        comps = {k: tree_to_json(_blank_constants(v)) for k, v in obj.components.items()}
        extra = [obj.granularity] if obj.granularity != "sequence" else []  # sequence keys are unchanged
        return json.dumps([comps, obj.psi_tied, obj.reduce, *extra], sort_keys=True)

    def size(self, obj: Objective) -> int:
        return obj.size()

    def constants(self, obj: Objective) -> list[float]:
        """Raw constants, then log β: CMA-ES tunes the temperature of the margin too."""
        return [*obj.constant_vector().tolist(), math.log(obj.beta)]

    def with_constants(self, obj: Objective, raw: list[float]) -> Objective:
        raw = [float(v) for v in raw]
        lo, hi = self.grammar.beta_range
        beta = min(max(math.exp(raw[-1]), lo), hi)
        return obj.with_constant_vector(raw[:-1]).with_beta(beta)

    # -- storage and printing ------------------------------------------------------------------
    def to_dict(self, obj: Objective) -> dict[str, Any]:
        """Exact state (tagged trees) for checkpoints."""
        comps = obj.components
        return {
            "trees": {k: tree_to_json(comps[k]) for k in COMPONENTS if not (k == "psi" and obj.psi_tied)},
            "psi_tied": obj.psi_tied,
            "beta": obj.beta,
            "reduce": obj.reduce,
            "name": obj.name,
            **({"granularity": obj.granularity} if obj.granularity != "sequence" else {}),
        }

    def from_dict(self, data: dict[str, Any]) -> Objective:
        t = {k: tree_from_json(v) for k, v in data["trees"].items()}
        return Objective(
            t["phi_inv"],
            t.get("psi", t["phi_inv"]),
            t["g"],
            t["w_po"],
            t["w_sft"],
            data["beta"],
            data["reduce"],
            data["name"],
            data["psi_tied"],
            None,
            data.get("granularity", "sequence"),
        )

    def objective_dict(self, obj: Objective) -> dict[str, Any]:
        """The objective-file format (``Objective.from_dict`` / ``Objective.load``): what jobs receive."""
        return obj.to_dict()

    def formula(self, obj: Objective) -> str:
        f = obj.formulas()
        parts = [
            f"phi_inv={f['phi_inv']}",
            "psi=phi_inv" if obj.psi_tied else f"psi={f['psi']}",
            f"g={f['g']}",
        ]
        if f["w_po"] != "1":
            parts.append(f"w_po={f['w_po']}")
        if f["w_sft"] != "0":
            parts.append(f"w_sft={f['w_sft']}")
        grain = f"; granularity={obj.granularity}" if obj.granularity != "sequence" else ""
        return "; ".join(parts) + f"; beta={obj.beta:g}; reduce={obj.reduce}{grain}"

    def latex(self, obj: Objective) -> str:
        return obj.latex()

    def named_constants(self, obj: Objective) -> dict[str, dict[str, Any]]:
        return {n: {"type": k, "value": float(v)} for n, (k, v) in obj.constant_specs().items()}

    def reference(self, name: str, **params: float) -> Objective:
        return Objective.named(name, **params)

    def save(self, obj: Objective, path: str | Path) -> None:
        obj.save(path)

    def curves(self, obj: Objective, p: np.ndarray, z: np.ndarray, tau: float) -> dict[str, Any]:
        """Component values on grids (for plots); ψ ≡ 0 for reference-free objectives."""
        out: dict[str, Any] = {
            comp: obj.curve(comp, grid, progress=tau) for comp, grid in (("phi_inv", p), ("psi", p), ("g", z))
        }
        out["tau_dependent"] = any("tau" in E.variables(c) for c in obj.components.values())
        return out
