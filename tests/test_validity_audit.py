"""The validity checker's three verdicts on every case of the audit, and what the search admits.

Each invalid case was confirmed non-monotone / negative / non-integrable at explicit points; the checker
must never call it proved and must reject it with a witness. Each valid case must be accepted.
"""

from __future__ import annotations

import dataclasses
import math

import mpmath
import numpy as np
import pytest

from symmpo import Objective
from symmpo.cli import main
from symmpo.objective import check_objective, sample_objective
from symmpo.symbolic import expr as E
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.tree_checks import check_formula

# (formula, component, the property that fails, where the audit confirmed it)
AUDIT_INVALID = [
    ("1e-10*sin(z)", "g", "non-decreasing", "scaled-down violation vs an absolute tolerance"),
    ("1e-10*(p - p**2)", "psi", "non-decreasing", "scaled-down violation vs an absolute tolerance"),
    ("log(p) - exp(-1e10*(p - 0.3)**2)", "phi_inv", "strictly increasing", "a dip between grid points"),
    ("1 - 2*exp(-1e10*(tau - 0.12345)**2)", "w_sft", "non-negative", "reaches -1 between grid points"),
    ("log(p)*(1 + 0.001*sin(log(p)))", "phi_inv", "strictly increasing", "decreases for log p < -1000"),
    ("z - 0.0005*z**2", "g", "non-decreasing", "decreases for z > 1000"),
    ("log(p) + 1/(1 - p)**2", "phi_inv", "integrable", "not integrable at p -> 1"),
]
AUDIT_VALID = [
    ("0.01*(log(p) + tanh(p) + sigmoid(p) + sqrt(p))", "phi_inv"),  # rejected by an absolute limit threshold
]


def _mp(formula: str, var: str, x: float) -> mpmath.mpf:
    """The formula at one point in 50-digit arithmetic, independently of the checker (via sympy)."""
    import sympy

    from symmpo.symbolic.parser import parse
    from symmpo.symbolic.printing import symbol, to_sympy

    expr = to_sympy(parse(formula))
    return sympy.N(expr.subs(symbol(var), sympy.Float(x, 50)), 50)


@pytest.mark.parametrize("formula,component,prop,why", AUDIT_INVALID)
def test_audit_invalid_cases_are_rejected_with_a_witness(formula, component, prop, why):
    v = check_formula(formula, component)
    assert not v.valid and v.status == "invalid", v.summary()
    failed = [p for p in v.failures() if prop in p.name]
    assert failed, v.summary()
    assert all(p.status != "proved" for p in v.properties if prop in p.name)
    w = failed[0].witness
    assert w, v.summary()
    var = {"g": "z", "w_sft": "tau"}.get(component, "p")
    if prop in ("non-decreasing", "strictly increasing") and isinstance(w[var][0], float):
        a, b = w[var]
        assert a < b and _mp(formula, var, b) < _mp(formula, var, a), (why, w)  # re-checked independently
    if prop == "non-negative":
        assert _mp(formula, var, w[var][0]) < 0, (why, w)


@pytest.mark.parametrize("formula,component", AUDIT_VALID)
def test_audit_valid_cases_are_accepted(formula, component):
    v = check_formula(formula, component)
    assert v.valid, v.summary()


def test_cli_exit_status_follows_the_verdict(capsys):
    for formula, component, _, _ in AUDIT_INVALID:
        assert main(["check", formula, "--component", component]) == 1
        out = capsys.readouterr().out
        assert "invalid" in out and "=> invalid" in out
    assert main(["check", AUDIT_VALID[0][0], "--component", "phi_inv"]) == 0
    assert "=> valid (not disproved)" in capsys.readouterr().out
    assert main(["check", "log(p)", "--component", "phi_inv"]) == 0
    assert "=> valid (proved)" in capsys.readouterr().out


def test_three_verdicts_say_how_they_were_reached():
    proved = check_formula("log(p)", "phi_inv")
    assert proved.status == "proved" and all(p.method == "symbolic" for p in proved.properties)
    numeric = check_formula("log(p) + 0.1*tanh(5*(p - 0.5))", "phi_inv")
    assert numeric.status == "not disproved"
    mono = numeric.properties[0]
    assert mono.method == "numeric" and "points of p in [e^-1e4, 1)" in mono.reason  # domain and resolution
    bad = check_formula("-log(p)", "phi_inv")
    assert bad.status == "invalid" and bad.failures()[0].witness


def test_float64_rounding_is_not_a_violation():
    """Cancellation noise (far above an absolute 1e-9 tolerance) must not be mistaken for a decrease."""
    assert check_formula("(z + 1e6) - 1e6 + 1e-3*z", "g").valid
    assert check_formula("(log(p) + 1e6) - 1e6", "phi_inv").properties[0].ok


