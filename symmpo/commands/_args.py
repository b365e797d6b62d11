"""Range-checked command-line values, and output / cache paths checked before any work starts.

Every number a command reads is bounded here at parse time (argparse then exits 2 with one line), so a
negative seed or a zero step count never reaches a search or a training that would fail after minutes.
The bounds are listed in docs/search.md ("Limits of a configuration").
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from symmpo.errors import SymmpoError

MAX_SEED = 2**32 - 1
MAX_STEPS = 10_000_000
MAX_EPISODES = 100_000
MAX_LR = 10.0


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in [{lo}, {hi}], got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_float(hi: float) -> Callable[[str], float]:
    """An argparse type: a finite number in (0, hi]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not (math.isfinite(value) and 0 < value <= hi):
            raise argparse.ArgumentTypeError(f"must be in (0, {hi:g}], got {text[:40]}")
        return value

    parse.__name__ = "number"
    return parse


SEED = int_in(0, MAX_SEED)
Config = TypeVar("Config")


def config_from_args(cls: Callable[..., Config], args: argparse.Namespace, **values: Any) -> Config:
    """A dataclass configuration from the options named after its fields (a field with no option keeps its
    default); ``values`` give the fields the options do not. The configuration validates itself."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return cls(**{f.name: getattr(args, f.name) for f in fields if hasattr(args, f.name)}, **values)


def check_workers(workers: int | None, executor: str, oversubscribe: bool) -> None:
    """Local workers at most the machine's cores (each training is single-threaded) unless forced."""
    cores = os.cpu_count() or 1
    if workers is not None and executor == "local" and workers > cores and not oversubscribe:
        raise SymmpoError(
            f"--workers {workers} exceeds the {cores} cores here; pass --oversubscribe to insist"
        )


def workers_parent() -> argparse.ArgumentParser:
    """``--workers`` / ``--oversubscribe`` of a study whose cells are whole populations (bench, compare)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--workers",
        type=int_in(1, 4096),
        default=1,
        help="cells (one population each) trained at once, one process each (default 1: one after another in "
        "this process); the rows are the same for any number",
    )
    p.add_argument(
        "--oversubscribe", action="store_true", help="allow more workers than the machine has cores"
    )
    return p


def cell_executor(args: argparse.Namespace) -> Any:
    """The executor a study's cells run on: this process for one worker, a local pool for more."""
    from symmpo.search.executors import InlineExecutor, LocalExecutor

    check_workers(args.workers, "local", args.oversubscribe)
    return LocalExecutor(args.workers) if args.workers > 1 else InlineExecutor()


def writable_dir(path: str | Path | None, option: str) -> None:
    """An output or cache folder: absent (it will be created under a writable parent) or a writable folder."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SymmpoError(f"{option} {p} exists and is not a folder")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise SymmpoError(f"{option} {p}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SymmpoError(f"{option} {p}: {probe} is not writable")


# ---------------------------------------------------------------------------------------------------- parents
# Options several commands share, written once: pass them as ``add_parser(..., parents=[...])``; a command
# that wants another default sets it with ``p.set_defaults``.

TRAINING_PRESETS = ("tiny", "default", "bench")


def cache_parent(what: str = "dataset / reference cache", progress: bool = True) -> argparse.ArgumentParser:
    """``--cache-dir`` and, where the command draws progress bars, ``--no-progress``."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--cache-dir", help=f"{what} (default: $SYMMPO_CACHE or ~/.cache/symmpo)")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return p


def training_parent(presets: tuple[str, ...] = TRAINING_PRESETS) -> argparse.ArgumentParser:
    """The MuJoCo training configuration: ``--preset`` and what may override it."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--preset",
        default=presets[-1],
        choices=list(presets),
        help=f"training configuration (default: {presets[-1]}; bench = default + 10 eval episodes + curve)",
    )
    p.add_argument("--steps", type=int_in(1, MAX_STEPS), help="PO steps (overrides the preset)")
    p.add_argument(
        "--eval-episodes",
        type=int_in(1, MAX_EPISODES),
        help="evaluation episodes per seed (overrides the preset)",
    )
    p.add_argument(
        "--sft-levels",
        nargs="+",
        metavar="LEVEL",
        help="clone π_ref from every response of these behaviour levels in a separate pool (e.g. weak medium) "
        "instead of from the chosen responses of the pairs",
    )
    return p


def table_columns(
    p: argparse.ArgumentParser, settings: Sequence[str], seeds: int | None, seeds_help: str
) -> None:
    """``--settings`` (a table's columns, by default ``settings``) and ``--seeds`` (training seeds per cell),
    as every table command has them; the seeds' meaning (which seeds, what default) is the command's."""
    p.add_argument("--settings", nargs="+", default=list(settings), help=f"default: {' '.join(settings)}")
    p.add_argument("--seeds", type=int, default=seeds, help=seeds_help)


def dataset_seeds_arg(p: argparse.ArgumentParser, what: str) -> None:
    """``--dataset-seeds``: a fitness over several preference datasets (``TrainConfig.dataset_seeds``), one
    option for searches, sweeps and ``compare --tune``, so every loss can be tuned on the same data."""
    p.add_argument(
        "--dataset-seeds",
        type=SEED,
        nargs="+",
        metavar="DS",
        help=f"{what} over several preference datasets: fitness seed s trains on the (s mod n)-th, e.g. 0 3 "
        "(extra ones from 3 up; 1 is the held-out data; default: dataset 0 only)",
    )


def table_parent(dataset_seed: bool = True) -> argparse.ArgumentParser:
    """What a resumable table reads: ``--report`` (rewrite from stored rows) and, where the table chooses its
    held-out data, ``--dataset-seed``."""
    p = argparse.ArgumentParser(add_help=False)
    if dataset_seed:
        p.add_argument("--dataset-seed", type=SEED, help="held-out dataset seed (default: the protocol's, 1)")
    p.add_argument("--report", action="store_true", help="only rewrite the report from the stored results")
    return p
