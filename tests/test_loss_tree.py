"""One loss tree, four consumers: ``Objective.loss``, ``Objective.parts``, the standalone torch export and the
TRL export (``mpo_loss``, ``mpo_parts``) compute the same values on the same batches, require the same lengths
and raise the same errors without them; ``Objective.latex`` prints the same tree (its formula, evaluated,
is the loss).

The lengths convention (symmpo.objective.loss_tree): a loss requires exactly the lengths its tree reads,
both for reduce=mean, the chosen ones alone for an imitation term with reduce=sum; lengths it does not read
are ignored. The same agreement for granularity=token objectives (per-token log-probs and token masks) is in
``test_loss_tree_token.py``.
"""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
import torch
import trl_tiny
from test_objective_exports_meta import TA  # tau in g and both weights, reduce=mean, imitation, tied psi

from symmpo import Objective
from symmpo.errors import ObjectiveError
from symmpo.integrations.trl_export import trl_source
from symmpo.objective import sample_objective
from symmpo.objective.loss import tree_expr
from symmpo.objective.loss_tree import LEN_C, LEN_R, PARTS, Ref
from symmpo.symbolic.expr import Const, Expr, Node, Var
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.primitives import REGISTRY
from symmpo.symbolic.printing import latex
from symmpo.symbolic.tidy import tidy


def _objectives() -> list[Objective]:
    named = ["dpo", "ipo", "orpo", "simpo", "rpo", "cpo", "dpo_norm", "tsallis", "sft_chosen"]
    out = [Objective.named(n) for n in named] + [TA]
    out.append(  # sum-reduced imitation term that reads tau: needs the chosen lengths only
        Objective.from_components(
            "log(p)", None, "logsigmoid(z)", w_sft="0.5*(1 - tau)", beta=0.3, name="sum-sft"
        )
    )
    out.append(  # degenerate: g reads no margin, so the tree broadcasts the preference term itself
        Objective.from_components("log(p)", "phi_inv", "-0.7 + 0*z", w_po="1 + tau", name="flat-g")
    )
    rng = np.random.default_rng(20)
    grammar = Grammar.load("ta_mirror")
    out += [sample_objective(grammar, rng).renamed(f"sample-{i}") for i in range(4)]
    return out


OBJECTIVES = _objectives()


def _batches():
    """Random batches in float64 and float32, one with empty responses (length 0, summed log-prob 0)."""
    for seed, dtype in ((0, torch.float64), (1, torch.float64), (2, torch.float32)):
        g = torch.Generator().manual_seed(seed)
        logps = [-(torch.rand(12, generator=g, dtype=torch.float64) * 30 + 0.2).to(dtype) for _ in range(4)]
        lengths = [torch.randint(0, 25, (12,), generator=g).to(dtype) for _ in range(2)]
        empty = lengths[0] == 0
        logps[0][empty] = logps[2][empty] = 0.0
        empty = lengths[1] == 0
        logps[1][empty] = logps[3][empty] = 0.0
        yield seed, (*logps, *lengths)


def _load(source: str, path, name: str):
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def torch_exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch_exports")
    return {
        o.name: _load(o.to_torch_source(), d / f"t{i}.py", f"loss_tree_t{i}")
        for i, o in enumerate(OBJECTIVES)
    }


@pytest.fixture(scope="module")
def trl_exports(tmp_path_factory):
    trl_tiny.require_trl()  # the whole file imports trl (its trainer); the loss functions do not need it
    d = tmp_path_factory.mktemp("trl_exports")
    return {o.name: _load(trl_source(o), d / f"x{i}.py", f"loss_tree_x{i}") for i, o in enumerate(OBJECTIVES)}


