"""``symmpo transfer text``: judge named and discovered losses on the token-level sorting suite (TRL)."""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError


def register(subparsers: Any) -> None:
    from symmpo.commands._args import cache_parent, int_in, table_columns, table_parent
    from symmpo.search.executors import EXECUTORS
    from symmpo.studies.members import BASELINES
    from symmpo.text.datasets import SETTINGS

    p = subparsers.add_parser(
        "transfer",
        help="transfer study on text: losses trained with TRL on a token-level preference suite",
        description="Trains a tiny GPT-2 (built from a config, local tokenizer) on the sorting suite: SFT on the "
        "chosen responses gives π_ref, every objective runs through symmpo's MPOTrainer (TRL's DPOTrainer), and "
        "the score is 100 × the mean true reward of greedy answers to held-out prompts. Writes table.md (IQM with "
        "bootstrap CIs, Holm-corrected verdicts), stats.json, table.csv and table.png. Resumable: rerun the same "
        "command after an interruption.",
    )
    sub = p.add_subparsers(dest="suite", metavar="SUITE", required=True)
    t = sub.add_parser(
        "text", parents=[table_parent(), cache_parent()], help="the sorting suite (see docs/transfer.md)"
    )
    t.add_argument(
        "--objectives",
        nargs="+",
        default=list(BASELINES),
        metavar="NAME|FILE|LABEL=FILE",
        help="named losses and objective files, e.g. dpo simpo results/RUN/objectives/hof_01.yaml "
        f"(default: {' '.join(BASELINES)}); the SFT reference is always in the table",
    )
    table_columns(t, SETTINGS, None, "number of training seeds of the table: 1000..1000+N-1 (default 5)")
    sweep_flags(t, 2, "on the fitness split of sort-clean")
    t.add_argument(
        "--file-lr",
        metavar="LR|BASELINE",
        help="learning rate of the objective files: a number, or a swept baseline whose chosen rate they share "
        "(default: the configuration's; files are never tuned on text)",
    )
    t.add_argument("--describe", action="store_true", help="print the suite (levels, settings) and exit")
    t.add_argument("--preset", default="default", choices=["default", "tiny"])
    t.add_argument(
        "--sft-levels",
        nargs="+",
        metavar="LEVEL",
        help="train π_ref on separate SFT data: responses of these behaviour levels (e.g. poor fair) on prompts "
        "disjoint from the pairs' (default: the chosen responses of the pairs)",
    )
    t.add_argument("--sft-epochs", type=float, help="SFT epochs of π_ref (overrides the preset)")
    t.add_argument("--out", default="results/transfer-text", help="output directory")
    t.add_argument(
        "--executor", choices=EXECUTORS, default="local", help="where runs execute (default: local)"
    )
    t.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    t.set_defaults(func=run)

    g = sub.add_parser(
        "llm",
        parents=[table_parent(), cache_parent("model and dataset cache", progress=False)],
        help="SmolLM2-135M-Instruct with LoRA on on-policy data (see docs/llm.md)",
        description="Trains LoRA adapters of SmolLM2-135M-Instruct with every objective through MPOTrainer "
        "(reference log-probs precomputed) on cached on-policy preference data, scores greedy answers to "
        "held-out prompts and writes table.md, stats.json, table.csv and table.png (IQM with bootstrap CIs, "
        "Holm). Named baselines are tuned first on the fitness split (--sweep: scale parameter × learning rate, "
        "chosen per column; objective files are never tuned on text). Resumable.",
    )
    g.add_argument(
        "--objectives",
        nargs="+",
        default=["dpo", "ipo", "orpo", "simpo"],
        metavar="NAME|FILE|LABEL=FILE",
        help="named losses and objective files (default: dpo ipo orpo simpo); the instruct model is always in",
    )
    table_columns(g, ("clean", "mixed-0.5"), 3, "training seeds 1000..1000+N-1 (default 3)")
    g.add_argument("--task", default="sort", help="sort, add or words (default sort)")
    sweep_flags(g, 1, "on each column's fitness split")
    g.add_argument(
        "--sweep-factors",
        nargs="+",
        type=float,
        default=None,
        metavar="F",
        help="multiples of each baseline's default scale parameter (default: 0.3 1 3)",
    )
    g.add_argument(
        "--sweep-lrs",
        nargs="+",
        type=float,
        default=None,
        metavar="LR",
        help="LoRA learning rates (default: 1e-4 3e-4)",
    )
    g.add_argument("--preset", default="default", choices=["default", "tiny"])
    g.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    g.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads of this process: data generation, reference pass, instruct row, and the runs "
        "with --executor inline (default: torch's; workers always run single-threaded)",
    )
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where the PO runs execute: local worker processes (default), inline (this process, one after "
        "another) or ray",
    )
    g.add_argument(
        "--workers",
        type=int_in(1, 4096),
        help="PO runs at once, one single-threaded process each (default: all cores on CPU, 1 with "
        "--device cuda)",
    )
    g.add_argument(
        "--oversubscribe", action="store_true", help="allow more local workers than the machine has cores"
    )
    g.add_argument("--out", default="results/transfer-llm", help="output directory")
    g.set_defaults(func=run_llm)


