"""Every named objective equals an independent, hand-written reference of its published formula.

References follow TRL's DPOTrainer / CPOTrainer / ORPOTrainer code paths (tsallis: the MPO formula with
the Tsallis mirror map), written with plain torch and no symmpo code. Inputs are summed log-probs; the
'mean' losses divide by lengths as TRL's length-averaged variants do.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from symmpo import Objective
from symmpo.errors import ObjectiveError
from symmpo.objective import named


def _ratios(pc, pr, rc, rr):
    return (pc - pr) - (rc - rr)


def ref_dpo(pc, pr, rc, rr, lc, lr, beta):
    return -F.logsigmoid(beta * _ratios(pc, pr, rc, rr))


def ref_hinge(pc, pr, rc, rr, lc, lr, beta):
    return torch.relu(1 - beta * _ratios(pc, pr, rc, rr))


def ref_ipo(pc, pr, rc, rr, lc, lr, beta):
    logits = _ratios(pc / lc, pr / lr, rc / lc, rr / lr)
    return (logits - 1 / (2 * beta)) ** 2


def ref_cdpo(pc, pr, rc, rr, lc, lr, beta, eps):
    logits = _ratios(pc, pr, rc, rr)
    return -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps


def ref_rdpo(pc, pr, rc, rr, lc, lr, beta, eps):
    logits = _ratios(pc, pr, rc, rr)
    return (-F.logsigmoid(beta * logits) * (1 - eps) + F.logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)


def ref_simpo(pc, pr, rc, rr, lc, lr, beta, gamma):
    # TRL CPOTrainer, loss_type="simpo", label_smoothing=0: logits = margin - gamma/beta
    logits = (pc / lc - pr / lr) - gamma / beta
    return -F.logsigmoid(beta * logits)


def ref_orpo(pc, pr, rc, rr, lc, lr, lam):
    mc, mr = pc / lc, pr / lr
    log_odds = (mc - mr) - (torch.log1p(-torch.exp(mc)) - torch.log1p(-torch.exp(mr)))
    nll = -mc
    return nll - lam * F.logsigmoid(log_odds)


def ref_discopop(pc, pr, rc, rr, lc, lr, beta, tau_d):
    logits = beta * _ratios(pc, pr, rc, rr)
    mod = torch.sigmoid(logits / tau_d)
    return -F.logsigmoid(logits) * (1 - mod) + torch.exp(-logits) * mod


def ref_tsallis(pc, pr, rc, rr, lc, lr, beta, q):
    def phi(logp):
        return (torch.exp(logp) ** (q - 1) - 1) / (q - 1)

    z = beta * ((phi(pc / lc) - phi(rc / lc)) - (phi(pr / lr) - phi(rr / lr)))
    return -F.logsigmoid(z)


def ref_exo(pc, pr, rc, rr, lc, lr, beta, eps):
    # EXO-pref (Ji et al. 2024, Eq. 16) for two responses: KL(softmax(beta * log-ratios) || (1 - eps, eps))
    q = torch.softmax(beta * torch.stack([pc - rc, pr - rr]), 0)
    p = torch.tensor([1 - eps, eps], dtype=pc.dtype)[:, None]
    return (q * (torch.log(q) - torch.log(p))).sum(0)


def ref_dpo_norm(pc, pr, rc, rr, lc, lr, beta):
    return -F.logsigmoid(beta * _ratios(pc / lc, pr / lr, rc / lc, rr / lr))


def ref_rpo(pc, pr, rc, rr, lc, lr, beta, rpo_alpha):
    # Pang et al. 2024: DPO plus the length-normalized NLL of the chosen response
    return -F.logsigmoid(beta * _ratios(pc, pr, rc, rr)) - rpo_alpha * pc / lc


def ref_cpo(pc, pr, rc, rr, lc, lr, beta, cpo_alpha):
    # Xu et al. 2024 (CPOTrainer loss_type="sigmoid"): no reference, summed log-probs, plus the chosen NLL
    return -F.logsigmoid(beta * (pc - pr)) - cpo_alpha * pc / lc


def ref_sft_chosen(pc, pr, rc, rr, lc, lr):
    return -pc / lc


CASES = [
    ("dpo", {"beta": 0.1}, ref_dpo),
    ("dpo", {"beta": 0.5}, ref_dpo),
    ("hinge", {"beta": 0.1}, ref_hinge),
    ("ipo", {"beta": 0.1}, ref_ipo),
    ("ipo", {"beta": 0.7}, ref_ipo),
    ("cdpo", {"beta": 0.1, "eps": 0.2}, ref_cdpo),
    ("rdpo", {"beta": 0.1, "eps": 0.2}, ref_rdpo),
    ("simpo", {"beta": 2.0, "gamma": 0.5}, ref_simpo),
    ("simpo", {"beta": 2.5, "gamma": 1.4}, ref_simpo),
    ("orpo", {"lam": 0.1}, ref_orpo),
    ("orpo", {"lam": 0.5}, ref_orpo),
    ("discopop", {"beta": 0.1, "tau_d": 0.05}, ref_discopop),
    ("tsallis", {"beta": 0.1, "q": 0.5}, ref_tsallis),
    ("tsallis", {"beta": 0.3, "q": 0.8}, ref_tsallis),
    ("exo", {"beta": 0.1, "eps": 1e-3}, ref_exo),
    ("exo", {"beta": 0.7, "eps": 0.3}, ref_exo),
    ("dpo_norm", {"beta": 0.1}, ref_dpo_norm),
    ("dpo_norm", {"beta": 3.0}, ref_dpo_norm),
    ("rpo", {"beta": 0.1, "rpo_alpha": 1.0}, ref_rpo),
    ("rpo", {"beta": 0.5, "rpo_alpha": 0.2}, ref_rpo),
    ("cpo", {"beta": 0.1, "cpo_alpha": 1.0}, ref_cpo),
    ("cpo", {"beta": 0.4, "cpo_alpha": 0.3}, ref_cpo),
    ("sft_chosen", {}, ref_sft_chosen),
]


def _inputs(seed: int, n: int = 64, extreme: bool = False, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    lengths_c = torch.randint(1, 50, (n,), generator=g).to(dtype)
    lengths_r = torch.randint(1, 50, (n,), generator=g).to(dtype)
    if extreme:
        # summed log-probs spanning -1e4 .. -1e-8 (log-uniform magnitudes)
        mags = 10 ** (torch.rand(4, n, generator=g, dtype=dtype) * 12 - 8)
        logps = -mags
    else:
        logps = -torch.rand(4, n, generator=g, dtype=dtype) * 40 - 1e-3
    return [x.clone().requires_grad_(True) for x in logps], lengths_c, lengths_r


def _check(name, params, ref, seed, extreme, dtype=torch.float64, rtol=1e-6, atol=1e-9):
    obj = Objective.named(name, **params)
    (pc, pr, rc, rr), lc, lr = _inputs(seed, extreme=extreme, dtype=dtype)
    ours = obj.loss(pc, pr, rc, rr, lc, lr)
    (pc2, pr2, rc2, rr2) = [x.detach().clone().requires_grad_(True) for x in (pc, pr, rc, rr)]
    theirs = ref(pc2, pr2, rc2, rr2, lc, lr, **params)
    assert ours.shape == (pc.shape[0],)
    assert torch.isfinite(ours).all(), f"{name}: non-finite loss"
    mask = torch.isfinite(theirs)
    if name == "tsallis":
        # the safe exp clamps its argument at EXP_MAX (docs/symbolic.md): compare where p**(q-1) is unclamped
        from symmpo.symbolic.primitives import EXP_MAX

        mean_logps = torch.stack([pc / lc, pr / lr, rc / lc, rr / lr]).detach()
        mask &= ((1 - params["q"]) * mean_logps.abs() <= EXP_MAX).all(0)
    # where the reference itself overflows (discopop's exp(-z), orpo's log1p(-exp(~0))) only ours must be finite
    assert mask.float().mean() > 0.3
    torch.testing.assert_close(ours[mask], theirs[mask], rtol=rtol, atol=atol)
    g_ours = torch.autograd.grad(ours[mask].sum(), (pc, pr, rc, rr), allow_unused=True)
    g_ref = torch.autograd.grad(theirs[mask].sum(), (pc2, pr2, rc2, rr2), allow_unused=True)
    for a, b in zip(g_ours, g_ref, strict=True):
        if b is None:
            assert a is None or torch.all(a == 0)
            continue
        assert torch.isfinite(a).all()
        ok = torch.isfinite(b)
        torch.testing.assert_close(a[ok], b[ok], rtol=rtol * 10, atol=atol * 10)


@pytest.mark.parametrize("name,params,ref", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("seed", [0, 1])
def test_named_equals_reference(name, params, ref, seed):
    _check(name, params, ref, seed, extreme=False)


@pytest.mark.parametrize("name,params,ref", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_named_equals_reference_extreme_logps(name, params, ref):
    _check(name, params, ref, seed=7, extreme=True)


@pytest.mark.parametrize("name", ["dpo", "ipo", "simpo", "orpo", "discopop", "exo", "cpo"])
def test_named_float32_matches(name):
    ref = {c[0]: c for c in CASES}[name]
    _check(name, ref[1], ref[2], seed=3, extreme=False, dtype=torch.float32, rtol=1e-4, atol=1e-5)


def test_extreme_points_are_finite_everywhere():
    """At log-probs -1e4 and -1e-8 every named loss (plain baselines too) and its gradient stay finite
    (float32)."""
    vals = torch.tensor([-1e4, -1e-8, -1e4, -1e-8, -3.0], dtype=torch.float32)
    combos = torch.cartesian_prod(vals, vals, vals, vals).T
    for name in named.names():
        xs = [c.clone().requires_grad_(True) for c in combos]
        lengths = torch.ones_like(combos[0])
        loss = Objective.named(name).loss(*xs, lengths, lengths)
        assert torch.isfinite(loss).all(), name
        for gr in torch.autograd.grad(loss.sum(), xs, allow_unused=True):
            assert gr is None or torch.isfinite(gr).all(), name


def test_lengths_required_when_needed():
    x = torch.zeros(3) - 1
    with pytest.raises(ObjectiveError, match="needs chosen_lengths"):
        Objective.named("ipo").loss(x, x, x, x)
    with pytest.raises(ObjectiveError, match="imitation"):
        Objective.from_components(w_sft=0.5).loss(x, x, x, x)
    assert not Objective.named("dpo").needs_lengths
    Objective.named("dpo").loss(x, x, x, x)


def test_unknown_name_and_parameter():
    with pytest.raises(ObjectiveError, match="known: dpo"):
        Objective.named("nope")
    with pytest.raises(ObjectiveError, match="no parameter 'gamma'"):
        Objective.named("dpo", gamma=1.0)
    with pytest.raises(ObjectiveError, match="eps"):
        Objective.named("rdpo", eps=0.6)


def test_progress_as_tensor_and_float():
    obj = Objective.from_components(w_po="tau", w_sft="1 - tau", reduce="mean")
    (pc, pr, rc, rr), lc, lr = _inputs(0, n=8)
    a = obj.loss(pc, pr, rc, rr, lc, lr, progress=0.25)
    b = obj.loss(pc, pr, rc, rr, lc, lr, progress=torch.tensor(0.25, dtype=torch.float64))
    torch.testing.assert_close(a, b)
    dpo = Objective.named("dpo").loss(pc / lc, pr / lr, rc / lc, rr / lr)
    torch.testing.assert_close(a, 0.25 * dpo + 0.75 * (-pc / lc))
