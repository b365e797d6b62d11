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
