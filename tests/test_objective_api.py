"""Objective API: files, constants vector, canonical keys, export, torch.func, external components."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from symmpo import Objective
from symmpo.errors import FormulaError, ObjectiveError
from symmpo.objective import NAMED, sample_objective


def _batch(n=16, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logps = -torch.rand(4, n, generator=g, dtype=dtype) * 30 - 0.01
    lengths = torch.randint(1, 20, (2, n), generator=g).to(dtype)
    return list(logps), lengths[0], lengths[1]


@pytest.mark.parametrize("name", list(NAMED))
def test_save_load_round_trip(tmp_path, name):
    obj = Objective.named(name)
    obj.save(tmp_path / "o.yaml")
    back = Objective.load(tmp_path / "o.yaml")
    assert back == obj and back.canonical_key() == obj.canonical_key()
    (pc, pr, rc, rr), lc, lr = _batch()
    torch.testing.assert_close(back.loss(pc, pr, rc, rr, lc, lr), obj.loss(pc, pr, rc, rr, lc, lr))


def test_objective_file_errors_name_the_place(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text("phi_inv: log(p)\ng: logsigmoid(q)\n")
    with pytest.raises(FormulaError, match=r"o.yaml: component g: unknown name 'q'.*position 11"):
        Objective.load(f)
    f.write_text("phi_inv: log(p)\ng: logsigmoid(z)\nbta: 0.1\n")
    with pytest.raises(ObjectiveError, match="unknown key"):
        Objective.load(f)
    f.write_text("phi_inv: log(p)\n")
    with pytest.raises(ObjectiveError, match="missing key 'g'"):
        Objective.load(f)


def test_constant_vector_round_trip_and_types():
    obj = Objective.named("cdpo", eps=0.2)
    raw = obj.constant_vector()
    assert raw.shape == (1,) and np.isclose(raw[0], np.log(0.2 / 0.8))
    moved = obj.with_constant_vector(np.array([50.0]))  # a unit constant stays inside (0, 1)
    assert 0 < moved.constant_specs()["eps"][1] < 1
    same = obj.with_constant_vector(raw)
    assert same == obj
    simpo = Objective.named("simpo", gamma=0.7)
    neg = simpo.with_constant_vector(np.array([-3.0]))
    assert neg.constant_specs()["gamma"][1] == pytest.approx(np.exp(-3.0))
    with pytest.raises(ObjectiveError, match="expected 1 raw"):
        simpo.with_constant_vector([1.0, 2.0])


def test_shared_named_constant_is_one_parameter():
    obj = Objective.from_components(
        "(p**(-a) - 1)/(-a)", "phi_inv", "logsigmoid(z)", constants={"a": ("unit", 0.3)}
    )
    assert list(obj.constant_specs()) == ["a"]
    assert obj.constant_vector().shape == (1,)


def test_canonical_key_equivalences():
    a = Objective.from_components("log(p)", "phi_inv", "logsigmoid(z)")
    b = Objective.from_components("log(p*1)", "log(p)", "-softplus(-z)")
    c = Objective.from_components("log(p) + 0", "phi_inv", "logsigmoid(z)", beta=0.100001)
    d = Objective.from_components("log(p)", "phi_inv", "logsigmoid(z)", beta=0.2)
    assert a.canonical_key() == b.canonical_key() == c.canonical_key()
    assert a.canonical_key() != d.canonical_key()
    assert a.canonical_key() == Objective.named("dpo").canonical_key()


def _run_exported(source: str, tmp_path, args) -> torch.Tensor:
    mod = tmp_path / "exported_loss.py"
    mod.write_text(source)
    torch.save(args, tmp_path / "args.pt")
    code = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); import exported_loss as m; "
        "a = torch.load(sys.argv[1] + '/args.pt'); torch.save(m.loss(*a), sys.argv[1] + '/out.pt'); "
        "print(sorted(k for k in sys.modules if k.startswith('symmpo')))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"  # the exported code imports torch only
    return torch.load(tmp_path / "out.pt")


@pytest.mark.parametrize("name", ["dpo", "ipo", "orpo", "discopop", "tsallis"])
def test_exported_source_equals_compiled(tmp_path, name):
    obj = Objective.named(name)
    (pc, pr, rc, rr), lc, lr = _batch(seed=1)
    out = _run_exported(obj.to_torch_source(), tmp_path, (pc, pr, rc, rr, lc, lr, 0.3))
    torch.testing.assert_close(out, obj.loss(pc, pr, rc, rr, lc, lr, progress=0.3), rtol=1e-12, atol=1e-12)


def test_exported_grammar_sample_equals_compiled(tmp_path):
    from symmpo.symbolic.grammar import Grammar

    g = Grammar.load("ta_mirror")
    rng = np.random.default_rng(11)
    (pc, pr, rc, rr), lc, lr = _batch(seed=2)
    for i in range(3):
        obj = sample_objective(g, rng)
        sub = tmp_path / str(i)
        sub.mkdir()
        out = _run_exported(obj.to_torch_source(), sub, (pc, pr, rc, rr, lc, lr, 0.7))
        torch.testing.assert_close(
            out, obj.loss(pc, pr, rc, rr, lc, lr, progress=0.7), rtol=1e-12, atol=1e-12
        )


def test_torch_func_vmap_and_grad():
    """The trainer vmaps over stacked parameters: loss must work under torch.func."""
    obj = Objective.named("orpo")
    (pc, pr, rc, rr), lc, lr = _batch(n=8, dtype=torch.float32)
    w = torch.randn(5, 8) * 0.1  # 5 stacked "models" perturbing the chosen log-probs

    def total(wi):
        return obj.loss(pc + wi, pr, rc, rr, lc, lr, progress=0.5).mean()

    vals = torch.func.vmap(total)(w)
    grads = torch.func.vmap(torch.func.grad(total))(w)
    for i in range(5):
        wi = w[i].clone().requires_grad_(True)
        v = total(wi)
        (gi,) = torch.autograd.grad(v, wi)
        torch.testing.assert_close(vals[i], v.detach())
        torch.testing.assert_close(grads[i], gi)
    # progress batched too (TA objectives)
    ta = Objective.from_components(w_po="tau", w_sft="1 - tau", reduce="mean")
    taus = torch.linspace(0, 1, 4)
    out = torch.func.vmap(lambda t: ta.loss(pc, pr, rc, rr, lc, lr, progress=t))(taus)
    assert out.shape == (4, 8) and torch.isfinite(out).all()


class _Lin:
    """A stand-in external component (what a neural phi_inv would provide)."""

    def torch_fn(self, x, tau):
        return 2.0 * x

    def latex(self):
        return r"2\log p"

    @property
    def validity(self):
        return {"increasing": True}


def test_external_component_hook():
    obj = Objective.from_components(phi_inv=_Lin(), psi=None)
    (pc, pr, rc, rr), lc, lr = _batch()
    ref = Objective.from_components("2*log(p)", None).loss(pc, pr, rc, rr)
    torch.testing.assert_close(obj.loss(pc, pr, rc, rr), ref)
    assert r"2\log p" in obj.latex()
    with pytest.raises(ObjectiveError, match="non-symbolic"):
        obj.to_dict()


def test_latex_and_public_surface():
    dpo = Objective.named("dpo", beta=0.1)
    tex = dpo.latex()
    assert r"\log\sigma" in tex and "0.1" in tex
    assert set(dpo.components) == {"phi_inv", "psi", "g", "w_po", "w_sft"}
    assert dpo.name == "dpo" and not dpo.needs_lengths
    assert Objective.named("simpo").needs_lengths


def test_curve_evaluates_components_as_compiled():
    p = np.array([1e-6, 0.1, 0.5, 0.9, 1.0])
    z = np.array([-3.0, 0.0, 2.0])
    orpo = Objective.named("orpo")
    np.testing.assert_allclose(orpo.curve("phi_inv", p[:-1]), np.log(p[:-1] / (1 - p[:-1])), rtol=1e-9)
    np.testing.assert_allclose(Objective.named("dpo").curve("psi", p), np.log(p), atol=1e-12)
    np.testing.assert_array_equal(Objective.named("simpo").curve("psi", p), np.zeros_like(p))
    np.testing.assert_allclose(Objective.named("ipo", beta=0.1).curve("g", z), -((z - 5.0) ** 2))
    with pytest.raises(ObjectiveError, match="unknown component"):
        orpo.curve("phi", p)
