"""A tiny offline TRL setup for tests: GPT-2 from a config, a word-level tokenizer built here, 64 pairs.

Nothing is downloaded. Imports no symmpo code, so a fresh interpreter that cannot import symmpo can use it
(the exported-file test does).
"""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path
from typing import Any

WORDS = [f"w{i}" for i in range(24)]


def require_trl() -> None:
    """Skip the calling test module when TRL is genuinely absent; fail instead where it must be present.

    CI (``.ci/run``) sets SYMMPO_REQUIRE_TRL=1 after ``.ci/setup`` installed the trl extra, so a broken
    install there fails loudly rather than skipping these tests.
    """
    import pytest

    if importlib.util.find_spec("trl") is not None:
        return
    if os.environ.get("SYMMPO_REQUIRE_TRL"):
        pytest.fail(
            "SYMMPO_REQUIRE_TRL is set but TRL is not installed (pip install -e '.[trl]')", pytrace=False
        )
    pytest.skip("TRL is not installed (pip install -e '.[trl]'; CI installs it)", allow_module_level=True)


SPECIALS = ["<pad>", "<eos>", "<unk>"]


def tokenizer() -> Any:
    """Whitespace word-level tokenizer over WORDS; <eos> (id 1) is what TRL appends to completions."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


def model(seed: int = 0, init_range: float = 0.02) -> Any:
    """GPT-2 with 2 layers of width 64, initialised from ``seed`` (weights ~ N(0, init_range))."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(SPECIALS) + len(WORDS),
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=0,
        initializer_range=init_range,
    )
    return GPT2LMHeadModel(config)


def dataset(n: int = 64, seed: int = 0) -> Any:
    """n synthetic pairs: prompts of 2-4 words, responses of 1-6 words (chosen from the first half of WORDS)."""
    from datasets import Dataset

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4)))
        chosen = " " + " ".join(rng.choice(WORDS[:12]) for _ in range(rng.randint(1, 6)))
        rejected = " " + " ".join(rng.choice(WORDS[12:]) for _ in range(rng.randint(1, 6)))
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return Dataset.from_list(rows)


def config(output_dir: str | Path, config_class: Any = None, **overrides: Any) -> Any:
    """A DPOConfig (or ``config_class``) for a few CPU steps: fp32, no checkpoints, no reports."""
    if config_class is None:
        from trl import DPOConfig as config_class
    kwargs: dict[str, Any] = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 8,
        "max_steps": 5,
        "learning_rate": 1e-3,
        "logging_steps": 1,
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "save_strategy": "no",
        "disable_tqdm": True,
        "seed": 0,
        "dataloader_num_workers": 0,
    }
    fields = getattr(config_class, "__dataclass_fields__", {})
    # no activation checkpointing on a tiny model (transformers 5 renamed TRL's gradient_checkpointing)
    kwargs[
        "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    ] = False
    kwargs.update(overrides)
    return config_class(**kwargs)


def train_logs(trainer: Any) -> list[dict[str, float]]:
    """The per-step log entries of a finished run (the final summary entry dropped)."""
    trainer.train()
    return [h for h in trainer.state.log_history if "loss" in h]
