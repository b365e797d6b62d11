"""symmpo.integrations.trl.MPOTrainer and the exported trl file, trained inside TRL on a tiny offline GPT-2.

Runs when TRL is installed (CI installs the ``trl`` extra); skipped with the reason otherwise.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import trl_tiny  # the tiny offline TRL setup shared by these tests

trl_tiny.require_trl()

import torch  # noqa: E402
from trl import DPOTrainer  # noqa: E402

from symmpo import Objective  # noqa: E402
from symmpo.cli import main  # noqa: E402
from symmpo.errors import ObjectiveError  # noqa: E402
from symmpo.integrations.trl import MPOTrainer  # noqa: E402

TESTS = Path(__file__).resolve().parent

# A discovered TA-MPO objective (best entry of the committed TA run on hopper-mixed-0.5): tau enters g,
# w_po and w_sft, reduce is mean, psi is tied.
TA_OBJECTIVE = {
    "format": "symmpo-objective/1",
    "name": "evolved-hopper-mixed-0.5-01",
    "beta": 0.5,
    "reduce": "mean",
    "phi_inv": "log(p) - log(1 - p) + c0 * p**c1",
    "psi": "phi_inv",
    "g": "-max(0, c2 - (z - c3 * tau))",
    "w_po": "sigmoid(c4 * (tau - c5))",
    "w_sft": "c6 * (1 - tau)",
    "constants": {
        "c0": {"type": "positive", "value": 0.8351780652116503},
        "c1": {"type": "positive", "value": 0.15385832260465204},
        "c2": {"type": "positive", "value": 3.001605298131916},
        "c3": {"type": "positive", "value": 1.3612811043409208},
        "c4": {"type": "positive", "value": 0.8557133092826148},
        "c5": {"type": "unit", "value": 0.8296842087872122},
        "c6": {"type": "positive", "value": 0.15347936760619887},
    },
}
STEPS = 5


def _trainer(cls, tmp_path, objective=None, ref=True, allow_unproved=False, **config):
    policy = trl_tiny.model(0)
    config.setdefault("max_steps", STEPS)
    kwargs = {
        "model": policy,
        "ref_model": copy.deepcopy(policy) if ref else None,
        "args": trl_tiny.config(tmp_path, **config),
        "train_dataset": trl_tiny.dataset(),
        "processing_class": trl_tiny.tokenizer(),
    }
    if objective is None:
        return cls(**kwargs)
    return cls(objective=objective, allow_unproved=allow_unproved, **kwargs)


# Every key DPOTrainer logs on a dense model, with DPOTrainer's meaning.
TRL_KEYS = (
    "loss",
    "entropy",
    "num_tokens",
    "logits/chosen",
    "logits/rejected",
    "mean_token_accuracy",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
)


def _same_logs(ours, theirs, keys=TRL_KEYS, tol=1e-5):
    assert len(ours) == len(theirs) == STEPS
    for a, b in zip(ours, theirs, strict=True):
        for k in keys:
            assert a[k] == pytest.approx(b[k], abs=tol, rel=tol), (k, a["step"])


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_logs_the_same_as_trl_sigmoid(tmp_path, beta):
    """beta comes from DPOConfig for a loss given by name, and every TRL metric matches DPOTrainer's."""
    ours = trl_tiny.train_logs(_trainer(MPOTrainer, tmp_path / "mpo", "dpo", beta=beta))
    theirs = trl_tiny.train_logs(_trainer(DPOTrainer, tmp_path / "dpo", loss_type=["sigmoid"], beta=beta))
    _same_logs(ours, theirs)
    assert set(TRL_KEYS) <= set(ours[0]) and set(theirs[0]) - {"aux_loss"} <= set(ours[0])
    for h in ours:  # DPO's own implicit rewards are TRL's
        assert h["objective/rewards/margins"] == pytest.approx(h["rewards/margins"], abs=1e-6)
    assert ours[-1]["loss"] < ours[0]["loss"] - 0.01  # the 5 steps really train


