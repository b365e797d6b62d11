"""Exports state what they need (metadata constants, conventions); parts add up to the loss; empty responses.

None of these need TRL: the trl export is generated from text and checked without importing trl.
"""

from __future__ import annotations

import ast
import importlib.util
import sys

import pytest
import torch

from symmpo import Objective
from symmpo.cli import main
from symmpo.integrations.trl_export import parts_source, trl_source
from symmpo.objective import NAMED
from symmpo.objective.export_meta import export_metadata

TA = Objective.from_components(
    "log(p) - log(1 - p) + c0*p**c1",
    "phi_inv",
    "-max(0, c2 - (z - c3*tau))",
    w_po="sigmoid(c4*(tau - c5))",
    w_sft="c6*(1 - tau)",
    beta=0.5,
    reduce="mean",
    name="ta-sample",
    constants={
        "c0": ("positive", 0.84),
        "c1": ("positive", 0.15),
        "c2": ("positive", 3.0),
        "c3": ("positive", 1.36),
        "c4": ("positive", 0.86),
        "c5": ("unit", 0.83),
        "c6": ("positive", 0.15),
    },
)
OBJECTIVES = [Objective.named(n) for n in NAMED] + [TA]


def _batch(n=16, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    logps = [-(torch.rand(n, generator=g, dtype=dtype) * 40 + 0.5) for _ in range(4)]
    lengths = [torch.randint(1, 30, (n,), generator=g).to(dtype) for _ in range(2)]
    return (*logps, *lengths)


def _module(source: str, tmp_path, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _constants(source: str) -> dict:
    tree = ast.parse(source)
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and node.targets[0].id.isupper()
        and not node.targets[0].id.startswith(("_", "SYMMPO_"))  # SYMMPO_*: the safe forms' guard constants
    }


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_torch_export_carries_metadata_and_conventions(obj):
    source = obj.to_torch_source()
    meta = export_metadata(obj)
    assert _constants(source) == meta
    assert meta["USES_TAU"] == obj.uses_tau and meta["USES_REFERENCE"] == obj.uses_reference
    assert meta["NEEDS_LENGTHS"] == obj.needs_lengths and meta["BETA"] == obj.beta
    doc = ast.get_docstring(ast.parse(source))
    for phrase in (
        "summed over the response tokens",
        "clamped to >= 1",
        "tau = optimizer step",
        "IMITATION_WEIGHT",
    ):
        assert phrase in doc


def test_metadata_flags():
    assert not Objective.named("simpo").uses_reference and not Objective.named("orpo").uses_reference
    assert Objective.named("dpo").uses_reference and not Objective.named("dpo").uses_tau
    assert TA.uses_tau and TA.uses_reference
    assert export_metadata(Objective.named("orpo"))["IMITATION_WEIGHT"] == "1"
    assert export_metadata(TA)["IMITATION_WEIGHT"] == "c6 * (1 - tau)"


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_parts_add_up_to_the_loss(obj, tmp_path):
    pc, pr, rc, rr, lc, lr = _batch()
    for tau in (0.0, 0.3, 1.0):
        parts = obj.parts(pc, pr, rc, rr, lc, lr, progress=tau)
        torch.testing.assert_close(
            parts["preference"] + parts["imitation"], obj.loss(pc, pr, rc, rr, lc, lr, tau)
        )
        torch.testing.assert_close(parts["margin"], parts["reward_chosen"] - parts["reward_rejected"])
    # the exported mpo_parts (torch only) computes the same
    mod = _module(obj.to_torch_source("mpo_loss") + "\n\n" + parts_source(obj), tmp_path, "parts_export")
    got = mod.mpo_parts(pc, pr, rc, rr, lc, lr, 0.3)
    want = obj.parts(pc, pr, rc, rr, lc, lr, progress=0.3)
    for key in ("reward_chosen", "reward_rejected", "preference", "imitation"):
        torch.testing.assert_close(got[key], want[key], rtol=1e-12, atol=1e-12)


def test_dpo_rewards_are_beta_log_ratios():
    pc, pr, rc, rr, lc, lr = _batch()
    parts = Objective.named("dpo", beta=0.3).parts(pc, pr, rc, rr)
    torch.testing.assert_close(parts["reward_chosen"], 0.3 * (pc - rc))
    torch.testing.assert_close(parts["reward_rejected"], 0.3 * (pr - rr))


def test_trl_export_is_torch_and_trl_only(tmp_path):
    out = tmp_path / "trainer.py"
    assert main(["export", "ipo", "--format", "trl", "-o", str(out)]) == 0
    source = out.read_text()
    assert source == trl_source(Objective.named("ipo"))
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    # transformers: the reference-free placeholder model; trl requires it
    assert imported - set(sys.stdlib_module_names) == {"torch", "trl", "transformers"}
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert {"mpo_loss", "mpo_parts", "MPOTrainerBase", "MPOTrainer", "LossSpec"} <= defined
    assert _constants(source)["OBJECTIVE_NAME"] == "ipo"


def test_export_quotes_names_in_constants(tmp_path):
    obj = Objective.named("dpo").renamed('it\'s a "name"')
    assert _constants(obj.to_torch_source())["OBJECTIVE_NAME"] == 'it\'s a "name"'


# ----- zero-length responses: TRL's clamp (length >= 1), an empty response has mean log-prob 0 and NLL 0 --
def test_zero_length_ipo_follows_trl_clamp():
    pc, pr, rc, rr, lc, lr = _batch(4)
    lc[0], lr[1] = 0.0, 0.0
    pc[0] = rc[0] = pr[1] = rr[1] = 0.0  # an empty response sums no log-probs
    beta = 0.1
    got = Objective.named("ipo", beta=beta).loss(pc, pr, rc, rr, lc, lr)
    # TRL's DPOTrainer "ipo": lengths clamped to >= 1
    delta = (pc - rc) / lc.clamp(min=1) - (pr - rr) / lr.clamp(min=1)
    torch.testing.assert_close(got, (delta - 1 / (2 * beta)) ** 2)
    assert torch.isfinite(got).all()


def test_zero_length_everywhere_is_finite(tmp_path):
    pc, pr, rc, rr, lc, lr = _batch(4)
    lc[:] = 0.0
    pc[:] = rc[:] = 0.0
    for obj in OBJECTIVES:
        if not obj.needs_lengths:
            continue
        loss = obj.loss(pc, pr, rc, rr, lc, lr, progress=0.5)
        assert torch.isfinite(loss).all(), obj.name
        mod = _module(obj.to_torch_source(), tmp_path, f"zero_{obj.name.replace('-', '_')}")
        torch.testing.assert_close(mod.loss(pc, pr, rc, rr, lc, lr, 0.5), loss, rtol=1e-12, atol=1e-12)
    # orpo's NLL of an empty chosen response is 0: only the odds-ratio term remains
    parts = Objective.named("orpo").parts(pc, pr, rc, rr, lc, lr)
    torch.testing.assert_close(parts["imitation"], torch.zeros_like(pc))


def test_exported_loss_has_one_beta(tmp_path):
    """Editing BETA in an exported file changes the loss and its logged rewards: no second copy of beta."""
    obj = Objective.from_components(
        "log(p) - log(1 - p)", "phi_inv", "logsigmoid(z)", beta=0.5, reduce="mean"
    )
    path = tmp_path / "exported.py"
    path.write_text(obj.to_torch_source() + "\n" + parts_source(obj))
    spec = importlib.util.spec_from_file_location("exported_one_beta", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert "0.5" not in path.read_text().split("def loss(")[1]  # beta appears only as BETA = 0.5
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (-torch.rand(6, generator=g, dtype=torch.float64) * 8 for _ in range(4))
    lc = lr = torch.full((6,), 4.0, dtype=torch.float64)
    mod.BETA = 0.3
    other = obj.with_beta(0.3)
    torch.testing.assert_close(mod.loss(pc, pr, rc, rr, lc, lr), other.loss(pc, pr, rc, rr, lc, lr))
    ours, theirs = mod.mpo_parts(pc, pr, rc, rr, lc, lr), other.parts(pc, pr, rc, rr, lc, lr)
    torch.testing.assert_close(ours["reward_chosen"], theirs["reward_chosen"])


def test_export_refuses_unproved_objectives_unless_flagged(tmp_path, capsys):
    src = tmp_path / "invalid.yaml"
    Objective.from_components("-log(p)", "phi_inv", "logsigmoid(z)", name="invalid").save(src)  # decreasing
    out = tmp_path / "loss.py"
    assert main(["export", str(src), "--format", "torch", "-o", str(out)]) == 2 and not out.exists()
    assert "phi_inv is invalid" in capsys.readouterr().err
    assert main(["export", str(src), "--format", "torch", "-o", str(out), "--allow-unproved"]) == 0
    assert main(["export", str(src), "--format", "latex"]) == 0  # printing a formula trains nothing
    assert main(["export", "discopop", "--format", "torch"]) == 0  # published baselines are exempt
