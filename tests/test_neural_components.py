"""Neural components: valid by construction (checked on the core's dense grids), exact storage, Objective hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from symmpo.errors import ObjectiveError
from symmpo.neural.components import (
    MonotoneNet,
    NeuralArch,
    NeuralObjective,
    NeuralPhiInv,
    objective_from_any,
)
from symmpo.neural.network_checks import check_callable, check_neural
from symmpo.objective import Objective

torch.set_num_threads(1)

ARCHS = [
    NeuralArch(),
    NeuralArch(phi_hidden=(6, 4), g_hidden=(5,), psi="free", tau=True),
    NeuralArch(psi="zero", reduce="mean", sft=True),
]


@pytest.mark.parametrize("arch", ARCHS, ids=["tied", "free-tau-deep", "zero-mean"])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_random_networks_pass_the_validity_checker(arch, seed):
    # far from initialization too: large random raw weights must not break validity
    theta = arch.init(seed) + np.random.default_rng(seed).normal(0, 3.0, arch.size)
    verdicts = check_neural(NeuralObjective(arch, theta))
    assert set(verdicts) == ({"phi_inv", "g", "psi"} if arch.psi == "free" else {"phi_inv", "g"})
    for v in verdicts.values():
        assert v.valid, v.summary()


def test_checker_rejects_broken_callables():
    """The callable checker is a real second line: it fails what the construction would forbid."""
    not_monotone = check_callable(lambda L, t: L - 0.5 * torch.sin(10 * torch.exp(L)), "phi_inv")
    assert not not_monotone.valid and "decreases" in not_monotone.failures()[0].reason
    bounded = check_callable(lambda L, t: torch.tanh(L), "phi_inv")
    assert not bounded.valid and any("-inf" in f.name for f in bounded.failures())
    not_integrable = check_callable(lambda L, t: -torch.exp(-L), "phi_inv")  # -1/p
    assert any("integrable" in f.name for f in not_integrable.failures())
    g_dec = check_callable(lambda z, t: -z, "g")
    assert not g_dec.valid


def test_init_is_deterministic_and_sized():
    arch = NeuralArch(phi_hidden=(8,), g_hidden=(8,))
    a, b, c = arch.init(3), arch.init(3), arch.init(4)
    assert a.shape == (arch.size,) and np.array_equal(a, b) and not np.array_equal(a, c)
    # φ⁻¹ starts with slope 1 on log p, g with weight 1 on logsigmoid (DPO plus small residuals)
    comps = NeuralObjective(arch, a).components()
    assert comps["phi_inv"].slope == pytest.approx(1.0)
    assert comps["g"].skip == pytest.approx(1.0)
    assert arch.size == sum(n for _, n in arch.blocks())


def test_tau_enters_but_monotonicity_holds_in_the_argument():
    net = MonotoneNet((6,), tau=True)
    theta = torch.as_tensor(net.init(np.random.default_rng(0)) * 3)
    params = net.unpack(theta)
    x = torch.linspace(-3, 3, 200, dtype=torch.float64)
    f0, f1 = net.forward(params, x, 0.0), net.forward(params, x, 1.0)
    assert not torch.allclose(f0, f1)
    assert bool((f0.diff() >= 0).all()) and bool((f1.diff() >= 0).all())


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    pc = -torch.rand(n, generator=g, dtype=torch.float64) * 60
    pr = -torch.rand(n, generator=g, dtype=torch.float64) * 60
    rc = pc + torch.randn(n, generator=g, dtype=torch.float64)
    rr = pr + torch.randn(n, generator=g, dtype=torch.float64)
    lens = torch.randint(5, 30, (n,), generator=g).to(torch.float64)
    return pc, pr, rc, rr, lens, lens + 1


@pytest.mark.parametrize("arch", ARCHS, ids=["tied", "free-tau-deep", "zero-mean"])
def test_files_and_dicts_round_trip_exactly(tmp_path, arch):
    neural = NeuralObjective(arch, arch.init(5) + 0.1, "n")
    pc, pr, rc, rr, lc, lr = _batch()
    want = neural.objective().loss(pc, pr, rc, rr, lc, lr, progress=0.3)
    path = neural.save(tmp_path / "best.yaml", extra={"note": 1})
    again = NeuralObjective.load(path)
    assert np.array_equal(again.theta, neural.theta) and again.arch == arch
    assert torch.equal(again.objective().loss(pc, pr, rc, rr, lc, lr, progress=0.3), want)
    shipped = objective_from_any(neural.to_dict())  # what a fitness worker rebuilds
    assert torch.equal(shipped.loss(pc, pr, rc, rr, lc, lr, progress=0.3), want)
    # a swapped weights file is detected
    other = NeuralObjective(arch, arch.init(6), "n")
    other.save(tmp_path / "other.yaml")
    (tmp_path / "best.npz").write_bytes((tmp_path / "other.npz").read_bytes())
    with pytest.raises(ObjectiveError, match="digest"):
        NeuralObjective.load(path)


def test_neural_objective_is_an_objective():
    arch = NeuralArch(psi="tied")
    obj = arch.objective(arch.init(0))
    pc, pr, rc, rr, lc, lr = (t.float() for t in _batch())
    pc.requires_grad_(True)
    loss = obj.loss(pc, pr, rc, rr, lc, lr)
    assert loss.shape == (16,) and bool(torch.isfinite(loss).all())
    (grad,) = torch.autograd.grad(loss.sum(), pc)
    assert bool(torch.isfinite(grad).all()) and bool((grad <= 0).all())  # raising log π(y+) never raises loss
    assert "log p" in obj.latex()
    with pytest.raises(ObjectiveError, match="non-symbolic"):
        obj.to_dict()
    # symbolic dicts still go through the same entry point
    assert objective_from_any(Objective.named("dpo").to_dict()) == Objective.named("dpo")


def test_wrong_sizes_and_modes_are_refused():
    arch = NeuralArch()
    with pytest.raises(ObjectiveError, match="expected"):
        arch.objective(np.zeros(arch.size - 1))
    with pytest.raises(ObjectiveError, match="psi"):
        NeuralArch(psi="both")
    with pytest.raises(ObjectiveError, match="parameters"):
        NeuralPhiInv(arch.phi_net, np.zeros(3))


def test_loading_weights_that_fail_the_checker_is_refused(tmp_path):
    """Valid by construction, checked anyway on load: non-finite weights in a file are a clear error."""
    arch = NeuralArch()
    theta = arch.init(0)
    theta[0] = np.nan
    path = NeuralObjective(arch, theta, "broken").save(tmp_path / "broken.yaml")
    with pytest.raises(ObjectiveError, match="fail the validity checks"):
        NeuralObjective.load(path)
    NeuralObjective.load(NeuralObjective(arch, arch.init(0), "ok").save(tmp_path / "ok.yaml"))


def test_a_learned_imitation_weight_is_one_parameter_started_near_dpo():
    """``sft``: w_sft = softplus(θ) ≥ 0, the last parameter; without it the file and digest stay as they were."""
    from symmpo.neural.components import SFT_INIT
    from symmpo.neural.distill import distilled_objective

    plain, anchored = NeuralArch(), NeuralArch(sft=True)
    assert anchored.size == plain.size + 1 and anchored.blocks()[-1] == ("w_sft", 1)
    assert "sft" not in plain.to_dict() and NeuralArch.from_dict(anchored.to_dict()) == anchored
    theta = anchored.init(0)
    assert np.array_equal(theta[:-1], plain.init(0))  # the networks start where they did
    assert anchored.sft_weight(theta) == pytest.approx(SFT_INIT) and plain.sft_weight(plain.init(0)) == 0.0
    for raw, want in ((-50.0, 0.0), (0.0, np.log(2.0)), (3.0, np.log1p(np.exp(3.0)))):
        theta[-1] = raw
        assert anchored.sft_weight(theta) == pytest.approx(want, abs=1e-12)
    # the weight acts: the loss is the PO loss plus w_sft times the chosen response's NLL
    theta[-1] = 0.0
    pc, pr, rc, rr, lc, lr = _batch()
    po = NeuralObjective(plain, theta[:-1]).objective().loss(pc, pr, rc, rr, lc, lr)
    both = NeuralObjective(anchored, theta).objective().loss(pc, pr, rc, rr, lc, lr)
    assert torch.allclose(both - po, -np.log(2.0) * pc / lc)  # the NLL per token, as for every objective
    # distillation carries it over as a tunable positive constant
    fits = {
        "phi_inv": _Fit(Objective.named("dpo").components["phi_inv"]),
        "g": _Fit(Objective.named("dpo").components["g"]),
    }
    distilled = distilled_objective(fits, anchored, sft_weight=0.25)
    (c,) = [c for c in _consts(distilled.components["w_sft"])]
    assert c.kind == "positive" and c.value == pytest.approx(0.25)
    assert distilled_objective(fits, plain).components["w_sft"] == Objective.named("dpo").components["w_sft"]


class _Fit:
    def __init__(self, tree):
        self.tree = tree


def _consts(tree):
    from symmpo.symbolic.expr import constants

    return constants(tree)


def test_a_neural_search_file_is_a_study_member_held_to_its_run(tmp_path):
    """A neural run's network (neural/) and its distilled formula (distill/) enter a comparison like a symbolic
    run's files: loaded with their weights, β tunable, and tied to the run whose fitness split they must avoid."""
    from symmpo.errors import SymmpoError
    from symmpo.neural.components import load_objective
    from symmpo.studies.compare import made_of_lines
    from symmpo.studies.members import discovered_members, find_run

    run = tmp_path / "run"
    (run / "neural").mkdir(parents=True)
    (run / "distill").mkdir()
    neural = NeuralObjective(NeuralArch(sft=True), NeuralArch(sft=True).init(3), "net")
    net = neural.save(run / "neural" / "hof_01.yaml")
    formula = run / "distill" / "distilled.yaml"
    Objective.named("dpo").save(formula)
    (run / "checkpoint.json").write_text("{}")
    with pytest.raises(SymmpoError, match="without its config.yaml"):  # never a protocol check skipped
        find_run(net)
    (run / "config.yaml").write_text("tasks: []\n")
    assert find_run(net) == run.resolve() and find_run(formula) == run.resolve()

    [member, distilled] = discovered_members([f"net={net}", f"formula={formula}"])
    assert member.run == distilled.run == str(run.resolve())
    pc, pr, rc, rr, lc, lr = _batch()
    want = neural.objective().loss(pc, pr, rc, rr, lc, lr)
    assert torch.equal(member.objective().loss(pc, pr, rc, rr, lc, lr), want)
    assert member.variant(3.0, 1e-3).objective().beta == pytest.approx(3 * neural.arch.beta)
    assert not load_objective(net).is_symbolic and load_objective(formula).is_symbolic
    lines = "\n".join(made_of_lines({"net": str(net), "formula": str(formula)}))
    assert "Not drawn (neural components, no closed form): net." in lines and "- formula (" in lines

    # bad weights are a one-line error naming the file, before any training
    (run / "neural" / "hof_01.npz").write_bytes(b"not an npz archive")
    with pytest.raises(ObjectiveError, match="hof_01.yaml: cannot read its weights hof_01.npz"):
        discovered_members([f"net={net}"])
    (run / "neural" / "hof_01.npz").unlink()
    with pytest.raises(ObjectiveError, match="cannot read its weights hof_01.npz"):
        discovered_members([f"net={net}"])
    net.write_text(net.read_text().replace("weights: hof_01.npz", "weights: ../x.npz"))
    with pytest.raises(ObjectiveError, match="must name a file beside it"):
        discovered_members([f"net={net}"])
