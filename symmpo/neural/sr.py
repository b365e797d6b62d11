"""Symbolic-regression backends for distillation: pyoperon (default, offline) and PySR (when Julia is there).

Both see the same *features*, which are grammar terminals or grammar primitives of the argument, so every
formula they return is within the grammar's vocabulary: ``p`` and ``logp`` (= log p) for φ⁻¹ and ψ, ``z``
and ``lsz`` (= logsigmoid z) for g, and ``tau`` for temporally aware components. Operators are the
registry's ``regression`` ones (+ − × ÷, exp, log, tanh, square), so the core can parse every result. A backend returns its Pareto front
(accuracy vs size) as infix strings; :mod:`symmpo.neural.distill` parses them with the core's
restricted parser and substitutes the features back (``logp`` → log(p), ``lsz`` → logsigmoid(z)).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass

import numpy as np

from symmpo.errors import SymmpoError
from symmpo.symbolic.primitives import REGRESSION

BACKENDS = ("operon", "pysr")
OPERON_SYMBOLS = ",".join(["constant", "variable", *REGRESSION])


class BackendUnavailable(SymmpoError):
    """The chosen symbolic-regression backend is not installed here."""


@dataclass(frozen=True)
class SRSettings:
    population: int = 500
    generations: int = 100
    max_length: int = 25
    seed: int = 0
    max_seconds: int = 60


def pysr_problem() -> str | None:
    """Why PySR cannot run here (one line), or None. Never imports pysr: importing it installs Julia."""
    hint = (
        "--backend pysr needs PySR and a Julia installation: pip install 'symmpo[pysr]' and install Julia "
        "(https://julialang.org/install/, `julia` on PATH or PYTHON_JULIAPKG_EXE set); "
        "or use --backend operon (the default, offline)"
    )
    if importlib.util.find_spec("pysr") is None:
        return f"PySR is not installed: {hint}"
    if importlib.util.find_spec("juliacall") is None:
        return f"juliacall (PySR's Julia bridge) is not installed: {hint}"
    exe = os.environ.get("PYTHON_JULIAPKG_EXE")
    if not (shutil.which("julia") or (exe and os.path.isfile(exe))):
        return f"no Julia executable found (PySR would try to download one): {hint}"
    return None


def fit(backend: str, X: np.ndarray, y: np.ndarray, names: list[str], settings: SRSettings) -> list[str]:
    """The backend's Pareto front as infix formulas over ``names`` (simplest first)."""
    if backend == "operon":
        return _fit_operon(X, y, names, settings)
    if backend == "pysr":
        return _fit_pysr(X, y, names, settings)
    raise SymmpoError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def _fit_operon(X: np.ndarray, y: np.ndarray, names: list[str], s: SRSettings) -> list[str]:
    try:
        from pyoperon.sklearn import SymbolicRegressor
    except ImportError as err:
        raise BackendUnavailable("--backend operon needs pyoperon: pip install pyoperon") from err
    reg = SymbolicRegressor(
        allowed_symbols=OPERON_SYMBOLS,
        objectives=["r2", "length"],
        population_size=s.population,
        pool_size=s.population,
        generations=s.generations,
        max_length=s.max_length,
        max_evaluations=s.population * s.generations * 20,
        optimizer_iterations=10,
        random_state=s.seed,
        n_threads=1,
        max_time=s.max_seconds,
    )
    reg.fit(X, y)
    front = sorted(reg.pareto_front_, key=lambda m: (m["length"], m["mean_squared_error"]))
    return [reg.get_model_string(m["tree"], 12, names) for m in front]


def _fit_pysr(X: np.ndarray, y: np.ndarray, names: list[str], s: SRSettings) -> list[str]:
    problem = pysr_problem()
    if problem:
        raise BackendUnavailable(problem)
    from pysr import PySRRegressor  # only reached with Julia present

    reg = PySRRegressor(
        binary_operators=[p.infix for p in REGRESSION.values() if p.arity == 2],
        unary_operators=[p.name for p in REGRESSION.values() if p.arity == 1],
        niterations=max(1, s.generations // 10),
        populations=8,
        population_size=max(20, s.population // 8),
        maxsize=s.max_length,
        random_state=s.seed,
        deterministic=True,
        parallelism="serial",
        timeout_in_seconds=s.max_seconds,
        progress=False,
        verbosity=0,
    )
    reg.fit(X, y, variable_names=names)
    eqs = reg.equations_.sort_values("complexity")
    return [str(e) for e in eqs["equation"]]
