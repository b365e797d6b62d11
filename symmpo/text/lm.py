"""The tiny causal LM: a locally built tokenizer, GPT-2 from a config, the SFT reference, greedy evaluation.

Nothing is downloaded: the tokenizer is a word-level vocabulary of 14 tokens (``<pad> <eos> <unk> =`` and
the ten digits) built with ``tokenizers``, and the model is ``transformers``' GPT-2 initialised from a seed.
π_ref is that model after supervised fine-tuning (TRL's ``SFTTrainer``, loss on the completion tokens only)
on the chosen responses of the preference dataset, as the MuJoCo suite's reference is behaviour cloning on
its chosen responses, or on separate SFT data (:mod:`symmpo.text.sft_data`, as MuJoCo suite v3); it is cached
(safetensors) per (SHA-256 of its data, seed, model and SFT config).
Evaluation is the mean true reward of *greedy* generations on evaluation prompts.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.text.task import EOS, PAD, UNK, VOCAB, Prompt, TaskSpec, prompt_text, reward, target


@dataclass(frozen=True)
class ModelConfig:
    """GPT-2 hyperparameters (dropout off: the data are exact and TRL's DPO disables it anyway)."""

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_positions: int = 32


@dataclass(frozen=True)
class SFTConfig:
    """Supervised fine-tuning of π_ref on the chosen responses."""

    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 2e-3


def tokenizer() -> Any:
    """Whitespace word-level tokenizer over the task's vocabulary (``<eos>`` is id 1, ``<pad>`` id 0)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, unk_token=UNK)


def build_model(cfg: ModelConfig, seed: int) -> Any:
    """GPT-2 from ``cfg`` with weights drawn from ``seed``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(VOCAB),
        n_positions=cfg.n_positions,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        bos_token_id=VOCAB.index(EOS),
        eos_token_id=VOCAB.index(EOS),
        pad_token_id=VOCAB.index(PAD),
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return GPT2LMHeadModel(config)


def trainer_args(config_class: Any, output_dir: str | Path, seed: int, **kwargs: Any) -> Any:
    """A TRL config for a quiet, deterministic CPU run: fp32, no checkpoints, no reports, no progress bars."""
    fields = getattr(config_class, "__dataclass_fields__", {})
    base: dict[str, Any] = {
        "output_dir": str(output_dir),
        "report_to": "none",
        "use_cpu": True,
        "bf16": False,
        "save_strategy": "no",
        "disable_tqdm": True,
        "seed": seed,
        "data_seed": seed,
        "dataloader_num_workers": 0,
        "logging_steps": 10,
        "log_level": "error",
    }
    # no activation checkpointing on a tiny model (transformers 5 renamed gradient_checkpointing)
    base["activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"] = (
        False
    )
    base.update(kwargs)
    return config_class(**base)


def train_sft(
    rows: list[dict[str, str]], model_cfg: ModelConfig, sft: SFTConfig, seed: int, workdir: Path
) -> Any:
    """π_ref: GPT-2 from ``seed`` fine-tuned on the (prompt, chosen) pairs of ``rows``, loss on completions."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    model = build_model(model_cfg, seed)
    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["chosen"]} for r in rows])
    args = trainer_args(
        TRLSFTConfig,
        workdir,
        seed,
        num_train_epochs=sft.epochs,
        per_device_train_batch_size=sft.batch_size,
        learning_rate=sft.lr,
        lr_scheduler_type="cosine",
        warmup_steps=0,
        completion_only_loss=True,
        max_length=model_cfg.n_positions,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer())
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    model.eval()
    return model


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def reference(
    rows: list[dict[str, str]],
    data_sha: str,
    model_cfg: ModelConfig,
    sft: SFTConfig,
    seed: int,
    cache_dir: Path,
    workdir: Path,
) -> tuple[Any, str, float]:
    """(π_ref, its cache key, seconds spent training it: 0 when it came from the cache)."""
    from safetensors.torch import load_file, save_file

    key = _hash({"data": data_sha, "seed": seed, "model": asdict(model_cfg), "sft": asdict(sft), "v": 1})
    path = Path(cache_dir) / "text" / "reference" / f"{key}.safetensors"
    secs = 0.0
    if not path.exists():
        t0 = time.perf_counter()
        trained = train_sft(rows, model_cfg, sft, seed, workdir)
        secs = time.perf_counter() - t0
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        save_file(weights(trained), str(tmp))
        os.replace(tmp, path)  # atomic: two workers building the same reference both write the same bytes
    # always a fresh model from the stored weights: the trainer leaves wrappers on the model it trained, and
    # a run must not depend on whether its reference was trained in this process or read from the cache
    return from_weights(model_cfg, load_file(str(path))), key, secs


def weights(model: Any) -> dict[str, Any]:
    """The model's tensors, without the LM head (tied to the token embedding)."""
    return {
        k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"
    }


def from_weights(cfg: ModelConfig, state: dict[str, Any]) -> Any:
    """A fresh GPT-2 holding ``state`` (a policy or reference copy that shares nothing with another model)."""
    model = build_model(cfg, 0)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise ValueError(f"weights do not fit the model config: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model


def greedy(model: Any, prompts: list[Prompt], spec: TaskSpec, batch_size: int = 256) -> list[list[str]]:
    """Greedy completions (tokens before the first EOS) of each prompt; prompts of one length are batched
    together, so no padding enters any forward pass."""
    import torch

    tok_id = {t: i for i, t in enumerate(VOCAB)}
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_len[len(p)].append(i)
    out: list[list[str]] = [[] for _ in prompts]
    model.eval()
    with torch.no_grad():
        for idx in by_len.values():
            for start in range(0, len(idx), batch_size):
                chunk = idx[start : start + batch_size]
                ids = torch.tensor([[tok_id[t] for t in prompt_text(prompts[i]).split()] for i in chunk])
                gen = model.generate(
                    input_ids=ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=spec.max_response + 1,
                    do_sample=False,
                    eos_token_id=tok_id[EOS],
                    pad_token_id=tok_id[PAD],
                )
                for i, row in zip(chunk, gen[:, ids.shape[1] :].tolist(), strict=True):
                    tokens = [VOCAB[t] for t in row]
                    out[i] = tokens[: tokens.index(EOS)] if EOS in tokens else tokens
    return out


def evaluate(model: Any, prompts: list[Prompt], spec: TaskSpec) -> dict[str, float]:
    """Score = 100 × mean true reward of greedy generations; also exact-match rate and length bias."""
    t0 = time.perf_counter()
    gens = greedy(model, prompts, spec)
    rewards = np.array([reward(p, g) for p, g in zip(prompts, gens, strict=True)])
    exact = np.mean([g == [str(d) for d in target(p)] for p, g in zip(prompts, gens, strict=True)])
    extra = np.mean([len(g) - len(p) for p, g in zip(prompts, gens, strict=True)])
    return {
        "score": float(100.0 * rewards.mean()),
        "exact": float(exact),
        "extra_tokens": float(extra),
        "eval_seconds": time.perf_counter() - t0,
    }
