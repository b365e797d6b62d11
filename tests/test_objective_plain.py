"""Plain baselines (TRL losses outside MPO) and the one baseline table: lookup, refusals, export, the default
set with its scale parameters, and training every baseline in the population trainer.

Equality with TRL's own loss code is in tests/test_integrations_trl_named.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from symmpo import Objective
from symmpo.cli import main
from symmpo.errors import ObjectiveError
from symmpo.objective import named, named_or_file
from symmpo.objective.plain import PLAIN, PlainObjective
from symmpo.studies.members import BASELINES, fmt_scale, scale_param, sweep_members
from symmpo.studies.tables import plain_lines
from symmpo.train import TrainConfig, train_population
from symmpo.train.reference import get_reference
from symmpo.train.testing import synthetic_dataset

# what item 4 of issue 18 asks for, in TRL's names where TRL has one
TRL_NAMES = [
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot", "aot_unpaired",
    "apo_zero", "apo_down", "discopop", "sigmoid_norm", "rpo", "cpo", "simpo", "orpo", "sft_chosen", "cdpo",
    "tsallis",
]  # fmt: skip


def _inputs(n: int = 16, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [-torch.rand(n, generator=g, dtype=torch.float64) * 30 for _ in range(4)]


# ----- the table ----------------------------------------------------------------------------------------------
def test_one_lookup_finds_both_kinds():
    for alias, key in [
        ("NCA_pair", "nca"),
        ("bco_pair", "bco"),
        ("sppo_hard", "sppo"),
        ("sigmoid_norm", "dpo_norm"),
    ]:
        assert named.lookup(alias) == key
    assert named.lookup("exo_pair") == "exo" and not named.is_plain("exo")
    assert named.lookup("nope") is None
    obj = Objective.named("nca_pair", beta=0.3)
    assert isinstance(obj, PlainObjective) and obj.name == "nca" and obj.beta == 0.3
    assert isinstance(named_or_file("aot"), PlainObjective)
    assert isinstance(named_or_file("sigmoid"), Objective)
    assert named.names() == [*named.NAMED, *PLAIN]


def test_plain_parameters_are_checked():
    with pytest.raises(ObjectiveError, match="nca has no parameter 'eps'; its parameters: beta"):
        Objective.named("nca", eps=0.1)
    with pytest.raises(ObjectiveError, match="must be > 0"):
        Objective.named("sppo", beta=0.0)
    with pytest.raises(ObjectiveError, match="sft_chosen has no parameter 'beta'; its parameters: none"):
        Objective.named("sft_chosen", beta=1.0)
    with pytest.raises(ObjectiveError, match="outside the MPO family.*no MPO recipe"):
        named.recipe("aot")
    with pytest.raises(ObjectiveError, match="plain, outside MPO: nca"):
        Objective.named("nope")


def test_default_baselines_cover_trl_and_carry_a_scale_parameter():
    assert BASELINES == tuple(n for n in named.names() if named.entry(n).baseline)
    assert {named.lookup(n) for n in TRL_NAMES} <= set(BASELINES)
    assert len(BASELINES) == len(set(BASELINES)) == 21
    for name in BASELINES:
        key = scale_param(name)
        assert key is None or key in named.defaults(name), name
    assert scale_param("orpo") == "lam" and scale_param("sft_chosen") is None
    assert scale_param("aot") == "beta" and scale_param("rpo") == "beta"
    members = sweep_members(["sft_chosen", "orpo"], factors=(0.5, 1.0), lrs=(1e-4, 1e-3))
    assert [m.label for m in members] == [
        "sft_chosen[lr=0.0001]",
        "sft_chosen[lr=0.001]",
        "orpo[lam=0.05,lr=0.0001]",
        "orpo[lam=0.05,lr=0.001]",
        "orpo[lam=0.1,lr=0.0001]",
        "orpo[lam=0.1,lr=0.001]",
    ]
    assert fmt_scale("sft_chosen", {}) == "-" and fmt_scale("nca", {"beta": 0.5}) == "beta=0.5"
    assert plain_lines(["sft", "dpo"]) == []
    assert "outside the MPO family" in plain_lines(["sft", "dpo", "aot"])[1]


# ----- a plain objective --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_refuses_what_needs_a_formula(name, tmp_path):
    obj = Objective.named(name)
    assert not obj.is_symbolic and obj.constant_specs() == {} and obj.canonical_key().startswith("plain:")
    for call in (
        obj.latex,
        obj.to_dict,
        obj.formulas,
        lambda: obj.components,
        lambda: obj.save(tmp_path / "o"),
    ):
        with pytest.raises(
            ObjectiveError, match=f"^{name} is a plain baseline, outside the MPO family"
        ) as err:
            call()
        assert "\n" not in str(err.value)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", list(PLAIN))
def test_torch_source_runs_standalone(name):
    obj = Objective.named(name, beta=0.3)
    xs = _inputs()
    for fname in ("loss", name):  # a function name equal to the loss function's own must not shadow it
        ns: dict = {}
        exec(compile(obj.to_torch_source(fname), "<export>", "exec"), ns)
        torch.testing.assert_close(ns[fname](*xs), obj.loss(*xs), rtol=0, atol=0)
    with pytest.raises(ObjectiveError, match="not a Python identifier"):
        obj.to_torch_source("not valid")


def test_parts_log_trl_rewards():
    obj = Objective.named("apo_zero", beta=0.2)
    pc, pr, rc, rr = _inputs()
    parts = obj.parts(pc, pr, rc, rr)
    torch.testing.assert_close(parts["preference"], obj.loss(pc, pr, rc, rr))
    torch.testing.assert_close(parts["reward_chosen"], 0.2 * (pc - rc))
    torch.testing.assert_close(parts["margin"], parts["reward_chosen"] - parts["reward_rejected"])
    assert torch.all(parts["imitation"] == 0)


def test_aot_is_a_batch_loss():
    """aot pairs margins by rank: its mean ignores the order of the pairs, its elements are not per pair,
    and with one pair per batch it is DPO."""
    pc, pr, rc, rr = _inputs()
    aot, dpo = Objective.named("aot"), Objective.named("dpo")
    perm = torch.randperm(pc.shape[0], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(aot.loss(pc, pr, rc, rr).mean(), aot.loss(pc[perm], pr[perm], rc, rr).mean())
    assert not torch.allclose(aot.loss(pc, pr, rc, rr), dpo.loss(pc, pr, rc, rr))
    for i in range(3):
        one = [x[i : i + 1] for x in (pc, pr, rc, rr)]
        torch.testing.assert_close(aot.loss(*one), dpo.loss(*one))
        unpaired = -F.logsigmoid(0.1 * ((one[0] - one[2]) - (one[1] - one[3])))
        torch.testing.assert_close(Objective.named("aot_unpaired").loss(*one), unpaired)


# ----- the command line ---------------------------------------------------------------------------------------
def test_show_and_export_plain(capsys):
    assert main(["show", "nca_pair"]) == 0
    out = capsys.readouterr().out
    assert "objective nca: plain baseline, outside the MPO family" in out and "nca_pair" in out
    assert "beta=0.1" in out and "phi_inv" not in out
    assert main(["show", "aot", "--latex"]) == 2
    err = capsys.readouterr().err.strip()
    assert "aot is a plain baseline, outside the MPO family" in err and "\n" not in err
    for fmt in ("latex", "trl"):
        assert main(["export", "sppo", "--format", fmt]) == 2
        assert "outside the MPO family" in capsys.readouterr().err
    assert main(["export", "sppo", "--format", "torch"]) == 0
    assert "def loss(policy_chosen_logps" in capsys.readouterr().out
    assert main(["show", "sft_chosen"]) == 0
    out = capsys.readouterr().out
    assert "w_po(tau)  = 0" in out and "w_sft(tau) = 1" in out


# ----- training ----------------------------------------------------------------------------------------------
CFG = TrainConfig.preset("tiny", steps=2, lr=1e-3)


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    ds = synthetic_dataset(n_pairs=32)
    return ds, get_reference(ds, 0, CFG, use_cache=False)


def test_every_baseline_trains_two_steps(setup):
    ds, ref = setup
    objs = [Objective.named(n) for n in BASELINES]
    results, pop = train_population(objs, ds, ref, CFG, seed=0, names=BASELINES, return_policy=True)
    for i, r in enumerate(results):
        assert r.alive, f"{r.name}: {r.reason}"
        moved = any(not torch.equal(p[i], q[0]) for p, q in zip(pop.params, ref.policy.params, strict=True))
        assert moved, f"{r.name} did not change the policy"


def test_batch_losses_train_the_same_alone_and_in_a_population(setup):
    """aot sorts within its own member's minibatch: its run does not depend on the other members."""
    ds, ref = setup
    cfg = TrainConfig.preset("tiny", steps=4, lr=1e-3, batch_size=8)
    objs = [Objective.named(n) for n in ("dpo", "aot", "aot_unpaired", "sppo")]
    _, pop = train_population(objs, ds, ref, cfg, seed=2, return_policy=True)
    for i in (1, 2):
        _, alone = train_population([objs[i]], ds, ref, cfg, seed=2, return_policy=True)
        for a, b in zip(pop.params, alone.params, strict=True):
            torch.testing.assert_close(a[i], b[0], rtol=1e-5, atol=1e-6)
