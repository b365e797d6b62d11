"""Tokenizer, model and LoRA adapters of SmolLM2-135M-Instruct, from the cached float32 checkpoint.

LoRA (peft) is what makes CPU studies feasible: a full fine-tuning step on 8 × 96 tokens takes ≈ 30 s on 2
cores, a LoRA step (r = 8 on q/v) on 8 × 64 tokens ≈ 1.7 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symmpo.llm.convert import float32_dir

LORA_TARGETS = ("q_proj", "v_proj")


def load_tokenizer(cache_dir: Path | str | None = None, padding_side: str = "left") -> Any:
    """The model's tokenizer; left padding by default, which batched generation needs (training pads per
    TRL's own collator, whatever this says)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(float32_dir(cache_dir))
    tok.padding_side = padding_side
    if tok.pad_token is None:  # the GGUF tokenizer pads with <|im_end|>; keep a pad token in any case
        tok.pad_token = tok.eos_token
    return tok


def load_model(cache_dir: Path | str | None = None, device: str = "cpu") -> Any:
    """The float32 model in eval mode on ``device`` (converted from the GGUF file on first use)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(float32_dir(cache_dir), dtype=torch.float32)
    return model.to(device).eval()


@dataclass(frozen=True)
class LoraSpec:
    """LoRA hyper-parameters (defaults: the setting timed in the issue, r = 8 on the q/v projections)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    targets: tuple[str, ...] = LORA_TARGETS

    def peft_config(self) -> Any:
        """A ``peft.LoraConfig``: what ``MPOTrainer(peft_config=...)`` or :func:`add_lora` take."""
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.targets),
            task_type="CAUSAL_LM",
        )


def add_lora(model: Any, spec: LoraSpec | None = None) -> Any:
    """``model`` wrapped with fresh LoRA adapters (only they train; disabling them gives the base model)."""
    from peft import get_peft_model

    return get_peft_model(model, (spec or LoraSpec()).peft_config())
