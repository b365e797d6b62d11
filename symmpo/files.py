"""Files that readers can trust: atomic replacement, YAML without aliases, strict JSON that keeps ±inf/nan.

Every result symmpo writes (run directories, objective and network files, reports, benchmark rows) goes
through these helpers, so a kill at any moment leaves either the old file or the new one, never a torn one,
and a JSON-lines log loses at most the batch being written.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: fsync the directory entry (a no-op where the OS cannot)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dump_yaml(data: Any) -> str:
    """Block-style YAML in insertion order, unicode kept (formulas and LaTeX stay readable)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# -- strict JSON: JSON has no inf / nan, so they travel as the strings "inf", "-inf", "nan" ------------------
def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def _restore(x: Any) -> Any:
    if x in ("inf", "-inf", "nan"):
        return float(x)
    if isinstance(x, dict):
        return {k: _restore(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_restore(v) for v in x]
    return x


def dumps(obj: Any, **kw: Any) -> str:
    """Strict JSON (non-finite floats as strings); :func:`loads` turns them back into floats."""
    return json.dumps(_clean(obj), **kw)


def loads(text: str) -> Any:
    return _restore(json.loads(text))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a JSON-lines file (a line cut by a kill is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """One write per batch of rows, flushed and fsynced: a kill loses at most the batch being written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a") as f:
        if torn:  # a previous writer was killed mid-line: keep that fragment on its own (ignored) line
            f.write("\n")
        f.write("".join(dumps(r) + "\n" for r in rows))
        f.flush()
        os.fsync(f.fileno())
