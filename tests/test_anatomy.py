"""What a loss is made of (symmpo.objective.anatomy): features read off the trees, shapes not sizes."""

from __future__ import annotations

from symmpo.objective.anatomy import anatomy, anatomy_lines, common_lines, terms
from symmpo.objective.core import Objective
from symmpo.symbolic.parser import parse


def test_named_losses_read_as_their_definitions():
    dpo = anatomy(Objective.named("dpo"))
    assert dpo == {
        "reduce": "sequence, sum",
        "reference": "yes",
        "phi_inv": "log(p)",
        "psi": "= φ⁻¹",
        "g": "logsigmoid(z)",
        "w_po": "1",
        "w_sft": "0",
    }
    orpo = anatomy(Objective.named("orpo"))
    assert orpo["reference"] == "no" and orpo["psi"] == "0"
    assert orpo["phi_inv"] == "log(p / (1 - p))"  # a fixed number stays a number
    assert anatomy(Objective.named("simpo"))["g"] == "logsigmoid(z - c)"  # a fitted one is c
    assert anatomy(Objective.named("rpo"))["w_sft"] == "c"


def test_terms_drop_constant_factors_and_constant_terms_and_sort():
    def tree(text: str):
        return parse(text, constants={"c0": ("positive", 0.7), "c1": ("positive", 0.3)})

    assert terms(tree("c0 * log(p)")) == "log(p)"  # rescales β: the same shape as log(p)
    assert terms(tree("c0 + p ** (-c1)")) == "p**-c"  # a constant term cancels in the margin
    assert terms(tree("sqrt(p) - 2 * log(p) + p")) == terms(tree("log(p) + p + sqrt(p)"))
    assert terms(tree("c0")) == "0"


def test_common_lines_count_who_shares_each_feature():
    objs = {
        "a": Objective.named("dpo"),
        "b": Objective.named("rpo"),
        "c": Objective.named("orpo"),
    }
    lines = anatomy_lines(objs)
    assert lines[0].startswith("| objective | reduce | π_ref | φ⁻¹ terms |")
    assert any(x.startswith("| a | `sequence, sum` | `yes` | `log(p)` |") and "β 0.1" in x for x in lines)
    common = common_lines({k: anatomy(v) for k, v in objs.items()})
    assert "| φ⁻¹ terms | `log(p)` | 2 of 3 | `log(p / (1 - p))` |" in common
    assert "| PO weight | `1` | 3 of 3 | – |" in common
    assert "| has an imitation term | `yes` | 2 of 3 | `no` |" in common  # RPO and ORPO
    assert "| reads τ (TA-MPO) | `no` | 3 of 3 | – |" in common
    assert anatomy_lines({}) == []
    assert not any("most common" in x for x in anatomy_lines({"a": objs["a"]}))  # nothing to share with one


def test_neural_components_read_as_neural():
    from symmpo.neural.components import NeuralArch

    arch = NeuralArch(psi="tied")
    feats = anatomy(arch.objective(arch.init(0)))
    assert feats["phi_inv"] == "neural" and feats["g"] == "neural" and feats["psi"] == "= φ⁻¹"


def test_closest_named_says_which_known_loss_a_winner_is_and_what_differs():
    from symmpo.objective.anatomy import closest_named

    def obj(g: str, w_sft: str, **kw) -> Objective:
        consts = {"c0": ("positive", 0.55), "c1": ("positive", 0.76), "c2": ("positive", 0.14)}
        comps = {
            k: parse(v, constants=consts) for k, v in (("phi_inv", "c0 * log(p)"), ("g", g), ("w_sft", w_sft))
        }
        return Objective(
            comps["phi_inv"], comps["phi_inv"], comps["g"], w_sft=comps["w_sft"], psi_tied=True, **kw
        )

    # search 1's winner: RPO with a margin
    assert closest_named(obj("logsigmoid(z - c1)", "c2")) == [
        "rpo (g `logsigmoid(z - c)`, not `logsigmoid(z)`)"
    ]
    # a hinge with a fitted margin is TRL's hinge (margin 1) in shape: the fixed 1 and a fitted c match
    hinge = closest_named(obj("-max(0, c1 - z)", "c2"))
    assert hinge[0] == "hinge (imitation (NLL) weight `c`, not `0`)" and hinge[1].startswith("rpo (g ")
    # a margin on DPO without an anchor differs from six named g's in g alone: the most alike text comes first,
    # at most three are listed and the rest counted
    margin = closest_named(obj("logsigmoid(z - c1)", "0"))
    assert margin[0] == "dpo (g `logsigmoid(z - c)`, not `logsigmoid(z)`)"
    assert len(margin) == 4 and margin[-1] == "3 more named losses differ in as many features"
    for name in ("dpo", "orpo", "simpo", "cpo", "tsallis"):  # every named loss is its own closest
        assert f"{name} (same shape)" in closest_named(Objective.named(name))
    # far from everything: three or more features differ from every named loss
    phi = parse("-p**(-0.5)")
    far = Objective(phi, phi, parse("-(exp(-z) + z**2)"), w_sft=parse("0.3"), reduce="mean", psi_tied=True)
    assert closest_named(far) == ["none"]
    lines = anatomy_lines({"w": obj("logsigmoid(z - c1)", "c2")})
    assert "- w: rpo (g `logsigmoid(z - c)`, not `logsigmoid(z)`)" in lines
