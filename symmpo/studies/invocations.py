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
    """Append this invocation (its command and wall time) to the study's ``runs.jsonl``."""
    append_jsonl(
        Path(out_dir) / FILE,
        [
            {
                "command": "symmpo " + " ".join(shlex.quote(a) for a in sys.argv[1:]),  # pasteable
                "seconds": round(seconds, 1),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
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
    return f"Produced by: {made}."