def sweep_flags(p: argparse.ArgumentParser, seeds: int, where: str) -> None:
    """--sweep, --no-sweep and --sweep-seeds, as every transfer table has them."""
    p.add_argument(
        "--sweep",
        action="store_true",
        help=f"first tune the named baselines (scale parameter, learning rate) {where} (sweep.md, sweep.json), "
        "then run the table",
    )
    p.add_argument("--no-sweep", action="store_true", help="use the named defaults (no sweep needed)")
    p.add_argument(
        "--sweep-seeds",
        type=int,
        default=seeds,
        help=f"number of training seeds of the sweep: 0..N-1 (default {seeds})",
    )


def describe(cfg: Any, settings: list[str], cache_dir: Path) -> str:
    """Markdown: the measured true reward of every behaviour level and what each setting does to the labels."""
    from symmpo.text.behaviour import measure_levels
    from symmpo.text.datasets import describe as describe_data
    from symmpo.text.datasets import load_dataset, task_name
    from symmpo.text.po import data_config

    lines = [
        f"Behaviour levels (prompts of {cfg.spec.min_len}-{cfg.spec.max_len} digits; 2000 measurement prompts):",
        "",
        "| level | error rate | true reward (mean ± s.d.) | exact | length − target |",
        "|---|---|---|---|---|",
    ]
    for r in measure_levels(cfg.spec):
        lines.append(
            f"| {r['level']} | {r['error']} | {r['reward']:.3f} ± {r['reward_sd']:.3f} | {r['exact']:.3f} | "
            f"{r['extra_tokens']:+.2f} |"
        )
    lines += [
        "",
        f"Settings (dataset seed {cfg.dataset_seed}, {cfg.n_pairs} pairs):",
        "",
        "| task | chosen better | tied | chosen worse | reward chosen / rejected | chosen longer | length gap |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in settings:
        d = describe_data(load_dataset(data_config(s, cfg), cache_dir))
        lines.append(
            f"| {task_name(s)} | {d['chosen_better']:.3f} | {d['tied']:.3f} | {d['chosen_worse']:.3f} | "
            f"{d['reward_chosen']:.3f} / {d['reward_rejected']:.3f} | {d['chosen_longer']:.3f} | "
            f"{d['length_gap']:+.2f} |"
        )
    return "\n".join(lines)


def text_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """--sft-levels and --sft-epochs as TextConfig fields (recorded in the configuration and its hash)."""
    out: dict[str, Any] = {}
    if args.sft_levels:
        out["sft_levels"] = tuple(args.sft_levels)
    if args.sft_epochs is not None:
        if not args.sft_epochs > 0:
            raise SymmpoError(f"--sft-epochs must be positive, got {args.sft_epochs}")
        import dataclasses

        from symmpo.text.config import TextConfig

        out["sft"] = dataclasses.replace(TextConfig.preset(args.preset).sft, epochs=args.sft_epochs)
    return out


def _header(args: argparse.Namespace, out: Path, t0: float) -> str:
    """Record this invocation when it trained (not with --report), then list every one that produced the rows."""
    from symmpo.studies import invocations

    if not args.report:
        invocations.record(out, time.perf_counter() - t0)
    return invocations.produced_by(out, "table.md")


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("trl") is None:
        raise SymmpoError("symmpo transfer text trains with TRL: pip install 'symmpo[trl]'")
    from symmpo.search.executors import make_executor
    from symmpo.studies import text as study
    from symmpo.studies.members import BASELINES, resolve_objectives
    from symmpo.suite.datasets import default_cache_dir
    from symmpo.text.config import TextConfig
    from symmpo.text.datasets import canonical_setting

    if args.sweep and args.no_sweep:
        raise SymmpoError("--sweep and --no-sweep exclude each other")
    settings = list(dict.fromkeys(canonical_setting(s) for s in args.settings))  # a typo fails now
    cfg = TextConfig.preset(args.preset, **text_overrides(args)).heldout(args.dataset_seed)
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.describe:
        print(describe(cfg, settings, cache_dir))
        return 0
    members = resolve_objectives(args.objectives)
    for flag, n in (("--seeds", args.seeds), ("--sweep-seeds", args.sweep_seeds)):
        if n is not None and n < 2:
            raise SymmpoError(f"{flag} must be at least 2 (paired statistics need two seeds), got {n}")
    out = Path(args.out)
    discovered = [m.label for m in members if m.name == "discovered"]
    t0 = time.perf_counter()
    if not args.report:
        executor = make_executor(args.executor, args.workers)
        kw = {"progress": not args.no_progress}
        try:
            if args.sweep:
                named = [m.name for m in members if m.name in BASELINES]
                if not named:
                    raise SymmpoError("--sweep tunes named baselines; none is among --objectives")
                study.run_sweep(out, cfg, range(args.sweep_seeds), named, executor, cache_dir, **kw)
                print((out / "sweep.md").read_text())
            chosen, sweep_seeds = study.chosen_params(out, cfg, require=not args.no_sweep)
            members = study.with_params(members, chosen, args.file_lr)
            seeds = [1000 + i for i in range(args.seeds or 5)]
            study.run_transfer(out, cfg, settings, seeds, members, executor, cache_dir, sweep_seeds, **kw)
        finally:
            executor.close()
    print(study.write_report(out, cfg, [m.label for m in members], discovered, header=_header(args, out, t0)))
    return 0


def run_llm(args: argparse.Namespace) -> int:
    """``symmpo transfer llm``: the sweep on the fitness split (``--sweep``), then the held-out table."""
    if importlib.util.find_spec("trl") is None or importlib.util.find_spec("peft") is None:
        raise SymmpoError("symmpo transfer llm trains with TRL and peft: pip install 'symmpo[llm]'")
    from symmpo.commands._args import check_workers
    from symmpo.llm.po import LLMConfig
    from symmpo.search.executors import make_executor, run_stoppable
    from symmpo.studies import llm as study
    from symmpo.studies.members import BASELINES, resolve_objectives, sweep_members
    from symmpo.suite.datasets import default_cache_dir
    from symmpo.text.datasets import canonical_setting

    if args.seeds < 2:
        raise SymmpoError(f"--seeds must be at least 2 (paired statistics need two seeds), got {args.seeds}")
    if args.sweep and args.no_sweep:
        raise SymmpoError("--sweep and --no-sweep exclude each other")
    if args.sweep_seeds < 1:
        raise SymmpoError(f"--sweep-seeds must be at least 1, got {args.sweep_seeds}")
    check_workers(args.workers, args.executor, args.oversubscribe)
    factors = tuple(args.sweep_factors or study.SWEEP_FACTORS)
    lrs = tuple(args.sweep_lrs or study.SWEEP_LRS)
    if min(factors) <= 0 or min(lrs) <= 0:
        raise SymmpoError("--sweep-factors and --sweep-lrs must be positive")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = list(dict.fromkeys(canonical_setting(s) for s in args.settings))  # a typo fails now
    cfg = LLMConfig.preset(args.preset, task=args.task, device=args.device).heldout(args.dataset_seed)
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    members = resolve_objectives(args.objectives)
    discovered = [m.label for m in members if m.name == "discovered"]
    out = Path(args.out)
    t0 = time.perf_counter()
    if args.report:
        best = study.chosen_members(out, cfg, members, require=False)[2]
    else:
        # workers run single-threaded on CPU; on one GPU, processes would compete for it (own contexts each)
        executor = make_executor(args.executor, args.workers or (None if args.device == "cpu" else 1))
        kw: dict[str, Any] = {"cache_dir": cache_dir, "executor": executor}

        def runs() -> dict[str, str]:
            """The sweep (``--sweep``), then the table; the columns' best baselines."""
            if args.sweep:
                named = [m.name for m in members if m.name in BASELINES]
                if not named:
                    raise SymmpoError("--sweep tunes named baselines; none is among --objectives")
                grid = sweep_members(named, factors, lrs)
                study.run_sweep(out, cfg, settings, range(args.sweep_seeds), grid, **kw)
                print((out / "sweep.md").read_text())
            tuned, sweep_seeds, chosen = study.chosen_members(out, cfg, members, require=not args.no_sweep)
            seeds = [1000 + i for i in range(args.seeds)]
            study.run_table(out, cfg, settings, seeds, tuned, sweep_seeds=sweep_seeds, **kw)
            return chosen

        # a run takes minutes: on Ctrl-C or a failed run the workers end at once, not after their runs
        finished, best = run_stoppable(
            executor,
            runs,
            f"interrupted: every finished run is stored in {out}; rerun the same command to resume",
            end_on_error=True,
        )
        if not finished:
            _header(args, out, t0)  # its finished runs are stored: so is the time they took
            return 130
    text = study.write_report(
        out, cfg, [m.label for m in members], discovered, header=_header(args, out, t0), chosen_best=best
    )
    print(text)
    return 0
