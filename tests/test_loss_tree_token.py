"""granularity=token through the one loss tree: ``Objective.loss``, ``Objective.parts``, the torch export and the
TRL export (``mpo_loss``, ``mpo_parts``) agree to the last bit on per-token batches, token masks given as
lengths or as masks; per-token DPO (and every member whose φ⁻¹ = ψ = log) is the sequence loss; ORPO's
per-token form is the formula docs/formulation.md states; the LaTeX, the file format, the canonical key, the
grammar and the search space's check carry the granularity; the trainer hands per-token log-probs to token
objectives and pruning judges their terms on per-token probabilities.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import trl_tiny
from test_loss_tree import _load, _same
from test_objective_exports_meta import TA

from symmpo import Objective
from symmpo.errors import ObjectiveError
from symmpo.integrations.trl_export import trl_source
from symmpo.objective import sample_objective
from symmpo.objective.loss import tree_expr
from symmpo.objective.loss_tree import LEN_C, LEN_R, PARTS, Ref
from symmpo.symbolic.expr import Const, Expr, Node, Var
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.primitives import REGISTRY


def _objectives() -> list[Objective]:
    named = ["dpo", "ipo", "orpo", "simpo", "rpo", "cpo", "tsallis"]
    out = [Objective.named(n).with_granularity("token") for n in named] + [TA.with_granularity("token")]
    out.append(  # a constant psi that does not cancel with reduce=sum: -beta c (|y+| - |y-|)
        Objective.from_components("log(p) + 0.5*sqrt(p)", "0.3", name="const-psi", granularity="token")
    )
    out.append(  # degenerate: g reads no margin, so the tree broadcasts the preference term itself
        Objective.from_components(
            "log(p)", "phi_inv", "-0.7 + 0*z", w_po="1 + tau", name="flat-g", granularity="token"
        )
    )
    rng = np.random.default_rng(21)
    grammar = Grammar.load("mirror_token")
    out += [sample_objective(grammar, rng).renamed(f"sample-{i}") for i in range(4)]
    return out


OBJECTIVES = _objectives()
B, T = 10, 9


def _batches():
    """Per-token batches [B, T] of token-sized log-probs (p_t in about (0.05, 1)), float64 and float32, with
    token masks as lengths (one empty response) or as masks with a prompt before the completion (TRL's)."""
    for seed, dtype, as_mask in (
        (0, torch.float64, False),
        (1, torch.float64, True),
        (2, torch.float32, False),
    ):
        g = torch.Generator().manual_seed(seed)
        logps = [-(torch.rand(B, T, generator=g, dtype=torch.float64) * 3 + 1e-3).to(dtype) for _ in range(4)]
        lengths = [torch.randint(0, T + 1, (B,), generator=g) for _ in range(2)]
        lengths[0][0] = 0
        masks = [torch.arange(T) < n.unsqueeze(-1) for n in lengths]
        if as_mask:  # the completion starts after a prompt of 0..2 tokens
            shift = torch.randint(0, 3, (B,), generator=g)
            masks = [
                (torch.arange(T) >= shift.unsqueeze(-1)) & (torch.arange(T) < (shift + n).unsqueeze(-1))
                for n in lengths
            ]
        for x, m in zip(logps, masks + masks, strict=True):
            x[~m] = 0.0  # padding as TRL leaves it: log-prob 0 (p = 1, a pole of log(1 - p))
        given = masks if as_mask else [n.to(dtype) for n in lengths]
        yield seed, (*logps, *given), masks


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    trl_tiny.require_trl()
    d = tmp_path_factory.mktemp("token_exports")
    return {
        o.name: (
            _load(o.to_torch_source(), d / f"t{i}.py", f"token_t{i}"),
            _load(trl_source(o), d / f"x{i}.py", f"token_x{i}"),
        )
        for i, o in enumerate(OBJECTIVES)
    }


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_token_loss_parts_and_exports_agree(obj, exports):
    exported, trl = exports[obj.name]
    assert obj.tree().lengths == (LEN_C, LEN_R) and obj.needs_lengths
    for (_, args, _), tau in itertools.product(_batches(), (0.0, 0.6)):
        want = obj.loss(*args, progress=tau)
        assert want.shape == (B,) and torch.isfinite(want).all()
        parts = obj.parts(*args, progress=tau)
        assert list(parts) == list(PARTS)
        _same(parts["preference"] + parts["imitation"], want)
        _same(exported.loss(*args, tau), want)
        _same(trl.mpo_loss(*args, tau), want)
        got = trl.mpo_parts(*args, tau)
        for key in PARTS:
            _same(got[key], parts[key])
        pc, pr, rc, rr, lc, lr = args
        for c, r in (
            (lc, None),
            (None, lr),
            (None, None),
        ):  # both masks are required, the same error everywhere
            messages = set()
            for fn, error in (
                (obj.loss, ObjectiveError),
                (obj.parts, ObjectiveError),
                (exported.loss, ValueError),
                (trl.mpo_loss, ValueError),
            ):
                with pytest.raises(error) as err:
                    fn(pc, pr, rc, rr, c, r, tau)
                messages.add(str(err.value))
            assert len(messages) == 1 and "granularity=token" in messages.pop()


@pytest.mark.parametrize("name", ["dpo", "rpo", "cpo", "simpo", "dpo_norm", "hinge"])
def test_token_form_of_a_log_member_is_the_sequence_loss(name):
    """φ⁻¹ = ψ = log (or ψ = 0): the sum (or mean) of per-token log-ratios is the sequence log-ratio, so the
    per-token loss is the sequence loss with the summed log-probs and token counts, value and gradient."""
    seq = Objective.named(name)
    tok = seq.with_granularity("token")
    for _, args, masks in _batches():
        logps = [a.detach().clone().requires_grad_(True) for a in args[:4]]
        mc, mr = masks
        summed = [(x * m).sum(-1) for x, m in zip(logps, (mc, mr, mc, mr), strict=True)]
        n = [m.sum(-1).to(logps[0].dtype) for m in masks]
        a = tok.loss(*logps, *args[4:], progress=0.3)
        b = seq.loss(*summed, *n, progress=0.3)
        tol = {"rtol": 1e-5, "atol": 1e-5} if a.dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
        torch.testing.assert_close(a, b, **tol)
        ga = torch.autograd.grad(a.sum(), logps[:2], retain_graph=True)
        gb = torch.autograd.grad(b.sum(), logps[:2])
        for x, y in zip(ga, gb, strict=True):
            torch.testing.assert_close(x, y, **tol)


def test_token_orpo_is_the_stated_formula():
    """ORPO per token (docs/formulation.md): -λ log σ(mean_t logit p_t(y+) - mean_t logit p_t(y-)) + NLL."""
    lam = 0.25
    obj = Objective.named("orpo", lam=lam).with_granularity("token")
    for _, (pc, pr, rc, rr, lc, lr), (mc, mr) in _batches():
        dt = pc.dtype

        def odds(x, m):
            p = torch.exp(torch.where(m, x, -1.0).double())
            return ((torch.log(p) - torch.log1p(-p)) * m).sum(-1) / m.sum(-1).clamp(min=1)

        nll = -(pc.double() * mc).sum(-1) / mc.sum(-1).clamp(min=1)
        want = -lam * torch.nn.functional.logsigmoid(odds(pc, mc) - odds(pr, mr)) + nll
        tol = 1e-5 if dt == torch.float32 else 1e-12
        torch.testing.assert_close(obj.loss(pc, pr, rc, rr, lc, lr).double(), want, rtol=tol, atol=tol)


def _evaluate(e: Expr, env: dict) -> torch.Tensor | float:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Var):
        return env[e.name]
    assert isinstance(e, Node)
    return REGISTRY[e.op].torch_fn(*(_evaluate(a, env) for a in e.args))


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_token_latex_prints_the_tree(obj):
    """The printed loss over S(y⁺), S(y⁻) and NLL, with S(y) the per-token φ⁻¹ − ψ summed (or averaged) as the
    where-clause says, evaluated from the component curves, is the loss."""
    tree = obj.tree()
    tex = obj.latex()
    assert r"S(y) = " in tex and r"\varphi^{-1}(p) = " in tex and "S(y^+)" in tex
    assert (r"\frac{1}{|y|}" in tex) == (obj.reduce == "mean")
    _, (pc, pr, rc, rr, lc, lr), (mc, mr) = next(_batches())
    tau = 0.35
    ratio = tree.step("token_ratio_chosen").term
    has_psi = getattr(ratio, "op", None) == "sub"
    assert (r"\psi(p) = " in tex) == has_psi

    def s(x, ref, m):
        phi = torch.as_tensor(obj.curve("phi_inv", torch.exp(torch.where(m, x, -1.0)).numpy(), tau))
        psi = torch.as_tensor(obj.curve("psi", torch.exp(torch.where(m, ref, -1.0)).numpy(), tau))
        total = ((phi - psi if has_psi else phi) * m).sum(-1)
        return total / m.sum(-1).clamp(min=1) if obj.reduce == "mean" else total

    env = {
        "Sc": s(pc, rc, mc),
        "Sr": s(pr, rr, mr),
        "NLL": -(pc * mc).sum(-1) / mc.sum(-1).clamp(min=1),
        "tau": torch.tensor(tau, dtype=torch.float64),
    }
    value = _evaluate(tree_expr(obj, tree, Ref("preference")), env) + _evaluate(
        tree_expr(obj, tree, Ref("imitation")), env
    )
    value = torch.as_tensor(value, dtype=torch.float64).expand(B)
    torch.testing.assert_close(value, obj.loss(pc, pr, rc, rr, lc, lr, tau), rtol=1e-9, atol=1e-9)