def test_overflow_is_not_a_violation_but_a_pole_is():
    v = check_formula("-p**(-0.5) + 0*log(p)", "phi_inv")  # float64 overflows for log p < -1418
    assert v.properties[0].ok, v.summary()
    assert not check_formula("log(p) + 1/(p - 0.5)", "phi_inv").valid
    assert not check_formula("log(p) + log(p - 0.5)", "phi_inv").valid  # undefined below p = 1/2


def test_grammar_samples_with_small_positive_constants_are_accepted():
    """The audit: with positive constants at 0.02 (inside their range), 1 in 100 samples was rejected."""
    g = Grammar.load("mirror")
    rng = np.random.default_rng(0)

    def small(c: E.Const) -> E.Const:
        return E.Const(math.log(0.02), c.kind, c.name, c.nt) if c.kind == "positive" else c

    for _ in range(100):
        obj = sample_objective(g, rng)
        comps = {k: E.map_consts(v, small) for k, v in obj.components.items()}
        if obj.psi_tied:
            comps.pop("psi")
        child = obj.with_components(**comps)
        for comp, v in check_objective(child).items():  # no grammar: the checker on its own
            assert v.valid, f"{comp}: {v.summary()}"


def test_grammar_derivations_are_proved_by_typing():
    g = Grammar.load("ta_mirror")
    obj = sample_objective(g, np.random.default_rng(5))
    verdicts = check_objective(obj, g)
    assert all(v.status == "proved" for v in verdicts.values())
    assert all(p.method == "grammar" for v in verdicts.values() for p in v.properties)
    outside = Objective.from_components(phi_inv="log(p) + p**2", g="logsigmoid(z)")
    v = check_objective(outside, g)["phi_inv"]  # not derivable: checked instead
    assert v.valid and {p.method for p in v.properties} <= {"symbolic", "numeric"}


def test_search_admits_only_proved_or_not_disproved_and_says_which():
    from symmpo.search.space import ObjectiveSpace

    space = ObjectiveSpace.load("mirror")
    rng = np.random.default_rng(2)
    sample = space.sample(rng)
    assert space.check(sample) is None and space.validity(sample)["status"] == "proved"
    user = Objective.from_components(phi_inv="log(p) + 0.1*tanh(5*(p - 0.5))", g="logsigmoid(z)")
    assert space.check(user) is None
    info = space.validity(user)
    assert info["status"] == "not disproved" and info["components"]["phi_inv"] == "not disproved"
    for formula, component, _, _ in AUDIT_INVALID:
        if component in ("phi_inv", "psi", "g"):
            kw = {component: formula} if component != "psi" else {"psi": formula}
            bad = Objective.from_components(**{"phi_inv": "log(p)", "g": "logsigmoid(z)", **kw})
            assert space.check(bad) is not None, formula


def test_hall_of_fame_entries_carry_the_verdict(tmp_path):
    """The real space in the evolution loop with a cheap fitness: hall-of-fame entries say proved / not
    disproved."""
    import yaml

    from symmpo.search.config import SearchConfig
    from symmpo.search.evolve import Evolution
    from symmpo.search.executors import InlineExecutor
    from symmpo.search.rundir import RunDir
    from symmpo.search.space import ObjectiveSpace

    def job(j):
        out = []
        for d in j.objectives:
            obj = Objective.from_dict(d)
            out.append({"score": -float(obj.size()), "reason": None, "seconds": 0.0})
        return out

    config = SearchConfig.from_preset("tiny").override(generations=2, population=4)
    config = dataclasses.replace(config, cmaes=dataclasses.replace(config.cmaes, enabled=False))
    run = RunDir.create(tmp_path / "run", config)
    evo = Evolution(
        config, run, ObjectiveSpace.from_config(config), InlineExecutor(), job_fn=job, progress=False
    )
    for _ in range(2):
        evo.step()
    entries = yaml.safe_load((run.path / "hall_of_fame.yaml").read_text())["hall_of_fame"]
    assert entries and all(e["validity"]["status"] in ("proved", "not disproved") for e in entries)


def test_the_checker_knows_every_primitive():
    """Every registry primitive has exact float64 and 50-digit forms, and the checker evaluates with them."""
    import torch

    from symmpo.symbolic.expr import Const, Node, Var
    from symmpo.symbolic.numeval import evaluate_exact, mp_value
    from symmpo.symbolic.primitives import REGISTRY

    x = torch.tensor([0.25, 0.5], dtype=torch.float64)
    for name, prim in REGISTRY.items():
        assert callable(prim.exact_fn) and callable(prim.mp_fn), name
        args = (Var("z"),) if prim.arity == 1 else (Var("z"), Const(2.0))
        tree = Node(name, args)
        want = prim.exact_fn(x) if prim.arity == 1 else prim.exact_fn(x, torch.full_like(x, 2.0))
        torch.testing.assert_close(evaluate_exact(tree, x, "z", 0.0), want, rtol=0, atol=0, equal_nan=True)
        value, _ = mp_value(tree, "z", 0.25, 0.0)
        if value is not None:
            assert float(value) == pytest.approx(want[0].item(), rel=1e-12, abs=1e-15), name
