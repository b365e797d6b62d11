"""Constant types carry the bounds their objective needs, and no optimizer step can leave them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symmpo import Objective
from symmpo.errors import SymmpoError
from symmpo.search.cmaes import ConstantSearch
from symmpo.symbolic.constants import interval, interval_kind, normalize_kind, to_raw, to_value


def test_rdpo_eps_stays_below_one_half_whatever_the_raw_value():
    obj = Objective.named("rdpo")
    assert obj.constant_specs()["eps"][0] == "interval(0, 0.5)"
    x = torch.linspace(-50.0, 0.0, 7, dtype=torch.float64)
    for raw in (-1e6, -700.0, -8.0, 0.0, 8.0, 700.0, 1e6):
        moved = obj.with_constant_vector([raw])
        eps = moved.constant_specs()["eps"][1]
        assert 0.0 < eps < 0.5
        loss = moved.loss(x, x - 3.0, x, x)
        assert torch.isfinite(loss).all()
        # the loss keeps rDPO's sign convention: a better margin never costs more
        assert bool((moved.loss(x, x - 3.0, x, x) <= moved.loss(x, x + 3.0, x, x)).all())


def test_cmaes_moves_raw_values_but_not_the_bounds():
    obj = Objective.named("rdpo")
    x0 = [*obj.constant_vector().tolist(), 0.0]  # the search also tunes log beta, as ObjectiveSpace does
    search = ConstantSearch("rdpo", {}, x0, sigma0=5.0, popsize=8, seed=0)
    for round_ in range(5):
        asked = search.ask(round_)
        eps = [obj.with_constant_vector(r[:1]).constant_specs()["eps"][1] for r in asked]
        assert all(0.0 < e < 0.5 for e in eps)
        search.tell([-abs(e - 0.49) for e in eps])  # pushes eps towards the bound


def test_interval_types_round_trip_through_files_and_search_storage(tmp_path):
    obj = Objective.named("rdpo", eps=0.3)
    obj.save(tmp_path / "r.yaml")
    back = Objective.load(tmp_path / "r.yaml")
    assert back == obj and back.constant_specs() == obj.constant_specs()
    from symmpo.search.space import tree_from_json, tree_to_json

    g = obj.components["g"]
    assert tree_from_json(tree_to_json(g)) == g


def test_interval_type_names_are_checked():
    assert normalize_kind("interval(0.0, .5)") == "interval(0, 0.5)" == interval_kind(0, 0.5)
    for bad in ["interval(1, 0)", "interval(0, inf)", "interval(0, 1e13)", "interval(a, b)", "interval(0)"]:
        with pytest.raises(ValueError):
            normalize_kind(bad)
    k = interval_kind(-2.0, 3.0)
    lo, hi = interval(k, 0.0)
    assert -2.0 < lo < hi < 3.0
    assert to_value(k, to_raw(k, 1.25)) == pytest.approx(1.25)
    with pytest.raises(ValueError, match=r"must be in \(-2, 3\)"):
        to_raw(k, 3.0)
    with pytest.raises(SymmpoError):
        Objective.from_components(g="logsigmoid(z) * c", constants={"c": ("interval(0, 0.5)", 0.7)})


def test_grammar_constants_may_be_intervals(tmp_path):
    import yaml

    from symmpo.objective import sample_objective
    from symmpo.symbolic.grammar import Grammar

    d = yaml.safe_load(open("grammars/mirror.yaml"))
    d["nonterminals"]["A"] = {"constant": "interval(0.1, 0.5)", "init": [0.2, 0.4]}
    f = tmp_path / "g.yaml"
    f.write_text(yaml.safe_dump(d))
    g = Grammar.load(f)
    rng = np.random.default_rng(0)
    seen = [c for _ in range(30) for t in sample_objective(g, rng).components.values() for c in _consts(t)]
    vals = [c.value for c in seen if c.kind.startswith("interval")]
    assert vals and all(0.1 < v < 0.5 for v in vals)


def _consts(tree):
    from symmpo.symbolic.expr import constants

    return constants(tree)