def test_granularity_in_files_keys_grammar_and_search_space(tmp_path):
    seq = Objective.named("dpo")
    tok = seq.with_granularity("token")
    assert tok != seq and tok.canonical_key() != seq.canonical_key()
    assert "granularity" not in seq.to_dict() and tok.to_dict()["granularity"] == "token"
    assert Objective.from_dict(tok.to_dict()) == tok and Objective.from_dict(seq.to_dict()) == seq
    assert "granularity='token'" in repr(tok) and "granularity" not in repr(seq)
    with pytest.raises(ObjectiveError, match="granularity must be 'sequence' or 'token'"):
        Objective.from_dict({**seq.to_dict(), "granularity": "word"})
    path = tmp_path / "tok.yaml"
    tok.save(path)
    assert Objective.load(path) == tok

    from symmpo.search.space import ObjectiveSpace

    rng = np.random.default_rng(0)
    token_grammar, seq_grammar = Grammar.load("mirror_token"), Grammar.load("mirror")
    assert token_grammar.granularity_choices == ("token",) and seq_grammar.granularity_choices == (
        "sequence",
    )
    drawn = [sample_objective(token_grammar, rng) for _ in range(5)]
    assert all(o.granularity == "token" for o in drawn)
    token_space, seq_space = (
        ObjectiveSpace(token_grammar, "mirror_token"),
        ObjectiveSpace(seq_grammar, "mirror"),
    )
    assert token_space.check(drawn[0]) is None
    assert "granularity token is not one of the grammar's (sequence)" in seq_space.check(drawn[0])
    assert "granularity sequence" in token_space.check(drawn[0].with_granularity("sequence"))
    for o in drawn:  # checkpoints keep it; variation keeps it
        assert token_space.from_dict(token_space.to_dict(o)) == o
        child = token_space.mutate(o, "jitter", rng)
        assert child is None or child.granularity == "token"
    assert "granularity=token" in token_space.formula(drawn[0])
    assert token_space.structure_key(tok) != token_space.structure_key(seq)
    # a sequence grammar draws exactly what it drew before the option existed (no extra random number)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert sample_objective(seq_grammar, a) == sample_objective(seq_grammar, b)
    assert a.random() == b.random()