def _same(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal to the last bit (the same steps in the same order); NaN where the other has NaN."""
    assert got.dtype == want.dtype and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


def _lengths_variants(obj: Objective, args):
    """(chosen_lengths, rejected_lengths, allowed) for every way of passing them."""
    *logps, lc, lr = args
    for c, r in itertools.product((lc, None), (lr, None)):
        given = {LEN_C: c is not None, LEN_R: r is not None}
        yield c, r, all(given[k] for k in obj.tree().lengths)


def _calls(obj, exported, trl, args, loss, margin):
    """name -> (call, the value it must equal): each consumer's loss, or its parts' margin."""
    return {
        "loss": (lambda: obj.loss(*args), loss),
        "parts": (lambda: obj.parts(*args)["margin"], margin),
        "torch": (lambda: exported.loss(*args), loss),
        "trl": (lambda: trl.mpo_loss(*args), loss),
        "trl parts": (lambda: trl.mpo_parts(*args)["margin"], margin),
    }


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_loss_parts_and_exports_agree(obj, torch_exports, trl_exports):
    exported, trl = torch_exports[obj.name], trl_exports[obj.name]
    for (_, args), tau in itertools.product(_batches(), (0.0, 0.35, 1.0)):
        pc, pr, rc, rr, lc, lr = args
        want = obj.loss(*args, progress=tau)
        parts = obj.parts(*args, progress=tau)
        assert list(parts) == list(PARTS)
        _same(parts["preference"] + parts["imitation"], want)
        _same(exported.loss(*args, tau), want)
        _same(trl.mpo_loss(*args, tau), want)
        got_parts = trl.mpo_parts(*args, tau)
        for key in PARTS:
            _same(got_parts[key], parts[key])
        # every way of passing lengths: the same values where allowed (unread lengths are ignored), the same
        # error everywhere else
        for c, r, allowed in _lengths_variants(obj, args):
            calls = _calls(obj, exported, trl, (pc, pr, rc, rr, c, r, tau), want, parts["margin"])
            if allowed:
                for fn, value in calls.values():
                    _same(fn(), value)
                continue
            messages = set()
            for where, (fn, _) in calls.items():
                error = ObjectiveError if where in ("loss", "parts") else ValueError
                with pytest.raises(error) as err:
                    fn()
                messages.add(str(err.value))
            assert len(messages) == 1, messages
            (message,) = messages
            assert message.startswith(f"objective {obj.name!r} needs chosen_lengths")


def test_lengths_convention():
    """Both lengths for reduce=mean, the chosen ones alone for an imitation term; none otherwise."""
    assert Objective.named("dpo").tree().lengths == () and not Objective.named("dpo").needs_lengths
    for name in ("ipo", "simpo", "dpo_norm", "orpo"):
        assert Objective.named(name).tree().lengths == (LEN_C, LEN_R), name
    for name in ("rpo", "cpo", "sft_chosen"):
        obj = Objective.named(name)
        assert obj.tree().lengths == (LEN_C,) and obj.needs_lengths, name
        assert "its imitation (NLL) term" in obj.tree().lengths_suffix
    assert "reduce=mean and its imitation (NLL) term" in Objective.named("orpo").tree().lengths_suffix


def _evaluate(e: Expr, env: dict[str, torch.Tensor]) -> torch.Tensor | float:
    """The tree through the registry's torch forms, constants as floats (as the compiler passes them)."""
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Var):
        return env[e.name]
    assert isinstance(e, Node)
    return REGISTRY[e.op].torch_fn(*(_evaluate(a, env) for a in e.args))


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_latex_prints_the_tree(obj):
    """latex() is the tree's preference and imitation steps printed; the formula it prints, evaluated on the
    probabilities it names, is the loss."""
    tree = obj.tree()
    preference, imitation = tree_expr(obj, tree, Ref("preference")), tree_expr(obj, tree, Ref("imitation"))
    tex = obj.latex()
    assert tex.startswith(rf"\ell = {latex(tidy(preference))}")
    assert (r"\mathrm{NLL}" in tex) == tree.imitation
    assert (r"\frac{1}{|y|}" in tex) == (obj.reduce == "mean")
    g = torch.Generator().manual_seed(3)  # no empty response: printed in p, P = 1 sits on log(1 - p)'s pole
    pc, pr, rc, rr = (-(torch.rand(12, generator=g, dtype=torch.float64) * 30 + 0.2) for _ in range(4))
    lc, lr = (torch.randint(1, 25, (12,), generator=g).double() for _ in range(2))
    tau = 0.35
    n_c, n_r = (lc.clamp(min=1), lr.clamp(min=1)) if obj.reduce == "mean" else (1.0, 1.0)
    env = {
        "Pc": torch.exp(pc / n_c),
        "Pr": torch.exp(pr / n_r),
        "Rc": torch.exp(rc / n_c),
        "Rr": torch.exp(rr / n_r),
        "NLL": -(pc / lc.clamp(min=1)),
        "tau": torch.tensor(tau, dtype=torch.float64),
    }
    value = torch.as_tensor(_evaluate(preference, env) + _evaluate(imitation, env), dtype=torch.float64)
    torch.testing.assert_close(
        value.expand_as(pc), obj.loss(pc, pr, rc, rr, lc, lr, tau), rtol=1e-9, atol=1e-9
    )
