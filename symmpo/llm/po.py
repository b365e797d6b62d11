"""One preference-optimization run on SmolLM2-135M-Instruct: LoRA through ``MPOTrainer``, scored greedily.

A run is a pure function of (objective, setting, training seed, configuration, learning rate): it loads the
cached on-policy dataset of the setting (dataset seed of the configuration), adds fresh LoRA adapters to the
instruct model (peft initializes them from the training seed), trains them with the objective, and scores
the greedy answers to the configuration's evaluation prompts with the task's true reward. Reference-using
objectives get their reference log-probs precomputed once by TRL before training (the instruct model itself:
the policy with its adapters disabled), so each step runs one forward and backward pass only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import SymmpoError
from symmpo.llm.datasets import LLMDataConfig, LLMDataset, load_dataset
from symmpo.llm.tasks import ROLES, get_task


@dataclass(frozen=True)
class LLMConfig:
    """Data, LoRA, PO and evaluation settings of one LLM run (everything but objective, seed and lr)."""

    task: str = "sort"
    n_prompts: int = 64  # train prompts sampled for the pool
    samples: int = 4  # responses per prompt
    n_pairs: int | None = None  # default n_prompts * samples / 2
    temperature: float = 0.7
    data_max_new_tokens: int = 32
    lora_r: int = 8
    lora_alpha: int = 16
    epochs: float = 1.0
    batch_size: int = 8  # pairs per optimizer step
    lr: float = 2e-4  # LoRA learning rate (linear decay to 0, AdamW); not tuned yet
    max_length: int = 128  # prompt (≈ 60 tokens for sort) + response (≤ 32) + EOS fits
    eval_prompts: int = 50
    eval_max_new_tokens: int = 32
    dataset_seed: int = 0
    eval_split: str = "fitness"
    device: str = "cpu"

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.eval_split not in ROLES[1:]:
            raise SymmpoError(f"eval_split must be 'fitness' or 'heldout', got {self.eval_split!r}")
        if min(self.batch_size, self.eval_prompts, self.lora_r, self.max_length) < 1 or self.epochs <= 0:
            raise SymmpoError("batch_size, eval_prompts, lora_r, max_length and epochs must be positive")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> LLMConfig:
        """``default`` (a CPU study) or ``tiny`` (tests: a few prompts, short answers, one or two steps)."""
        presets: dict[str, dict[str, Any]] = {
            "default": {},
            "tiny": dict(
                n_prompts=4,
                samples=2,
                n_pairs=4,
                data_max_new_tokens=8,
                lora_r=4,
                lora_alpha=8,
                batch_size=2,
                lr=1e-3,
                max_length=80,
                eval_prompts=4,
                eval_max_new_tokens=8,
            ),
        }
        if name not in presets:
            raise SymmpoError(f"unknown llm preset {name!r}; choose from {', '.join(presets)}")
        return dataclasses.replace(cls(), **{**presets[name], **overrides})

    def fitness(self) -> LLMConfig:
        from symmpo import protocol

        return dataclasses.replace(self, dataset_seed=protocol.FITNESS_DATASET_SEED, eval_split="fitness")

    def heldout(self, dataset_seed: int | None = None) -> LLMConfig:
        from symmpo import protocol

        ds = protocol.HELDOUT_DATASET_SEED if dataset_seed is None else dataset_seed
        return dataclasses.replace(self, dataset_seed=ds, eval_split="heldout")

    def data_config(self, setting: str) -> LLMDataConfig:
        return LLMDataConfig(
            task=self.task,
            setting=setting,
            seed=self.dataset_seed,
            n_prompts=self.n_prompts,
            samples=self.samples,
            n_pairs=self.n_pairs,
            temperature=self.temperature,
            max_new_tokens=self.data_max_new_tokens,
            device=self.device,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LLMConfig:
        return cls(**d)

    def hash(self) -> str:
        """Identifies the results of this configuration; the device is left out (a GPU run of the same
        configuration answers the same question)."""
        d = {k: v for k, v in self.to_dict().items() if k != "device"}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _quiet() -> Any:
    from symmpo.text.po import quiet

    return quiet()


REFERENCE_VERSION = 1


def reference_logps(
    ds: LLMDataset, cfg: LLMConfig, cache_dir: Path | None = None
) -> dict[str, np.ndarray] | None:
    """The instruct model's summed log-probs of every pair's chosen and rejected response, computed once per
    dataset by TRL's own precompute pass (the same tokenization and truncation as training) and cached.

    With LoRA the reference is the instruct model, whatever the objective and training seed: one pass
    serves every run of a dataset instead of one per run (≈ 100 s of a ≈ 6 min CPU run). None when TRL
    dropped rows (a prompt longer than ``max_length``), so the values could not be aligned with the pairs.
    """
    from datasets import Dataset
    from trl import DPOConfig

    from symmpo.integrations.trl import MPOTrainer
    from symmpo.llm.files import GGUF_SHA256
    from symmpo.llm.model import load_model, load_tokenizer
    from symmpo.suite.datasets import cached, config_key, default_cache_dir
    from symmpo.text.lm import trainer_args

    config = {
        "version": REFERENCE_VERSION,
        "dataset": ds.meta["sha256"],
        "max_length": cfg.max_length,
        "model_gguf_sha256": GGUF_SHA256,
        "device": cfg.device,
    }
    root = Path(cache_dir or default_cache_dir()) / "llm" / "reference"

    def make() -> dict[str, np.ndarray]:
        model = load_model(
            cache_dir, cfg.device
        )  # fresh, without adapters: TRL's reference is the model itself
        with _quiet(), tempfile.TemporaryDirectory() as work:
            args = trainer_args(
                DPOConfig,
                work,
                0,
                per_device_train_batch_size=cfg.batch_size,
                max_length=cfg.max_length,
                precompute_ref_log_probs=True,
                use_cpu=cfg.device == "cpu",
            )
            trainer = MPOTrainer(
                objective="dpo",
                model=model,
                ref_model=None,
                args=args,
                train_dataset=Dataset.from_list(ds.rows),
                processing_class=load_tokenizer(cache_dir),
            )
            data = trainer.train_dataset
            if len(data) != len(ds.rows):
                return {"chosen": np.zeros(0, np.float32), "rejected": np.zeros(0, np.float32)}
            return {
                "chosen": np.asarray(data["ref_chosen_logps"], dtype=np.float32),
                "rejected": np.asarray(data["ref_rejected_logps"], dtype=np.float32),
            }

    arrays, _ = cached(root / f"{ds.meta['name']}-{config_key(config)}", config, True, make)
    return arrays if len(arrays["chosen"]) == len(ds.rows) else None


def train(
    objective: Any,
    ds: LLMDataset,
    seed: int,
    cfg: LLMConfig,
    lr: float,
    model: Any,
    tokenizer: Any,
    reference: dict[str, np.ndarray] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The LoRA policy after PO and the run's last logged training metrics (``model`` is wrapped, not copied).

    ``reference`` (from :func:`reference_logps`) gives the reference log-probs as dataset columns; without
    it a reference-using objective has TRL precompute them for this run.
    """
    import torch

    from symmpo.llm.model import LoraSpec
    from symmpo.text.po import train_mpo, trainer_metrics

    torch.manual_seed(seed)
    lora = LoraSpec(r=cfg.lora_r, alpha=cfg.lora_alpha)
    given = objective.uses_reference and reference is not None
    rows = ds.rows
    if given:
        rows = [
            {**row, "ref_chosen_logps": float(c), "ref_rejected_logps": float(r)}
            for row, c, r in zip(ds.rows, reference["chosen"], reference["rejected"], strict=True)
        ]
    trainer = train_mpo(
        objective,
        model,
        rows,
        tokenizer,
        seed,
        ref_in_rows=given,  # LoRA: the reference is the instruct model (adapters disabled)
        peft_config=lora.peft_config(),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=lr,
        max_length=cfg.max_length,
        use_cpu=cfg.device == "cpu",
    )
    metrics = trainer_metrics(trainer)
    policy = trainer.model
    policy.eval()
    return policy, metrics


