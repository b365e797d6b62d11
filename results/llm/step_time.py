"""Time LoRA preference-optimization steps of SmolLM2-135M-Instruct through symmpo's MPOTrainer (TRL).

    SYMMPO_CACHE=... nice python results/llm/step_time.py --threads 1 --steps 4 --batch 8

Trains DPO (precomputed reference log-probs, i.e. the base model with its adapters disabled, one pass
before training) on the cached sort-clean on-policy dataset of `symmpo llm data sort` (seed 0) and prints
the seconds of the reference pass and per optimizer step. Writes nothing; the numbers go to README.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8, help="pairs per step")
    ap.add_argument("--r", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import DPOConfig

    from symmpo.integrations.trl import MPOTrainer
    from symmpo.llm.datasets import LLMDataConfig, load_dataset
    from symmpo.llm.model import LoraSpec, load_model, load_tokenizer

    ds = load_dataset(LLMDataConfig(task="sort", setting="clean", seed=0))
    tok, model = load_tokenizer(), load_model()
    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):  # noqa: ANN002, ANN003
            stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as work:
        cfg = DPOConfig(
            output_dir=work,
            per_device_train_batch_size=args.batch,
            max_steps=args.steps,
            learning_rate=2e-4,
            max_length=128,
            precompute_ref_log_probs=True,
            beta=0.1,
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            use_cpu=True,
            disable_tqdm=True,
            seed=0,
        )
        start = time.perf_counter()
        trainer = MPOTrainer(
            objective="dpo",
            model=model,
            ref_model=None,
            args=cfg,
            train_dataset=Dataset.from_list(ds.rows),
            processing_class=tok,
            peft_config=LoraSpec(r=args.r).peft_config(),
            callbacks=[Clock()],
        )
        built = time.perf_counter()
        trainer.train()
    lengths = [len(tok(r["prompt"] + r["chosen"], add_special_tokens=False).input_ids) for r in ds.rows]
    steps = [b - a for a, b in zip([built, *stamps[:-1]], stamps, strict=True)]
    print(
        json.dumps(
            {
                "threads": args.threads,
                "pairs_per_step": args.batch,
                "lora_r": args.r,
                "mean_tokens_prompt_plus_chosen": sum(lengths) / len(lengths),
                "max_tokens_prompt_plus_chosen": max(lengths),
                "trainer_init_with_reference_pass_s": round(built - start, 1),
                "pairs_in_reference_pass": len(ds),
                "step_s": [round(s, 2) for s in steps],
                "losses": [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h],
            }
        )
    )


if __name__ == "__main__":
    main()
