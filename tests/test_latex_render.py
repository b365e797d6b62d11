"""LaTeX renders in matplotlib's mathtext (what the project's plots use) for every named loss and 200
grammar samples, with constant products folded and no double superscripts."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.mathtext import MathTextParser

from symmpo import Objective
from symmpo.objective import NAMED, sample_objective
from symmpo.symbolic.grammar import Grammar

PARSER = MathTextParser("path")


def render(tex: str) -> None:
    """Raises ValueError when mathtext cannot parse the formula."""
    PARSER.parse(f"${tex}$")


@pytest.mark.parametrize("name", list(NAMED))
def test_named_losses_render(name):
    obj = Objective.named(name)
    render(obj.latex())
    for tex in obj.component_latex().values():
        render(tex)


@pytest.mark.slow  # ~25 s: mathtext parses a long formula in ~0.1 s
def test_two_hundred_grammar_samples_render():
    rendered = 0
    for name in ("mirror", "ta_mirror"):
        g = Grammar.load(name)
        rng = np.random.default_rng(12)
        for _ in range(100):
            obj = sample_objective(g, rng)
            render(obj.latex())
            for tex in obj.component_latex().values():
                render(tex)
            rendered += 1
    assert rendered == 200


def test_powers_of_superscripted_bases_are_bracketed():
    obj = Objective.from_components(phi_inv="log(p) + exp(p)**2 + square(p)**3 + (p**2)**0.5", g="z")
    tex = obj.component_latex()["phi_inv"]
    assert "}^{" not in tex.replace(r"\right)^{", "")  # every superscript on a superscript is bracketed
    render(tex)
    render(obj.latex())
    small = Objective.from_components(phi_inv="log(p) + 1.5e-7**p", g="z")
    render(small.latex())


def test_mean_reduction_uses_frac_not_tfrac():
    tex = Objective.named("simpo").latex()
    assert r"\tfrac" not in tex and r"\frac{1}{|y|}" in tex


def test_constant_products_are_folded():
    obj = Objective.from_components(phi_inv="log(p)", g="0.1225*(0.1966*logsigmoid(z))")
    assert obj.component_latex()["g"] == r"0.02408 \, \log\sigma\left(z\right)"
    assert "0.1225" not in obj.latex() and "0.02408" in obj.latex()
    neg = Objective.from_components(phi_inv="log(p)", g="-(2*(3*z))/4")
    assert neg.component_latex()["g"] == r"-1.5 \, z"
    tsallis = Objective.named("tsallis").latex()
    assert "- -" not in tsallis and "+ -" not in tsallis
