"""MPOTrainer on a LoRA (PEFT) model with ref_model=None equals DPOTrainer in the same setting.

TRL then takes the reference log-probs from the policy with its adapter disabled; MPOTrainer must reach them
through TRL's own reference pass. Runs when TRL and peft are installed (the ``trl`` extra installs both).
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import trl_tiny  # the tiny offline TRL setup shared by these tests

trl_tiny.require_trl()
if importlib.util.find_spec("peft") is None:
    if os.environ.get("SYMMPO_REQUIRE_TRL"):
        pytest.fail(
            "SYMMPO_REQUIRE_TRL is set but peft is not installed (pip install -e '.[trl]')", pytrace=False
        )
    pytest.skip("peft is not installed (pip install -e '.[trl]')", allow_module_level=True)

import torch  # noqa: E402
from peft import LoraConfig  # noqa: E402
from trl import DPOTrainer  # noqa: E402

from symmpo.integrations.trl import MPOTrainer  # noqa: E402

STEPS = 4
KEYS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen", "entropy")


def _lora() -> LoraConfig:
    # fan_in_fan_out: GPT-2's attention projections are Conv1D layers
    return LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True, lora_dropout=0.0)


def _train(cls, tmp_path, **extra):
    trainer = cls(
        model=trl_tiny.model(0, init_range=0.3),
        ref_model=None,
        args=trl_tiny.config(tmp_path, max_steps=STEPS, learning_rate=1e-2),
        train_dataset=trl_tiny.dataset(),
        processing_class=trl_tiny.tokenizer(),
        peft_config=_lora(),
        **extra,
    )
    logs = trl_tiny.train_logs(trainer)
    lora = {k: v.detach().clone() for k, v in trainer.model.named_parameters() if "lora_" in k}
    return trainer, logs, lora


def test_lora_without_ref_model_equals_dpo_trainer(tmp_path):
    mpo, ours, ours_lora = _train(MPOTrainer, tmp_path / "mpo", objective="dpo")
    _, theirs, their_lora = _train(DPOTrainer, tmp_path / "dpo")
    assert mpo.ref_model is None and ours_lora  # the reference is the policy with its adapter disabled
    assert len(ours) == len(theirs) == STEPS
    for a, b in zip(ours, theirs, strict=True):
        for k in KEYS:
            assert a[k] == pytest.approx(b[k], abs=1e-5), (k, a["step"])
    assert ours[-1]["rewards/margins"] != 0.0  # the adapter moved the policy away from its reference
    for k, v in ours_lora.items():
        torch.testing.assert_close(v, their_lora[k], rtol=1e-4, atol=1e-5)