def test_trainer_hands_token_objectives_per_token_logps_and_pruning_sees_token_probabilities():
    from symmpo.objective.prune import prune, sample_of, shares
    from symmpo.train import TrainConfig, train_population
    from symmpo.train.occurring import occurring_sketches
    from symmpo.train.policy import make_batch, response_logps, response_token_logps
    from symmpo.train.reference import get_reference
    from symmpo.train.testing import synthetic_dataset

    torch.set_num_threads(1)
    cfg = TrainConfig.preset("tiny", steps=8, lr=1e-2)
    ds = synthetic_dataset(n_pairs=24, act_dim=3)
    ref = get_reference(ds, 0, cfg, use_cache=False)
    # per-token log-probs: one per action dimension of each step, summing to the response's log-prob
    batch = make_batch(ref.chosen, ref.rejected, np.arange(6))
    tok = response_token_logps(ref.policy, batch)
    c, r = response_logps(ref.policy, batch)
    torch.testing.assert_close(tok.chosen.sum(-1), c, rtol=0, atol=1e-4)
    torch.testing.assert_close(tok.rejected.sum(-1), r, rtol=0, atol=1e-4)
    assert torch.equal(tok.len_chosen, batch.len_chosen * 3)
    # per-token DPO trains as sequence DPO (the same loss), alone or next to other members
    dpo = Objective.named("dpo")
    phi = "log(p) + c0*p"
    seq_p = Objective.from_components(phi, constants={"c0": ("positive", 2.0)})
    tok_p = seq_p.with_granularity("token")
    objs = [dpo, dpo.with_granularity("token"), seq_p, tok_p]
    results, policy = train_population(objs, ds, ref, cfg, 0, return_policy=True)
    assert all(res.alive for res in results)
    for a in policy.params:
        torch.testing.assert_close(a[0], a[1], rtol=1e-4, atol=1e-6)
    assert (
        max((a[2] - a[3]).abs().max() for a in policy.params) > 1e-4
    )  # c0*p acts per token, not per response
    sketches = occurring_sketches(policy, ref, objs, [True] * 4)
    assert (
        sketches[1][0] > sketches[0][0] and sketches[1][-1] <= 0.0
    )  # per-token log-probs are far less negative
    assert sketches[3][len(sketches[3]) // 2] > -5.0  # p_t of token size: median above e^-5
    # c0*p acts far more on the token probabilities than on the (short, synthetic) responses' ones, and is kept
    seq_share = shares(seq_p.components["phi_inv"], sample_of([sketches[2]]))[1][1]  # (path, share) of c0*p
    tok_share = shares(tok_p.components["phi_inv"], sample_of([sketches[3]]))[1][1]
    assert tok_share > 0.1 > 10 * seq_share
    assert prune(tok_p, sample_of([sketches[3]])).pruned == 0
