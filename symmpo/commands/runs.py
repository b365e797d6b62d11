"""``symmpo runs RUN [RUN ...] [--out DIR]``: several searches side by side (size, fitness, re-score, what
their leaders are made of), read from their run directories without training anything."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="several searches side by side: size, fitness, re-score, what their leaders are made of",
        description="Reads each run directory (checkpoint, evaluations, hall of fame) and prints one table: "
        "candidates and trainings, best fitness against DPO's on the same seeds, the end-of-run held-out "
        "re-score, the share of dead terms; then the features of each run's top entries and what they share. "
        "Runs still in progress are shown as far as they got. Nothing is trained.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="a run directory or a run name under --results")
    p.add_argument("--results", default="results", help="where run names are looked up (default: results)")
    p.add_argument("--top", type=int, default=3, help="leaders per run whose features are shown (default 3)")
    p.add_argument(
        "--out", metavar="DIR", help="also write DIR/runs.md and DIR/runs.png (best fitness so far)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.commands._args import writable_dir
    from symmpo.files import atomic_write_text
    from symmpo.search.across import plot_runs, read_run, report_lines
    from symmpo.search.rundir import resolve_run

    if not 0 <= args.top <= 100:
        raise SymmpoError(f"--top must be in 0..100, got {args.top}")
    writable_dir(args.out, "--out")
    names = [Path(r).name for r in args.runs]
    if len(set(names)) != len(
        names
    ):  # rows are labelled by folder name: two 'hopper-mixed' would be ambiguous
        raise SymmpoError(f"two runs share a folder name: {' '.join(args.runs)}")
    facts: list[Any] = [read_run(resolve_run(r, args.results).path, top=args.top) for r in args.runs]
    text = "\n".join(report_lines(facts)) + "\n"
    print(text, end="")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "runs.md", text)
        plot_runs(facts, out / "runs.png")
        print(f"wrote {out / 'runs.md'} and {out / 'runs.png'}")
    return 0
