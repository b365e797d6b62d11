"""The validity checker gets the examples of docs/formulation.md right, with a reason per property."""

from __future__ import annotations

import pytest

from symmpo.errors import FormulaError
from symmpo.symbolic.tree_checks import check_formula

VALID_PHI = ["log(p)", "log(p/(1-p))", "log(p) + p**2", "-p**(-0.5)", "(p**(-0.5) - 1)/(-0.5)"]
INVALID_PHI = {
    "-1/p": "integrable",
    "p - 0.5*sin(10*p)": "strictly increasing",
    "-log(p)": "strictly increasing",
    "p": "-inf",
}
VALID_G = ["logsigmoid(z)", "-max(0, 1 - z)", "min(z, 1)"]
INVALID_G = ["-(z - 1)**2"]


@pytest.mark.parametrize("formula", VALID_PHI)
def test_valid_phi_inv(formula):
    v = check_formula(formula, "phi_inv")
    assert v.valid, v.summary()
    assert len(v.properties) == 3


@pytest.mark.parametrize("formula,broken", INVALID_PHI.items())
def test_invalid_phi_inv_names_the_property(formula, broken):
    v = check_formula(formula, "phi_inv")
    assert not v.valid
    assert any(broken in p.name for p in v.failures()), v.summary()


@pytest.mark.parametrize("formula", VALID_G)
def test_valid_g(formula):
    assert check_formula(formula, "g").valid


@pytest.mark.parametrize("formula", INVALID_G)
def test_invalid_g(formula):
    v = check_formula(formula, "g")
    assert not v.valid and "decreases" in v.failures()[0].reason


def test_psi_zero_or_nondecreasing():
    assert check_formula("0", "psi").valid
    assert check_formula("log(p)", "psi").valid
    assert check_formula("min(log(p), -1)", "psi").valid  # non-decreasing, not strict
    assert not check_formula("-p", "psi").valid


def test_tau_dependent_g_checked_for_every_tau():
    assert check_formula("(1 - tau)*logsigmoid(z) + tau*min(z, 1)", "g").valid
    assert not check_formula("(1 - 2*tau)*z", "g").valid  # decreasing once tau > 1/2


def test_weights_non_negative():
    assert check_formula("1 - tau", "w_sft").valid
    assert not check_formula("tau - 0.5", "w_po").valid


def test_unparseable_raises():
    with pytest.raises(FormulaError):
        check_formula("log(p", "phi_inv")
    with pytest.raises(FormulaError, match="unknown name 'z'"):
        check_formula("log(z)", "phi_inv")


def test_named_baselines_outside_the_class_are_flagged():
    """ipo, cdpo, discopop and exo have non-monotone g (the table's baselines need not be in the class)."""
    from symmpo import Objective
    from symmpo.objective import check_objective

    for name in ["dpo", "hinge", "rdpo", "simpo", "orpo", "tsallis", "dpo_norm", "rpo", "cpo", "sft_chosen"]:
        assert all(v.valid for v in check_objective(Objective.named(name)).values()), name
    for name in ["ipo", "cdpo", "discopop", "exo"]:
        verdicts = check_objective(Objective.named(name))
        assert not verdicts["g"].valid and verdicts["phi_inv"].valid, name
