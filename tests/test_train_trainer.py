"""The PO trainer on a synthetic dataset: population = single runs, plain-PyTorch equivalence, guard, determinism."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from symmpo.errors import SymmpoError
from symmpo.train import TrainConfig, train_population
from symmpo.train.policy import PolicyPopulation, make_batch, response_logps
from symmpo.train.reference import get_reference
from symmpo.train.testing import Constant, HandDPO, HandIPO, InfGrad, NaNAfter, Raises, synthetic_dataset

CFG = TrainConfig.preset("tiny", steps=12, lr=1e-3, clip_grad_norm=0.5)


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    ds = synthetic_dataset()
    return ds, get_reference(ds, 0, CFG, use_cache=False)


def _params(pop: PolicyPopulation, i: int) -> list[torch.Tensor]:
    return [p[i].detach().clone() for p in pop.params]


def test_population_equals_single(setup):
    ds, ref = setup
    # 6 members: more than MEMBER_CHUNK, so the chunked pass is compared against single runs too
    objs = [
        HandDPO(0.1),
        HandIPO(0.5),
        HandDPO(1.0, sft_weight=1.0),
        HandDPO(0.05),
        HandIPO(2.0),
        HandDPO(0.3),
    ]
    _, pop = train_population(objs, ds, ref, CFG, seed=3, return_policy=True)
    for i, obj in enumerate(objs):
        _, single = train_population([obj], ds, ref, CFG, seed=3, return_policy=True)
        for a, b in zip(_params(pop, i), _params(single, 0), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_matches_plain_pytorch(setup):
    """P=1 through stacked params + hand-written Adam equals nn.Sequential + torch.optim.Adam + clip_grad_norm_."""
    ds, ref = setup
    obj = HandDPO(0.5)
    _, single = train_population([obj], ds, ref, CFG, seed=1, return_policy=True)

    layers = []
    ps = ref.policy.params
    for k in range(0, len(ps), 2):
        lin = nn.Linear(ps[k].shape[1], ps[k].shape[2])
        with torch.no_grad():
            lin.weight.copy_(ps[k][0].T)
            lin.bias.copy_(ps[k + 1][0, 0])
        layers += [lin, nn.ReLU()]
    net = nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(net.parameters(), lr=CFG.lr, betas=CFG.adam_betas, eps=CFG.adam_eps)
    rng = np.random.default_rng(1)
    k_bins, a_dim = ds.n_bins, ds.act_dim
    for step in range(CFG.steps):
        idx = rng.integers(0, ds.n_pairs, size=CFG.batch_size)

        # padded, unpacked computation: an independent path to the same log-probs
        def side(obs, act, lens, idx=idx):
            x = (torch.as_tensor(obs[idx]) - ref.policy.obs_mean) / ref.policy.obs_std
            logp = torch.log_softmax(net(x).view(len(idx), ds.horizon, a_dim, k_bins), -1)
            lp = logp.gather(-1, torch.as_tensor(act[idx]).unsqueeze(-1)).squeeze(-1).sum(-1)
            mask = torch.arange(ds.horizon)[None] < torch.as_tensor(lens[idx])[:, None]
            return (lp * mask).sum(1), torch.as_tensor(lens[idx], dtype=torch.float32)

        pc, lc = side(ds.obs_chosen, ds.act_chosen, ds.len_chosen)
        pr, lr = side(ds.obs_rejected, ds.act_rejected, ds.len_rejected)
        loss = obj.loss(
            pc, pr, ref.logps_chosen[idx], ref.logps_rejected[idx], lc, lr, step / CFG.steps
        ).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CFG.clip_grad_norm)
        opt.step()
    lins = [m for m in net if isinstance(m, nn.Linear)]
    for k, lin in enumerate(lins):
        torch.testing.assert_close(single.params[2 * k][0], lin.weight.detach().T, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(single.params[2 * k + 1][0, 0], lin.bias.detach(), rtol=1e-4, atol=1e-5)


def test_reference_logps_match_batches(setup):
    ds, ref = setup
    idx = np.array([3, 0, 7, 7])
    c, r = response_logps(ref.policy, make_batch(ref.chosen, ref.rejected, idx))
    torch.testing.assert_close(c[0], ref.logps_chosen[idx])
    torch.testing.assert_close(r[0], ref.logps_rejected[idx])
    assert (ref.logps_chosen < 0).all()


def test_nonfinite_guard(setup):
    ds, ref = setup
    objs = [HandDPO(0.1), NaNAfter(0.5), InfGrad(), Raises(), HandIPO(0.5)]
    res, pop = train_population(
        objs,
        ds,
        ref,
        CFG,
        seed=0,
        return_policy=True,
        evaluator=lambda p: (np.ones((p.size, 2)), np.ones((p.size, 2))),
    )
    alive = {r.name: r.alive for r in res}
    assert alive == {
        "hand_dpo": True,
        "nan_after": False,
        "inf_grad": False,
        "raises": False,
        "hand_ipo": True,
    }
    by = {r.name: r for r in res}
    assert "non-finite loss" in by["nan_after"].reason and by["nan_after"].died_at_step == CFG.steps // 2
    assert "gradient" in by["inf_grad"].reason
    assert "ValueError" in by["raises"].reason
    assert all(r.score == -math.inf for r in res if not r.alive)
    assert by["hand_dpo"].score == 1.0
    for p in pop.params:
        assert torch.isfinite(p).all()
    # survivors are unaffected by the dead members
    _, solo = train_population([HandDPO(0.1)], ds, ref, CFG, seed=0, return_policy=True)
    for a, b in zip(_params(pop, 0), _params(solo, 0), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_deterministic(setup):
    ds, ref = setup
    a = train_population([HandDPO(), HandIPO()], ds, ref, CFG, seed=5)
    b = train_population([HandDPO(), HandIPO()], ds, ref, CFG, seed=5)
    c = train_population([HandDPO(), HandIPO()], ds, ref, CFG, seed=6)
    assert [r.loss_curve for r in a] == [r.loss_curve for r in b]
    assert [r.loss_curve for r in a] != [r.loss_curve for r in c]


def test_reference_cache(tmp_path):
    ds = synthetic_dataset(n_pairs=16, seed=2)
    r1 = get_reference(ds, 0, CFG, cache_dir=tmp_path)
    files = list((tmp_path / "reference").glob("*.pt"))
    assert len(files) == 1
    r2 = get_reference(ds, 0, CFG, cache_dir=tmp_path)
    assert r1.key == r2.key
    torch.testing.assert_close(r1.logps_chosen, r2.logps_chosen, rtol=0, atol=0)
    for a, b in zip(r1.policy.params, r2.policy.params, strict=True):
        assert torch.equal(a, b)
    assert get_reference(ds, 1, CFG, cache_dir=tmp_path).key != r1.key
    files[0].write_bytes(b"garbage")  # corrupted entry: retrained, not a crash
    r3 = get_reference(ds, 0, CFG, cache_dir=tmp_path)
    torch.testing.assert_close(r3.logps_chosen, r1.logps_chosen)


def test_constant_loss_trains_nothing(setup):
    ds, ref = setup
    res, pop = train_population([Constant()], ds, ref, CFG, seed=0, return_policy=True)
    assert res[0].alive
    for a, b in zip(pop.params, ref.policy.params, strict=True):
        assert torch.equal(a, b)


def test_chosen_log_prob_equals_log_softmax_with_its_gradient():
    """The trainer's fused log π(a|s) (one backward pass over the logits) is log_softmax + gather, value and
    gradient, including logits large enough to overflow a naive exp."""
    from symmpo.train.policy import ChosenLogProb

    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(2, 5, 3, 7, generator=gen, dtype=torch.float64) * 30).requires_grad_(True)
    idx = torch.randint(0, 7, (1, 5, 3, 1), generator=gen).expand(2, -1, -1, 1)
    expected = torch.log_softmax(logits, -1).gather(-1, idx).squeeze(-1)
    torch.testing.assert_close(ChosenLogProb.apply(logits, idx), expected)
    assert torch.autograd.gradcheck(lambda x: ChosenLogProb.apply(x, idx), (logits,))


def test_compiled_log_prob_pass_trains_like_eager(setup):
    """``compile=True`` (inductor) trains the same policies up to float rounding; off, the configuration and the
    hashes that key stored results are what they were before the field existed."""
    ds, ref = setup
    assert "compile" not in CFG.to_dict() and TrainConfig.from_dict(CFG.to_dict()) == CFG
    compiled = dataclasses.replace(CFG, compile=True)
    assert TrainConfig.from_dict(compiled.to_dict()) == compiled
    objs = [HandDPO(0.1), HandIPO(0.5), HandDPO(0.3)]  # three members: a chunk of two and a chunk of one
    (eager_res, eager), (comp_res, comp) = (
        train_population(objs, ds, ref, c, 0, return_policy=True) for c in (CFG, compiled)
    )
    for a, b in zip(eager.params, comp.params, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    moved = max(
        float((a - b).abs().max()) for a, b in zip(eager.params, ref.policy.replicate(3).params, strict=True)
    )
    assert moved > 1e-3  # training moved the policy, so the comparison above says something
    for a, b in zip(eager_res, comp_res, strict=True):
        assert b.loss_curve[-1][1] == pytest.approx(a.loss_curve[-1][1], rel=1e-4, abs=1e-5)
    with pytest.raises(SymmpoError, match="compile must be true or false"):
        dataclasses.replace(CFG, compile="yes")