@pytest.mark.parametrize("objective, loss_type", [("aot", "aot"), ("nca", "nca_pair")])
def test_plain_baseline_trains_as_trl(tmp_path, objective, loss_type):
    """A plain baseline (outside MPO), by name or as an object, trains inside MPOTrainer as TRL's own loss."""
    obj = Objective.named(objective) if objective == "nca" else objective
    ours = trl_tiny.train_logs(_trainer(MPOTrainer, tmp_path / "mpo", obj))
    theirs = trl_tiny.train_logs(_trainer(DPOTrainer, tmp_path / "dpo", loss_type=[loss_type]))
    assert len(ours) == len(theirs) == STEPS
    for a, b in zip(ours, theirs, strict=True):
        for k in ("loss", "rewards/margins", "logps/chosen"):
            assert a[k] == pytest.approx(b[k], abs=1e-5), (k, a["step"])
    assert ours[-1]["loss"] < ours[0]["loss"] - 0.01


def test_ipo_beta_from_config_logs_the_same_as_trl(tmp_path):
    """IPO's beta sits inside g, yet DPOConfig.beta sets it, as for DPOTrainer(loss_type="ipo")."""
    trainer = _trainer(MPOTrainer, tmp_path / "mpo", "ipo", beta=0.7)
    assert trainer.objective == Objective.named("ipo", beta=0.7) and trainer.beta == 0.7
    ours = trl_tiny.train_logs(trainer)
    theirs = trl_tiny.train_logs(_trainer(DPOTrainer, tmp_path / "dpo", loss_type=["ipo"], beta=0.7))
    _same_logs(ours, theirs, tol=2e-5)
    # its own rewards (length-averaged, scale 1) are logged under their own names, not as TRL's
    assert abs(ours[-1]["objective/rewards/margins"] - ours[-1]["rewards/margins"]) > 1e-3


class Recording(MPOTrainer):
    """Keeps what the loss saw, and log-probs recomputed independently from plain logits."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        with torch.no_grad():
            logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
            mask = inputs["completion_mask"][:, 1:].bool()
            token = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, inputs["input_ids"][:, 1:, None])
            self.independent.append(((token[..., 0] * mask).sum(1), mask.sum(1)))
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


@pytest.fixture(scope="module")
def ta_run(tmp_path_factory):
    """The TA objective trained 5 steps by MPOTrainer, with every loss call recorded."""
    obj = Objective.from_dict(TA_OBJECTIVE)
    trainer = _trainer(Recording, tmp_path_factory.mktemp("ta"), obj, beta=0.5)
    trainer.independent, calls = [], []
    loss = trainer.loss_spec.loss

    def recording_loss(*args):
        calls.append(tuple(a.detach().clone() if torch.is_tensor(a) else a for a in args))
        return loss(*args)

    trainer.loss_spec = trainer.loss_spec._replace(loss=recording_loss)
    return obj, trl_tiny.train_logs(trainer), calls, trainer.independent


def test_ta_objective_inside_trl_equals_objective_loss(ta_run):
    obj, logs, calls, independent = ta_run
    assert obj.uses_tau and obj.needs_lengths
    assert [c[-1] for c in calls] == pytest.approx([s / STEPS for s in range(STEPS)])  # tau advances
    assert [h["tau"] for h in logs] == pytest.approx([s / STEPS for s in range(STEPS)])
    for (pc, pr, rc, rr, lc, lr, tau), (logps, lengths), h in zip(calls, independent, logs, strict=True):
        # summed completion log-probs and their token counts (EOS included), recomputed from logits
        torch.testing.assert_close(torch.cat([pc, pr]), logps, rtol=0, atol=1e-4)
        torch.testing.assert_close(torch.cat([lc, lr]), lengths.float())
        assert h["loss"] == pytest.approx(
            float(obj.loss(pc, pr, rc, rr, lc, lr, progress=tau).mean()), abs=1e-6
        )
        nll = -(pc / lc).mean()
        assert h["loss/imitation"] == pytest.approx(float(0.15347936760619887 * (1 - tau) * nll), rel=1e-5)
        assert h["loss/preference"] + h["loss/imitation"] == pytest.approx(h["loss"], abs=1e-5)
        assert h["nll/chosen"] == pytest.approx(float(nll), rel=1e-6)
    assert calls[0][4].min() >= 2  # every response has at least one word and the EOS token


def test_exported_trl_file_trains_without_symmpo(ta_run, tmp_path):
    obj, logs, _, _ = ta_run
    src = tmp_path / "objective.yaml"
    obj.save(src)
    exported = tmp_path / "exported_trainer.py"
    assert main(["export", str(src), "--format", "trl", "-o", str(exported)]) == 0
    script = f"""
