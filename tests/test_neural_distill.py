"""Distillation recovers a known closed form from a network; formulas stay in the vocabulary; PySR fails cleanly."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from symmpo.cli import main
from symmpo.errors import FormulaError
from symmpo.neural import sr
from symmpo.neural.components import MonotoneNet, NeuralPhiInv
from symmpo.neural.distill import distill_component, drop_offset, evaluate_tree, formula_to_tree, tidy
from symmpo.symbolic.parser import parse
from symmpo.symbolic.tree_checks import check_tree

torch.set_num_threads(1)


def fit_network(target, hidden=(8,), steps=500, seed=0) -> NeuralPhiInv:
    """Regress a neural φ⁻¹ (a·log p + monotone m(p)) onto ``target(L)`` by Adam on a log + linear p grid."""
    net = MonotoneNet(hidden)
    theta0 = np.concatenate([[0.5413], net.init(np.random.default_rng(seed), out_raw=0.0)])
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    L = torch.log(
        torch.cat(
            [
                torch.logspace(-6, 0, 200, dtype=torch.float64),
                torch.linspace(0.01, 1, 200, dtype=torch.float64),
            ]
        )
    )
    y = target(L)
    opt = torch.optim.LBFGS(
        [theta],
        lr=1.0,
        max_iter=steps,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        pred = torch.nn.functional.softplus(theta[0]) * L + net.forward(
            net.unpack(theta[1:]), torch.exp(L), 0.0
        )
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    loss = float(closure().detach())
    assert loss < 1e-5, loss  # the network holds the function before we distil it
    return NeuralPhiInv(net, theta.detach().numpy())


def test_known_phi_inv_is_recovered_from_a_network():
    def target(L):
        return L + 0.5 * torch.exp(2 * L)  # log p + 0.5 p²

    comp = fit_network(target)
    fit = distill_component(
        comp.torch_fn,
        "phi_inv",
        False,
        "operon",
        sr.SRSettings(population=300, generations=60, max_length=20, seed=1),
    )
    assert fit.chosen.valid and fit.chosen.fidelity["r2"] >= 0.999
    assert fit.chosen.fidelity["score"] >= 0.999  # also on the linear grid, where 0.5 p² lives
    # equivalent to log p + 0.5 p², up to the additive constant that cancels in the margin
    p = np.concatenate([np.logspace(-8, 0, 400), np.linspace(0.01, 1, 200)])
    got = evaluate_tree(fit.tree, "phi_inv", np.log(p), np.zeros_like(p))
    diff = got - (np.log(p) + 0.5 * p**2)
    assert np.ptp(diff) < 0.01, fit.chosen.formula
    assert check_tree(fit.tree, "phi_inv").valid
    # it is a closed form of the expected shape, not a long approximation
    assert fit.chosen.complexity <= 12 and "log(p)" in fit.chosen.formula


def test_regression_strings_become_trees_only_through_the_restricted_parser():
    tree = formula_to_tree("((1.000000 * logp) + ((0.707107 * p) ^ 2)) + (-3.5)", "phi_inv")
    assert tree == parse("log(p) + (0.707107 * p)**2", ("p",))  # offset dropped, 1 * x folded
    g = formula_to_tree("(0.25 + (2.0 * (0.5 * lsz)))", "g")
    assert g == parse("1.0 * logsigmoid(z)", ("z",)) or g == parse("logsigmoid(z)", ("z",))
    for bad in ("__import__(p)", "frob(logp)", "logp.real", "3.0"):
        with pytest.raises(FormulaError):
            formula_to_tree(bad, "phi_inv")


def test_tidy_keeps_the_function():
    e = parse("2 + 1 * (0.5 * (3 * log(p)) + (1 + (2 + p**2))) + 3 * (p - 4)", ("p",))
    L = np.log(np.linspace(0.01, 1, 50))
    a = evaluate_tree(e, "phi_inv", L, np.zeros_like(L))
    b = evaluate_tree(tidy(e), "phi_inv", L, np.zeros_like(L))
    c = evaluate_tree(drop_offset(tidy(e)), "phi_inv", L, np.zeros_like(L))
    np.testing.assert_allclose(a, b, rtol=1e-12)
    assert np.ptp(a - c) < 1e-9 and abs(a[0] - c[0]) > 1  # only the offset differs


def test_pysr_backend_fails_with_one_clear_line_without_julia(tmp_path, capsys, monkeypatch):
    # a run directory is not even needed: the backend is checked first
    assert main(["distill", str(tmp_path), "--backend", "pysr"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--backend operon" in err and "Julia" in err
    assert "pysr" not in sys.modules and "juliacall" not in sys.modules  # nothing was imported (no download)


def test_pysr_check_names_the_missing_piece(monkeypatch):
    import importlib.util

    present = {"pysr", "juliacall"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name in present else None)
    monkeypatch.setattr(sr.shutil, "which", lambda name: None)
    monkeypatch.delenv("PYTHON_JULIAPKG_EXE", raising=False)
    assert "no Julia executable" in sr.pysr_problem()
    present.discard("juliacall")
    assert "juliacall" in sr.pysr_problem()
    present.clear()
    assert "PySR is not installed" in sr.pysr_problem()
    with pytest.raises(sr.BackendUnavailable):
        sr.fit("pysr", np.zeros((3, 1)), np.zeros(3), ["p"], sr.SRSettings())


def test_a_distilled_term_dead_on_the_occurring_log_probabilities_is_pruned():
    """Regression fits φ⁻¹ on p ∈ [1e-6, 1], where c·p acts; summed log-probabilities near −500 make it 0, so
    the printed loss drops it. On log-probabilities where it acts it stays."""
    import numpy as np

    from symmpo.neural.refit import prune_distilled
    from symmpo.objective import Objective
    from symmpo.objective.prune import sketch

    obj = Objective.from_components(phi_inv="0.58*log(p) + 0.16*p", g="logsigmoid(z)", beta=0.1, w_sft="0.3")
    long = {"t/0": sketch(np.linspace(-700.0, -40.0, 200)), "t/1": sketch(np.linspace(-600.0, -60.0, 200))}
    pruned, done = prune_distilled(obj, long)
    assert str(pruned.components["phi_inv"]) == str(
        Objective.from_components(phi_inv="0.58*log(p)", g="logsigmoid(z)").components["phi_inv"]
    )
    assert (done["terms"], done["pruned"], done["trainings"]) == (2, 1, ["t/0", "t/1"])
    assert pruned.components["w_sft"] == obj.components["w_sft"] and pruned.beta == obj.beta
    short = {"t/0": sketch(np.linspace(-3.0, -0.01, 200))}
    kept, done = prune_distilled(obj, short)
    assert done["pruned"] == 0 and str(kept.components["phi_inv"]) == str(obj.components["phi_inv"])
