"""Which commands produced a resumable study's rows, and how long each took (``runs.jsonl`` in its folder).

A study is often produced by several invocations (an interrupted run and its resumptions, a sweep and then a
table). Each one that trains appends its command line and wall time; a report lists them all, so a resumption
or a ``--report`` never replaces the wall time of the run that did the work with its own few seconds.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from symmpo.files import append_jsonl, read_jsonl

FILE = "runs.jsonl"


def record(out_dir: Path, seconds: float) -> None:
    """Append this invocation (its command, wall time and machine) to the study's ``runs.jsonl``."""
    from symmpo.machine import fingerprint

    append_jsonl(
        Path(out_dir) / FILE,
        [
            {
                "command": "symmpo " + " ".join(shlex.quote(a) for a in sys.argv[1:]),  # pasteable
                "seconds": round(seconds, 1),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "machine": fingerprint(),
            }
        ],
    )


def produced_by(out_dir: Path, report: str | None = None) -> str:
    """The report's first line: every recorded invocation with its wall time. A study from before ``runs.jsonl``
    keeps the line its ``report`` file (e.g. ``table.md``) already has; "" when there is neither."""
    runs = read_jsonl(Path(out_dir) / FILE)
    if not runs:
        old = Path(out_dir) / report if report else None
        lines = old.read_text().splitlines() if old is not None and old.is_file() else []
        return next((x for x in lines if x.startswith("Produced by")), "")
    made = "; ".join(
        f"`{r['command']}`" + (f" ({r['seconds'] / 60:.1f} min)" if r.get("seconds") is not None else "")
        for r in runs
    )
    return f"Produced by: {made}." + machines_note([r.get("machine") for r in runs])


def machines_note(machines: list[str | None]) -> str:
    """A sentence when the recorded invocations ran on more than one kind of machine (or some are unrecorded
    beside recorded ones): their rows may differ slightly from a rerun on one machine. "" otherwise."""
    known = sorted({m for m in machines if m})
    unknown = sum(1 for m in machines if not m)
    if len(known) + (1 if unknown and known else 0) <= 1:
        return ""
    kinds = "; ".join(known) + (
        f"; {unknown} invocation(s) from before machines were recorded" if unknown else ""
    )
    return (
        f" Its rows come from more than one machine ({kinds}): the same training gives slightly different "
        "scores on another CPU (docs/benchmark.md, Reproducibility)."
    )