import importlib.util, json, sys, warnings
sys.modules["symmpo"] = None  # symmpo cannot be imported in this interpreter
sys.path.insert(0, {str(TESTS)!r})
warnings.filterwarnings("ignore")
import trl_tiny
spec = importlib.util.spec_from_file_location("exported_trainer", {str(exported)!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
import copy
policy = trl_tiny.model(0)
trainer = mod.MPOTrainer(model=policy, ref_model=copy.deepcopy(policy),
                         args=trl_tiny.config({str(tmp_path / "out")!r}, max_steps={STEPS}, beta=0.5),
                         train_dataset=trl_tiny.dataset(), processing_class=trl_tiny.tokenizer())
logs = trl_tiny.train_logs(trainer)
assert sys.modules["symmpo"] is None and not [k for k in sys.modules if k.startswith("symmpo.")]
print(json.dumps({{"logs": logs, "uses_tau": mod.USES_TAU, "beta": mod.BETA}}))
"""
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["uses_tau"] is True and out["beta"] == 0.5
    assert len(out["logs"]) == STEPS
    for a, b in zip(out["logs"], logs, strict=True):
        for k in ("loss", "loss/preference", "loss/imitation", "objective/rewards/margins", "tau", *TRL_KEYS):
            assert a[k] == pytest.approx(b[k], abs=1e-5), k


class CountingForward:
    def __init__(self, module):
        self.calls = 0
        module.register_forward_hook(self)

    def __call__(self, *_):
        self.calls += 1


def test_reference_free_objective_runs_no_reference_forward(tmp_path):
    obj = Objective.named("simpo")
    assert not obj.uses_reference
    policy, ref = trl_tiny.model(0), trl_tiny.model(1)
    ref_calls = CountingForward(ref)
    with pytest.warns(UserWarning, match="reference-free") as record:
        trainer = MPOTrainer(
            objective=obj,
            model=policy,
            ref_model=ref,
            args=trl_tiny.config(tmp_path, max_steps=3, beta=2.0),
            train_dataset=trl_tiny.dataset(),
            processing_class=trl_tiny.tokenizer(),
        )
    assert record[0].filename == __file__  # the warning points at the line that built the trainer
    policy_calls = CountingForward(trainer.model)
    logs = trl_tiny.train_logs(trainer)
    assert trainer.ref_model is None and ref_calls.calls == 0
    assert policy_calls.calls == 3  # one forward per step: no reference pass through the policy either
    assert trainer.beta == 2.0 and logs[0]["objective/rewards/margins"] != 0.0  # simpo's own rewards
    # TRL's rewards: beta * log-prob, as DPOTrainer's with a zero reference
    assert logs[0]["rewards/chosen"] == pytest.approx(2.0 * logs[0]["logps/chosen"], rel=1e-6)


def test_reference_free_without_ref_model_loads_nothing(tmp_path):
    # A model built from a config has no path: DPOTrainer alone would fail trying to load a reference copy.
    trainer = _trainer(MPOTrainer, tmp_path, "orpo", ref=False, max_steps=2)
    assert trainer.ref_model is None
    logs = trl_tiny.train_logs(trainer)
    assert len(logs) == 2 and logs[0]["loss/imitation"] > 0


def test_evaluate_before_training_uses_tau_zero(tmp_path):
    obj = Objective.from_dict(TA_OBJECTIVE)
    policy = trl_tiny.model(0)
    data = trl_tiny.dataset(16)
    trainer = MPOTrainer(
        obj,
        model=policy,
        ref_model=copy.deepcopy(policy),
        args=trl_tiny.config(tmp_path, per_device_eval_batch_size=8, beta=0.5),
        train_dataset=data,
        eval_dataset=data,
        processing_class=trl_tiny.tokenizer(),
    )
    metrics = trainer.evaluate()
    assert metrics["eval_tau"] == 0.0
    assert metrics["eval_loss/preference"] + metrics["eval_loss/imitation"] == pytest.approx(
        metrics["eval_loss"], abs=1e-5
    )


@pytest.mark.parametrize(
    "objective, config, match",
    [
        ("dpo", {"loss_type": ["ipo"]}, "loss_type"),
        ("dpo", {"label_smoothing": 0.1}, "label_smoothing"),
        (Objective.named("dpo", beta=0.5), {"beta": 0.3}, "beta=0.5"),
        (Objective.named("dpo", beta=0.5), {}, r"DPOConfig\(beta=0.5\)"),  # TRL's default 0.1 conflicts too
        (Objective.named("ipo", beta=0.5), {"beta": 0.1}, "beta"),
        ("simpo", {"precompute_ref_log_probs": True}, "reference-free"),
        ("no-such-loss", {}, "neither a named loss"),
    ],
)
def test_bad_configuration_fails_at_construction(tmp_path, objective, config, match):
    with pytest.raises(ObjectiveError, match=match):
        _trainer(MPOTrainer, tmp_path, objective, **config)


@pytest.mark.parametrize(
    "name, param", [("dpo", "beta"), ("ipo", "beta"), ("simpo", "beta"), ("orpo", "lam")]
)
def test_named_loss_takes_beta_from_config(tmp_path, name, param):
    trainer = _trainer(MPOTrainer, tmp_path, name, beta=0.3)
    assert trainer.beta == 0.3 and trainer.objective == Objective.named(name, **{param: 0.3})
    assert trainer.loss_spec.beta == 0.3


def test_fixed_beta_objective_trains_when_config_agrees(tmp_path):
    trainer = _trainer(MPOTrainer, tmp_path, Objective.named("ipo", beta=0.5), beta=0.5)
    assert trainer.beta == 0.5 and trainer.objective.beta == 1.0  # ipo's reward scale is 1; beta is in g


def test_tau_objective_needs_a_known_number_of_steps(tmp_path):
    stream = trl_tiny.dataset(16).to_iterable_dataset()
    with pytest.raises(ObjectiveError, match="max_steps"):
        MPOTrainer(
            Objective.from_dict(TA_OBJECTIVE),
            model=trl_tiny.model(0),
            args=trl_tiny.config(tmp_path, max_steps=-1, beta=0.5),
            train_dataset=stream,
            processing_class=trl_tiny.tokenizer(),
        )


def test_objective_file_path(tmp_path):
    path = tmp_path / "hof.yaml"
    Objective.from_dict(TA_OBJECTIVE).save(path)
    trainer = _trainer(MPOTrainer, tmp_path, str(path), beta=0.5)
    assert trainer.objective == Objective.from_dict(TA_OBJECTIVE)


INVALID = {**TA_OBJECTIVE, "name": "invalid", "phi_inv": "-log(p)", "psi": "phi_inv"}  # decreasing in p


def test_unproved_objective_is_refused_unless_allowed(tmp_path, capsys):
    path = tmp_path / "invalid.yaml"
    Objective.from_dict(INVALID).save(path)
    with pytest.raises(ObjectiveError, match="phi_inv is invalid.*allow_unproved=True"):
        _trainer(MPOTrainer, tmp_path, str(path), beta=0.5)
    trainer = _trainer(MPOTrainer, tmp_path, str(path), beta=0.5, allow_unproved=True)
    assert trainer.objective.name == "invalid"
    out = tmp_path / "exported.py"
    assert main(["export", str(path), "--format", "trl", "-o", str(out)]) == 2 and not out.exists()
    assert "phi_inv is invalid" in capsys.readouterr().err
    assert main(["export", str(path), "--format", "trl", "-o", str(out), "--allow-unproved"]) == 0


def test_formula_typo_is_an_objective_error(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(json.dumps({**TA_OBJECTIVE, "g": "logsigmod(z)"}))
    with pytest.raises(ObjectiveError, match="logsigmod"):
        _trainer(MPOTrainer, tmp_path, str(path), beta=0.5)


def test_compute_metrics_receives_logits_as_with_dpo_trainer(tmp_path):
    seen = {}

    def metrics(name):
        def compute(pred):
            seen[name] = (tuple(pred.predictions.shape), tuple(pred.label_ids.shape))
            return {"seen": 1.0}

        return compute

    data = trl_tiny.dataset(16)
    results = {}
    for name, cls, extra in (("mpo", MPOTrainer, {"objective": "dpo"}), ("dpo", DPOTrainer, {})):
        policy = trl_tiny.model(0)
        trainer = cls(
            model=policy,
            ref_model=copy.deepcopy(policy),
            args=trl_tiny.config(tmp_path / name, per_device_eval_batch_size=8),
            train_dataset=data,
            eval_dataset=data,
            processing_class=trl_tiny.tokenizer(),
            compute_metrics=metrics(name),
            **extra,
        )
        trainer.evaluate()
        results[name] = trainer.state.log_history[-1]  # what was logged (TRL < 1.16 returns fewer keys)
    assert seen["mpo"] == seen["dpo"] and len(seen["mpo"][0]) == 3  # (pairs x 2, tokens, vocab)
    assert results["mpo"]["eval_seen"] == 1.0
    for k in TRL_KEYS:
        if k != "num_tokens":
            assert results["mpo"][f"eval_{k}"] == pytest.approx(results["dpo"][f"eval_{k}"], abs=1e-5), k


# ----- granularity=token: per-token log-probs and completion masks -----------------------------------------
from symmpo.integrations.trl_trainer import _FUSED_HEAD  # noqa: E402

# per-token reference log-probs exist from TRL 1.15 on; older TRL (CI's lowest-version venv) gets a clear error
needs_token_trl = pytest.mark.skipif(not _FUSED_HEAD, reason="granularity=token needs TRL >= 1.15")


@pytest.mark.skipif(_FUSED_HEAD, reason="this TRL has per-token reference log-probs")
def test_token_objective_on_old_trl_is_refused_with_the_version(tmp_path):
    obj = Objective.named("dpo").with_granularity("token")
    with pytest.raises(ObjectiveError, match="TRL >= 1.15"):
        _trainer(MPOTrainer, tmp_path / "mpo", obj)


@needs_token_trl
def test_token_dpo_logs_the_same_as_trl_sigmoid(tmp_path):
    """Per-token DPO is DPO: inside TRL it trains and logs as DPOTrainer's sigmoid loss."""
    obj = Objective.named("dpo").with_granularity("token")
    ours = trl_tiny.train_logs(_trainer(MPOTrainer, tmp_path / "mpo", obj))
    theirs = trl_tiny.train_logs(_trainer(DPOTrainer, tmp_path / "dpo", loss_type=["sigmoid"]))
    _same_logs(ours, theirs)


TOKEN_OBJECTIVE = {**TA_OBJECTIVE, "name": "token-ta", "granularity": "token"}


class TokenRecording(MPOTrainer):
    """Keeps the policy's and the reference's per-token log-probs recomputed from plain logits, and the mask."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        with torch.no_grad():
            mask = inputs["completion_mask"][:, 1:].bool()
            ids = inputs["input_ids"]
            seen = []
            for m in (model, self.ref_model):
                logits = m(input_ids=ids, attention_mask=inputs["attention_mask"]).logits
                token = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
                seen.append(token * mask)
            self.independent.append((*seen, mask))
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


@needs_token_trl
def test_token_objective_inside_trl_and_exported_file_read_per_token_log_probs(tmp_path):
    """MPOTrainer hands a token objective per-token log-probs (recomputed here from plain logits, the
    reference's too) with the completion masks; its loss is Objective.loss on them; the exported TRL file
    (no symmpo) trains with the same logs."""
    obj = Objective.from_dict(TOKEN_OBJECTIVE)
    trainer = _trainer(TokenRecording, tmp_path / "mpo", obj, beta=0.5)
    trainer.independent, calls = [], []
    loss = trainer.loss_spec.loss

    def recording_loss(*args):
        calls.append(tuple(a.detach().clone() if torch.is_tensor(a) else a for a in args))
        return loss(*args)

    trainer.loss_spec = trainer.loss_spec._replace(loss=recording_loss)
    logs = trl_tiny.train_logs(trainer)
    assert len(calls) == STEPS
    for (pc, pr, rc, rr, mc, mr, tau), (policy, reference, mask), h in zip(
        calls, trainer.independent, logs, strict=True
    ):
        assert pc.dim() == 2 and mc.dtype == torch.bool and pc.shape == mc.shape
        assert torch.equal(torch.cat([mc, mr]), mask)
        torch.testing.assert_close(torch.cat([pc, pr]), policy, rtol=0, atol=1e-4)
        torch.testing.assert_close(torch.cat([rc, rr]), reference, rtol=0, atol=1e-4)
        assert h["loss"] == pytest.approx(
            float(obj.loss(pc, pr, rc, rr, mc, mr, progress=tau).mean()), abs=1e-6
        )
        assert h["logps/chosen"] == pytest.approx(float(pc.sum(1).mean()), abs=1e-4)
    assert not torch.allclose(calls[-1][2], calls[-1][0])  # the policy moved away from the reference
    src = tmp_path / "objective.yaml"
    obj.save(src)
    exported = tmp_path / "exported_trainer.py"
    assert main(["export", str(src), "--format", "trl", "-o", str(exported)]) == 0
    script = f"""
import importlib.util, json, sys, warnings
sys.modules["symmpo"] = None
sys.path.insert(0, {str(TESTS)!r})
warnings.filterwarnings("ignore")
import trl_tiny, copy
spec = importlib.util.spec_from_file_location("exported_trainer", {str(exported)!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
policy = trl_tiny.model(0)
trainer = mod.MPOTrainer(model=policy, ref_model=copy.deepcopy(policy),
                         args=trl_tiny.config({str(tmp_path / "out")!r}, max_steps={STEPS}, beta=0.5),
                         train_dataset=trl_tiny.dataset(), processing_class=trl_tiny.tokenizer())
print(json.dumps({{"logs": trl_tiny.train_logs(trainer), "granularity": mod.GRANULARITY}}))
"""
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["granularity"] == "token"
    for a, b in zip(out["logs"], logs, strict=True):
        for k in ("loss", "loss/preference", "loss/imitation", "objective/rewards/margins", *TRL_KEYS):
            assert a[k] == pytest.approx(b[k], abs=1e-5), k


def test_token_objective_refuses_precomputed_reference_log_probs(tmp_path):
    obj = Objective.named("dpo").with_granularity("token")
    with pytest.raises(ObjectiveError, match="per-token reference log-probs"):
        _trainer(MPOTrainer, tmp_path, obj, precompute_ref_log_probs=True)
