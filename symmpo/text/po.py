"""One preference-optimization run on the text suite, through ``MPOTrainer`` (TRL's ``DPOTrainer``).

A run is a pure function of (objective, setting, training seed, configuration, learning rate): it loads the
cached dataset and the cached π_ref of that (setting, seed), trains a copy of π_ref with the objective
(reference-using objectives get another copy as the frozen reference; its log-probs are precomputed once by
TRL), and scores the greedy generations on the configuration's evaluation prompts.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from symmpo.text import lm
from symmpo.text.config import TextConfig
from symmpo.text.datasets import TextDataConfig, TextDataset, load_dataset
from symmpo.text.task import eval_prompts


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress bars, per-step log prints or library warnings from datasets / transformers / TRL."""
    import datasets
    from transformers.utils import logging as hf_logging

    was_enabled = datasets.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    tqdm_env = os.environ.get("TQDM_DISABLE")
    datasets.disable_progress_bars()
    hf_logging.set_verbosity_error()
    os.environ["TQDM_DISABLE"] = "1"  # TRL's reference-log-prob pass reads it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if tqdm_env is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_env
        if was_enabled:
            datasets.enable_progress_bars()


def data_config(setting: str, cfg: TextConfig) -> TextDataConfig:
    return TextDataConfig(setting=setting, seed=cfg.dataset_seed, n_pairs=cfg.n_pairs, spec=cfg.spec)


def load(setting: str, seed: int, cfg: TextConfig, cache_dir: Path) -> tuple[TextDataset, Any, str, float]:
    """(dataset, π_ref, reference key, seconds spent on SFT: 0 when cached) of one (setting, seed) cell."""
    ds = load_dataset(data_config(setting, cfg), cache_dir)
    rows, sha = ds.rows, ds.meta["sha256"]
    if cfg.sft_levels:  # separate SFT data (shared by every setting of the dataset seed)
        from symmpo.text.sft_data import load_sft_data

        sft = load_sft_data(data_config(setting, cfg), cfg.sft_levels, cache_dir)
        rows, sha = sft.rows, sft.sha256
    with quiet(), tempfile.TemporaryDirectory() as work:
        ref, key, secs = lm.reference(rows, sha, cfg.model, cfg.sft, seed, cache_dir, Path(work))
    return ds, ref, key, secs


def finite(model: Any) -> bool:
    """Every weight finite (a diverged run scores −inf)."""
    return all(bool(p.isfinite().all()) for p in model.parameters())


def train_mpo(
    objective: Any,
    model: Any,
    rows: list[dict[str, Any]],
    tokenizer: Any,
    seed: int,
    ref_model: Any = None,
    ref_in_rows: bool = False,
    peft_config: Any = None,
    **dpo: Any,
) -> Any:
    """One PO run through ``MPOTrainer`` (TRL's DPOTrainer; linear schedule, one log summary at the end), as
    both token-level suites train: the trainer after training.

    ``ref_in_rows``: the rows carry ``ref_chosen_logps`` / ``ref_rejected_logps`` (no reference pass); without
    them a reference-using objective has TRL precompute its log-probs. ``dpo``: the run's ``DPOConfig`` fields
    (epochs, batch size, learning rate, maximum length, device).
    """
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import DPOConfig

    from symmpo.integrations.trl import MPOTrainer, trl_beta

    with quiet(), tempfile.TemporaryDirectory() as work:
        args = lm.trainer_args(
            DPOConfig,
            work,
            seed,
            lr_scheduler_type="linear",
            precompute_ref_log_probs=objective.uses_reference and not ref_in_rows,
            beta=trl_beta(objective),  # the objective fixes beta; DPOConfig must agree
            logging_steps=10**6,  # one summary at the end
            **dpo,
        )
        trainer = MPOTrainer(
            objective=objective,
            model=model,
            ref_model=ref_model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            allow_unproved=True,  # search candidates are scored whatever their verdicts
            **({"peft_config": peft_config} if peft_config is not None else {}),
        )
        if ref_in_rows:  # TRL's flag: the batches carry the reference log-probs (its collator passes them on)
            trainer.precompute_ref_logps = True
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    return trainer


def train(
    objective: Any, reference: Any, ds: TextDataset, seed: int, cfg: TextConfig, lr: float
) -> tuple[Any, dict]:
    """The policy after PO (a fresh copy of π_ref) and the run's last logged training metrics."""
    import torch

    torch.manual_seed(seed)
    state = lm.weights(reference)
    policy = lm.from_weights(cfg.model, state)
    ref = lm.from_weights(cfg.model, state) if objective.uses_reference else None
    trainer = train_mpo(
        objective,
        policy,
        ds.rows,
        lm.tokenizer(),
        seed,
        ref_model=ref,
        num_train_epochs=cfg.po_epochs,
        per_device_train_batch_size=cfg.po_batch_size,
        learning_rate=lr,
        max_length=cfg.model.n_positions,
    )
    metrics = trainer_metrics(trainer)
    policy.eval()
    return policy, metrics


def trainer_metrics(trainer: Any) -> dict[str, Any]:
    """The last logged training metrics under the names results use (the objective's own rewards: TRL's
    rewards/* are beta * log-ratio), and the number of optimizer steps taken."""
    summary = trainer.state.log_history[-1] if trainer.state.log_history else {}
    keys = {
        "train_loss": "train_loss",
        "objective/rewards/accuracies": "rewards_accuracies",
        "objective/rewards/margins": "rewards_margins",
        "nll/chosen": "nll_chosen",
    }
    metrics: dict[str, Any] = {name: float(summary[k]) for k, name in keys.items() if k in summary}
    metrics["steps"] = int(trainer.state.global_step)
    return metrics


def run(
    objective: Any, setting: str, seed: int, cfg: TextConfig, lr: float, cache_dir: Path
) -> dict[str, Any]:
    """Train and score one objective; a run whose weights or loss stop being finite scores −inf (diverged)."""
    import torch

    torch.set_num_threads(1)
    ds, reference, ref_key, _ = load(setting, seed, cfg, cache_dir)
    wall, cpu = time.perf_counter(), time.process_time()
    policy, metrics = train(objective, reference, ds, seed, cfg, lr)
    out: dict[str, Any] = {
        "dataset": ds.meta["sha256"],
        "reference": ref_key,
        "train_seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        **metrics,
    }
    loss = metrics.get("train_loss", math.nan)
    if not (finite(policy) and math.isfinite(loss)):
        return {**out, "score": -math.inf, "alive": False, "reason": f"non-finite weights or loss ({loss})"}
    with quiet():
        scores = lm.evaluate(policy, eval_prompts(cfg.spec, cfg.eval_split, cfg.eval_prompts), cfg.spec)
    return {**out, **scores, "alive": True, "reason": ""}


def evaluate_reference(setting: str, seed: int, cfg: TextConfig, cache_dir: Path) -> dict[str, Any]:
    """The SFT-only row: π_ref itself, scored like a PO run (builds and caches π_ref when missing)."""
    import torch

    torch.set_num_threads(1)
    cpu = time.process_time()
    ds, reference, ref_key, secs = load(setting, seed, cfg, cache_dir)
    with quiet():
        scores = lm.evaluate(reference, eval_prompts(cfg.spec, cfg.eval_split, cfg.eval_prompts), cfg.spec)
    return {
        "dataset": ds.meta["sha256"],
        "reference": ref_key,
        "sft_seconds": secs,
        "cpu_seconds": time.process_time() - cpu,
        **scores,
        "alive": True,
        "reason": "",
    }
