"""Grammars: shipped ones load, bad ones name the faulty rule, samples are valid, finite and reproducible."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symmpo import Objective
from symmpo.errors import GrammarError
from symmpo.objective import annotate_objective, check_objective, sample_objective
from symmpo.symbolic.expr import get_at, replace_at
from symmpo.symbolic.grammar import Grammar, shipped_grammars

ROOT = Path(__file__).resolve().parents[1]
GRAMMARS = {name: Grammar.load(name) for name in ("mirror", "ta_mirror")}


def test_shipped_grammars_are_the_top_level_folder():
    """One copy in the tree: names resolve to grammars/ (a wheel gets the same files; test_packaging)."""
    assert not (ROOT / "symmpo" / "grammars").exists()
    assert Path(str(shipped_grammars())) == ROOT / "grammars"
    for name in GRAMMARS:
        assert Grammar.load(ROOT / "grammars" / f"{name}.yaml").start == GRAMMARS[name].start


def _mirror_dict():
    return yaml.safe_load((ROOT / "grammars" / "mirror.yaml").read_text())


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["nonterminals"]["PHI"]["rules"].append("frobnicate(p)"), "PHI rule 8 'frobnicate(p)'"),
        (
            lambda d: d["nonterminals"]["PHI"]["rules"].append("-log(p)"),
            "PHI rule 8 '-log(p)' cannot guarantee",
        ),
        (lambda d: d["nonterminals"]["PHI"]["rules"].append("-1/p"), "PHI rule 8 '-1/p' cannot guarantee"),
        (lambda d: d["nonterminals"]["PHI"]["rules"].append("p"), "no -inf limit"),
        (lambda d: d["nonterminals"]["G"]["rules"].append("-(Z - M)**2"), "G rule 8"),
        (lambda d: d["nonterminals"]["WSFT"]["rules"].append("tau - 0.5"), "WSFT rule 3"),
        (
            lambda d: d["nonterminals"].update({"X": {"var": "p", "type": "any", "rules": ["p"]}}),
            "X unreachable",
        ),
        (
            lambda d: d["nonterminals"]["INC"]["rules"].__setitem__(slice(None), ["INC + p"]),
            "INC is unproductive",
        ),
        (lambda d: d["nonterminals"]["PHI"]["rules"].append("log(p) + Z"), "Z is a function of z"),
        (lambda d: d["start"].__setitem__("g", "PHI"), "start.g = PHI must be a function of z"),
        (lambda d: d["nonterminals"]["K"].__setitem__("constant", "complex"), "constant type"),
    ],
)
def test_bad_grammar_names_the_rule(edit, message):
    d = copy.deepcopy(_mirror_dict())
    edit(d)
    with pytest.raises(GrammarError) as err:
        Grammar.from_dict(d, "bad.yaml")
    assert message in str(err.value)


def test_unknown_shipped_name():
    with pytest.raises(GrammarError, match="shipped: mirror, mirror_token, ta_mirror"):
        Grammar.load("nope")


def test_sampling_reproducible():
    g = GRAMMARS["mirror"]
    a = [sample_objective(g, np.random.default_rng(5)) for _ in range(3)]
    b = [sample_objective(g, np.random.default_rng(5)) for _ in range(3)]
    assert [o.to_dict() for o in a] == [o.to_dict() for o in b]


LOGPS = torch.tensor([-1e4, -3e3, -100.0, -5.0, -1.0, -1e-3, -1e-8], dtype=torch.float32)


def _finite_everywhere(obj: Objective, progress: float) -> None:
    combos = torch.cartesian_prod(LOGPS, LOGPS, LOGPS, LOGPS).T
    xs = [c.clone().requires_grad_(True) for c in combos]
    lengths = torch.ones_like(combos[0])
    loss = obj.loss(*xs, lengths, lengths, progress=progress)
    assert torch.isfinite(loss).all(), obj
    grads = torch.autograd.grad(loss.sum(), xs, allow_unused=True)
    for gr in grads:
        assert gr is None or torch.isfinite(gr).all(), obj


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(sorted(GRAMMARS)), progress=st.floats(0, 1))
def test_every_sample_valid_and_finite(seed, name, progress):
    obj = sample_objective(GRAMMARS[name], np.random.default_rng(seed))
    for comp, verdict in check_objective(obj).items():
        assert verdict.valid, f"{comp}: {verdict.summary()}\n{obj}"
    _finite_everywhere(obj, progress)
    # the file format round-trips exactly (same key, same loss)
    back = Objective.from_dict(obj.to_dict())
    assert back.canonical_key() == obj.canonical_key()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_subtree_regrowth_stays_typed(seed):
    """GP hook: replace a random tagged subtree by a fresh expansion of its non-terminal -> still valid."""
    g = GRAMMARS["ta_mirror"]
    rng = np.random.default_rng(seed)
    obj = sample_objective(g, rng)
    comp = ["phi_inv", "g", "w_sft"][int(rng.integers(3))]
    tree = obj.components[comp]
    positions = g.positions(tree)
    assert positions and positions[0][0] == ()  # the root is tagged with the start non-terminal
    path, nt = positions[int(rng.integers(len(positions)))]
    assert get_at(tree, path).nt == nt
    new = replace_at(tree, path, g.expand(nt, rng, max_depth=3))
    child = obj.with_components(**{comp: new})
    assert check_objective(child)[comp].valid
    _finite_everywhere(child, 0.5)


def test_annotate_recovers_tags_of_loaded_objective():
    g = GRAMMARS["mirror"]
    obj = sample_objective(g, np.random.default_rng(3))
    loaded = Objective.from_dict(obj.to_dict())
    assert all(s.nt is None for s in [loaded.components["phi_inv"]])
    tagged = annotate_objective(g, loaded)
    assert tagged.components["phi_inv"].nt == "PHI"
    assert g.positions(tagged.components["g"], "G")
    with pytest.raises(GrammarError, match="not derivable"):
        annotate_objective(g, Objective.from_components(phi_inv="log(p) + p**2"))


def test_depth_limit_respected():
    from symmpo.symbolic.expr import depth

    g = GRAMMARS["mirror"]
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert depth(g.expand("PHI", rng, max_depth=4)) <= 4