def score(model: Any, tokenizer: Any, cfg: LLMConfig) -> dict[str, Any]:
    """100 × mean true reward of greedy answers on the configuration's evaluation prompts (and details)."""
    from symmpo.llm.evaluate import greedy_score

    s = greedy_score(
        model,
        tokenizer,
        get_task(cfg.task),
        cfg.eval_split,
        cfg.eval_prompts,
        max_new_tokens=cfg.eval_max_new_tokens,
    )
    summary = s.summary()
    return {
        "score": 100.0 * summary["mean_reward"],
        "exact": summary["exact"],
        "finished": summary["finished"],
        "answer_tokens": summary["answer_tokens"],
        "eval_seconds": s.seconds,
    }


def run(
    objective: Any,
    setting: str,
    seed: int,
    cfg: LLMConfig,
    lr: float | None = None,
    cache_dir: Path | None = None,
    reuse_reference: bool = True,
) -> dict[str, Any]:
    """Train and score one objective; a run whose weights or loss stop being finite scores −inf (diverged).

    ``reuse_reference``: reference log-probs from the per-dataset cache (:func:`reference_logps`; training
    time then excludes them) instead of TRL's pass inside this run.
    """
    from symmpo.llm.model import load_model, load_tokenizer

    tokenizer, model = load_tokenizer(cache_dir), load_model(cache_dir, cfg.device)
    ds = load_dataset(cfg.data_config(setting), cache_dir, model, tokenizer)
    reference = reference_logps(ds, cfg, cache_dir) if objective.uses_reference and reuse_reference else None
    wall, cpu = time.perf_counter(), time.process_time()
    policy, metrics = train(
        objective, ds, seed, cfg, cfg.lr if lr is None else lr, model, tokenizer, reference
    )
    out: dict[str, Any] = {
        "dataset": ds.meta["sha256"],
        "train_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        **metrics,
    }
    loss = metrics.get("train_loss", math.nan)
    from symmpo.text.po import finite

    if not (finite(policy) and math.isfinite(loss)):
        return {**out, "score": -math.inf, "alive": False, "reason": f"non-finite weights or loss ({loss})"}
    return {**out, **score(policy, tokenizer, cfg), "alive": True, "reason": ""}


def evaluate_base(cfg: LLMConfig, cache_dir: Path | None = None) -> dict[str, Any]:
    """The no-PO row: the instruct model itself, scored like a PO run (greedy: one evaluation per table)."""
    from symmpo.llm.model import load_model, load_tokenizer

    tokenizer, model = load_tokenizer(cache_dir), load_model(cache_dir, cfg.device)
    return {**score(model, tokenizer, cfg), "alive": True, "reason": ""}
