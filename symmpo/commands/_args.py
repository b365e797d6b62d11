"""Range-checked command-line values, and output / cache paths checked before any work starts.

Every number a command reads is bounded here at parse time (argparse then exits 2 with one line), so a
negative seed or a zero step count never reaches a search or a training that would fail after minutes.
The bounds are listed in docs/search.md ("Limits of a configuration").
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

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


def check_workers(workers: int | None, executor: str, oversubscribe: bool) -> None:
    """Local workers at most the machine's cores (each training is single-threaded) unless forced."""
    cores = os.cpu_count() or 1
    if workers is not None and executor == "local" and workers > cores and not oversubscribe:
        raise SymmpoError(
            f"--workers {workers} exceeds the {cores} cores here; pass --oversubscribe to insist"
        )


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
