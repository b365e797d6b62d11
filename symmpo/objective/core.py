"""The public :class:`Objective`: one MPO loss (components g, psi, phi_inv, weights, beta, reduce).

    r(y) = beta * [phi_inv(P_theta(y)) - psi(P_ref(y))],  z = r(y+) - r(y-)
    loss = -w_po(tau) * g(z, tau) + w_sft(tau) * NLL_theta(y+),  NLL = -(sum log-prob)/|y+|

Objects are immutable: ``with_*`` methods return new objectives. Each component is compiled once into a
torch closure (cached), so ``loss`` costs about what a hand-written loss does. The work behind the methods
lives in the package's other modules (loss, export, canonical key, file format, named baselines), which never
import this class.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from symmpo.errors import FormulaError, ObjectiveError, SymmpoError
from symmpo.objective import canonical, export, files, loss, loss_tree, named
from symmpo.objective.plain import PlainObjective
from symmpo.objective.types import COMPONENTS, TIED, Component, LossArgs, LossCalls
from symmpo.symbolic import limits
from symmpo.symbolic.component import ExternalComponent
from symmpo.symbolic.expr import Const, constants, is_tree, map_consts, size, subtrees
from symmpo.symbolic.parser import parse, to_formula


class Objective(LossCalls):
    """An MPO loss. Build with :meth:`named`, :meth:`from_components`, :meth:`load` or :meth:`from_dict`."""

    def __init__(
        self,
        phi_inv: Component,
        psi: Component,
        g: Component,
        w_po: Component = None,
        w_sft: Component = None,
        beta: float = 0.1,
        reduce: str = "sum",
        name: str = "custom",
        psi_tied: bool = False,
        params: Mapping[str, float] | None = None,
        granularity: str = "sequence",
    ):
        if reduce not in ("sum", "mean"):
            raise ObjectiveError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
        if granularity not in loss_tree.GRANULARITIES:
            raise ObjectiveError(
                f"granularity must be 'sequence' or 'token', got {limits.shown(granularity)}"
            )
        w_po = Const(1.0) if w_po is None else w_po
        w_sft = Const(0.0) if w_sft is None else w_sft
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise ObjectiveError(f"beta must be a number, got {limits.shown(beta)}")
        beta = float(beta)
        if not (beta > 0 and math.isfinite(beta)):
            raise ObjectiveError(f"beta must be a finite number > 0, got {beta}")
        comps = {
            "phi_inv": phi_inv,
            "psi": phi_inv if psi_tied else psi,
            "g": g,
            "w_po": w_po,
            "w_sft": w_sft,
        }
        for k, c in comps.items():
            if not (is_tree(c) or isinstance(c, ExternalComponent)):
                raise ObjectiveError(
                    f"component {k} must be a tree or an ExternalComponent, got {type(c).__name__}"
                )
            if is_tree(c):
                _check_tree(c, k)
            if k in ("w_po", "w_sft") and isinstance(c, Const) and c.value < 0:
                raise ObjectiveError(f"weight {k} must be non-negative, got {c.value:g}")
        try:
            name = limits.check_name(name)
        except SymmpoError as err:
            raise ObjectiveError(str(err)) from None
        self._components = _name_constants(comps)
        self.beta = beta
        self.reduce = reduce
        self.granularity = granularity
        self.name = name
        self.psi_tied = bool(psi_tied)
        self.params = dict(params or {})
        self._compiled: dict[str, Any] = {}  # "loss" / "parts" -> the compiled closure
        self._tree: loss_tree.LossTree | None = None
        self._key: str | None = None

    # ----- construction --------------------------------------------------------------------------------
    @classmethod
    def named(cls, name: str, **params: float) -> Objective | PlainObjective:
        """A named baseline: an MPO recipe (dpo, ipo, simpo, cpo, ...) as an Objective, or a plain baseline
        outside the family (nca, aot, ...) as a :class:`~symmpo.objective.plain.PlainObjective`."""
        if named.is_plain(name):
            return named.plain_baseline(name, **params)
        return cls.from_components(**named.recipe(name, **params))

    @classmethod
    def from_components(
        cls,
        phi_inv: Component | str = "log(p)",
        psi: Component | str | None = TIED,
        g: Component | str = "logsigmoid(z)",
        w_po: Component | str | float = 1.0,
        w_sft: Component | str | float = 0.0,
        beta: float = 0.1,
        reduce: str = "sum",
        name: str = "custom",
        constants: Mapping[str, tuple[str, float] | Mapping[str, Any]] | None = None,
        params: Mapping[str, float] | None = None,
        granularity: str = "sequence",
    ) -> Objective:
        """Build from trees or formula strings. psi: a formula, None/"0" (reference-free) or "phi_inv" (tied).

        ``constants`` declares named typed constants the formulas use: {"gamma": ("positive", 0.5)} or
        {"gamma": {"type": "positive", "value": 0.5}}. ``params``: what a named baseline was built with.
        ``granularity``: "sequence" (phi_inv, psi read the response's probability) or "token" (they read each
        token's probability, summed or averaged over the response; docs/formulation.md).
        """
        specs = files.const_specs(constants or {})
        tied = isinstance(psi, str) and psi.strip() == TIED
        if psi is None:
            psi = Const(0.0)

        def tree(comp: str, c: Any) -> Any:
            if is_tree(c) or isinstance(c, ExternalComponent):
                return c
            try:
                return parse(c, COMPONENTS[comp].variables, specs)
            except FormulaError as err:
                raise FormulaError(f"component {comp}: {err}") from None

        given = {"phi_inv": phi_inv, "psi": psi, "g": g, "w_po": w_po, "w_sft": w_sft}
        trees = {k: Const(0.0) if k == "psi" and tied else tree(k, c) for k, c in given.items()}
        return cls(*(trees[k] for k in COMPONENTS), beta, reduce, name, tied, params, granularity)

    def _replace(
        self,
        components: Mapping[str, Any] | None = None,
        beta: float | None = None,
        name: str | None = None,
        psi_tied: bool | None = None,
        granularity: str | None = None,
    ) -> Objective:
        """A copy with the given fields changed (the one place that re-assembles an Objective)."""
        c = self._components if components is None else components
        return Objective(
            *(c[k] for k in COMPONENTS),
            self.beta if beta is None else beta,
            self.reduce,
            self.name if name is None else name,
            self.psi_tied if psi_tied is None else psi_tied,
            self.params,
            self.granularity if granularity is None else granularity,
        )

    def with_components(self, **new: Component) -> Objective:
        """A copy with some components replaced (trees); keeps the psi tie unless psi is given."""
        comps = dict(self._components)
        tied = self.psi_tied and "psi" not in new
        comps.update(new)
        if "psi_tied" in new:
            tied = bool(new.pop("psi_tied"))
            comps.pop("psi_tied")
        return self._replace(components=comps, psi_tied=tied)

    def with_granularity(self, granularity: str) -> Objective:
        """The same components at another granularity ("sequence" or "token")."""
        return self._replace(granularity=granularity)

    def with_beta(self, beta: float) -> Objective:
        return self._replace(beta=beta)

    def renamed(self, name: str) -> Objective:
        return self._replace(name=name)

    # ----- introspection -------------------------------------------------------------------------------
    @property
    def components(self) -> dict[str, Component]:
        """name -> tree (psi is the phi_inv tree itself when tied; reference-free psi is the constant 0)."""
        return dict(self._components)

    @property
    def needs_lengths(self) -> bool:
        """True when ``loss`` needs lengths: chosen and rejected for reduce=mean, the chosen for an imitation
        term (the loss tree's convention: exactly the lengths it reads)."""
        return bool(self.tree().lengths)

    @property
    def uses_tau(self) -> bool:
        """True when a component reads tau (training progress), so the loss changes during training."""
        return loss_tree.uses_tau(self)

    @property
    def uses_reference(self) -> bool:
        """False for reference-free objectives (constant psi): the reference log-probs are never read."""
        return loss.uses_reference(self)

    @property
    def is_symbolic(self) -> bool:
        return all(is_tree(c) for c in self._components.values())

    def size(self) -> int:
        """Number of tree nodes over distinct components (psi counted once when tied)."""
        names = [k for k in COMPONENTS if not (k == "psi" and self.psi_tied)]
        return sum(size(self._components[k]) if is_tree(self._components[k]) else 1 for k in names)

    def constant_specs(self) -> dict[str, tuple[str, float]]:
        """name -> (type, value) of the tunable constants, in constant-vector order."""
        out: dict[str, tuple[str, float]] = {}
        for k in COMPONENTS:
            c = self._components[k]
            if is_tree(c):
                for const in constants(c):
                    out.setdefault(const.name or "", (const.kind, const.value))
        return out

    def constant_vector(self) -> np.ndarray:
        """Raw (unconstrained) values of the tunable constants; an optimizer may move them freely."""
        seen: dict[str, float] = {}
        for k in COMPONENTS:
            c = self._components[k]
            if is_tree(c):
                for const in constants(c):
                    seen.setdefault(const.name or "", const.raw)
        return np.array(list(seen.values()), dtype=float)

    def with_constant_vector(self, raw: Any) -> Objective:
        """A new objective whose tunable constants take these raw values (types' transforms apply)."""
        raw = np.asarray(raw, dtype=float).ravel()
        names = list(self.constant_specs())
        if raw.shape[0] != len(names):
            raise ObjectiveError(
                f"expected {len(names)} raw constants ({', '.join(names)}), got {raw.shape[0]}"
            )
        if not np.all(np.isfinite(raw)):
            raise ObjectiveError("raw constants must be finite")
        by_name = dict(zip(names, raw.tolist(), strict=True))

        def fn(c: Const) -> Const:
            return (
                Const(by_name[c.name], c.kind, c.name, c.nt) if c.kind != "fixed" and c.name in by_name else c
            )

        comps = {k: map_consts(v, fn) if is_tree(v) else v for k, v in self._components.items()}
        return self._replace(components=comps)

    # ----- the loss ------------------------------------------------------------------------------------
    def tree(self) -> loss_tree.LossTree:
        """The loss tree (:mod:`symmpo.objective.loss_tree`): what ``loss``, ``parts``, ``latex`` and the
        exports all compile or print."""
        if self._tree is None:
            self._tree = loss_tree.build(self)
        return self._tree

    def _evaluate(self, kind: str, args: LossArgs) -> Any:
        """``loss`` and ``parts`` (:class:`~symmpo.objective.types.LossCalls`): the tree compiled once per
        kind; the lengths it reads must be given (reduce=mean: both; an imitation term: the chosen)."""
        tree = self.tree()
        if any(getattr(args, k) is None for k in tree.lengths):
            raise ObjectiveError("objective " + repr(self.name) + tree.lengths_suffix)
        if kind not in self._compiled:
            compile_kind = loss.compile_objective if kind == "loss" else loss.compile_parts
            self._compiled[kind] = compile_kind(self, tree)
        return self._compiled[kind](*args)

    def curve(self, component: str, x: Any, progress: float = 0.0) -> np.ndarray:
        """One component evaluated on a grid exactly as it is compiled into the loss (for plots and checks).

        ``x`` is p in (0, 1] for phi_inv and psi, the margin z for g, and ignored for the weights (which read
        ``progress``). Returns a float64 array of x's shape.
        """
        if component not in self.components:
            raise ObjectiveError(f"unknown component {component!r}; choose from {sorted(self.components)}")
        grid = np.asarray(x, dtype=np.float64)
        arg = torch.as_tensor(np.log(grid) if component in ("phi_inv", "psi") else grid)
        fn, _ = loss.component_fn(self, component)
        with torch.no_grad():
            y = fn(arg, torch.tensor(float(progress), dtype=torch.float64))
        return np.broadcast_to(np.asarray(y, dtype=np.float64), grid.shape).copy()

    # ----- printing, export, keys ----------------------------------------------------------------------
    def latex(self) -> str:
        """The whole loss as LaTeX (components substituted)."""
        return loss.loss_latex(self, self.tree())

    def component_latex(self) -> dict[str, str]:
        return loss.component_latex(self)

    def to_torch_source(self, function_name: str = "loss") -> str:
        """Standalone PyTorch source (imports torch only) of a function with ``loss``'s arguments."""
        return export.torch_source(self, function_name)

    def canonical_key(self) -> str:
        """A stable hash of the simplified loss (constants rounded): equal for equivalent objectives."""
        if self._key is None:
            self._key = canonical.canonical_key(self)
        return self._key

    def formulas(self) -> dict[str, str]:
        self.require_symbolic("print as formulas")
        return {k: to_formula(v) for k, v in self._components.items()}

    # ----- files ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The YAML file format (formula strings in the registry's vocabulary)."""
        return files.to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "objective") -> Objective:
        """An objective from the file format; every field of the untrusted mapping is checked."""
        files.check_mapping(data, where)
        try:
            return cls.from_components(**files.decode(data))
        except FormulaError as err:
            raise FormulaError(f"{where}: {err}") from None
        except SymmpoError as err:
            raise ObjectiveError(f"{where}: {err}") from None

    @classmethod
    def load(cls, path: str | Path) -> Objective:
        """Read an objective YAML file (bounded safe YAML; formulas through the restricted parser)."""
        return cls.from_dict(files.read(path), where=str(path))

    def save(self, path: str | Path) -> None:
        files.write(path, self.to_dict())

    # ----- misc ----------------------------------------------------------------------------------------
    def require_symbolic(self, what: str) -> None:
        """ObjectiveError unless every component is a tree (needed to print, save or export)."""
        if not self.is_symbolic:
            bad = [k for k, v in self._components.items() if not is_tree(v)]
            raise ObjectiveError(
                f"objective {self.name!r} has non-symbolic component(s) {', '.join(bad)}: cannot {what}"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Objective):
            return NotImplemented
        return (self._components, self.beta, self.reduce, self.psi_tied, self.granularity) == (
            other._components,
            other.beta,
            other.reduce,
            other.psi_tied,
            other.granularity,
        )

    def __hash__(self) -> int:
        return hash(
            (tuple(self._components.items()), self.beta, self.reduce, self.psi_tied, self.granularity)
        )

    def __repr__(self) -> str:
        if not self.is_symbolic:
            return f"Objective(name={self.name!r}, non-symbolic)"
        f = self.formulas()
        psi = TIED if self.psi_tied else f["psi"]
        return (
            f"Objective(name={self.name!r}, phi_inv={f['phi_inv']!r}, psi={psi!r}, g={f['g']!r}, "
            f"w_po={f['w_po']!r}, w_sft={f['w_sft']!r}, beta={self.beta}, reduce={self.reduce!r}"
            + (f", granularity={self.granularity!r})" if self.granularity != "sequence" else ")")
        )

    def fingerprint(self) -> str:
        """Exact identity (structure and raw constants), unlike the rounded canonical key."""
        return hashlib.sha256(json.dumps(repr(self)).encode()).hexdigest()[:16]


def _check_tree(tree: Any, comp: str) -> None:
    """The same structural validation for every tree, parsed or built in Python (operators, arities, the
    component's variables, constant types and values, size, depth); cheap: it runs on every construction."""
    limits.check_structure(tree, COMPONENTS[comp].variables, f"component {comp}")
    for _, t in subtrees(tree):
        if isinstance(t, Const) and not math.isfinite(t.value):
            raise FormulaError(f"component {comp}: constant {t.name or t.raw} is not finite")


def _name_constants(comps: dict[str, Any]) -> dict[str, Any]:
    """Give every unnamed tunable constant a fresh name c0, c1, ... (names identify constants in files)."""
    used = set()
    for c in comps.values():
        if is_tree(c):
            used.update(k.name for k in constants(c) if k.name)
    counter = [0]

    def fresh(c: Const) -> Const:
        if c.kind == "fixed" or c.name:
            return c
        while f"c{counter[0]}" in used:
            counter[0] += 1
        name = f"c{counter[0]}"
        used.add(name)
        return Const(c.raw, c.kind, name, c.nt)

    out = {}
    for k, v in comps.items():
        if k == "psi" and v is comps["phi_inv"]:
            continue
        out[k] = map_consts(v, fresh) if is_tree(v) else v
    if "psi" not in out:
        out["psi"] = out["phi_inv"]
    return {k: out[k] for k in COMPONENTS}


__all__ = ["Objective", "COMPONENTS", "TIED"]
