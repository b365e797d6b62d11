"""Files that readers can trust: atomic replacement, YAML without aliases, strict JSON that keeps ±inf/nan.

Every result symmpo writes (run directories, objective and network files, reports, benchmark rows) goes
through these helpers, so a kill at any moment leaves either the old file or the new one, never a torn one,
and a JSON-lines log loses at most the batch being written.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from symmpo.errors import SymmpoError


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


def contained(root: str | Path, relative: str | Path, error: type[SymmpoError] = SymmpoError) -> Path:
    """``root / relative``, refused when it could lead a write or a read outside ``root``.

    Run directories are shared like notebooks, so a name inside one may be a symlink planted to make symmpo
    overwrite (or print) some other file. Refused: an absolute or ``..`` path, any existing component below
    ``root`` that is a symlink, an existing folder component that is not a folder, and an existing last
    component that is neither a regular file nor a folder (a FIFO would hang a reader).
    """
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise error(f"{rel}: not a path inside {root}")
    path = Path(root)
    for k, part in enumerate(rel.parts):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            break  # nothing below it exists yet: the writer creates plain folders and files
        except OSError as err:
            raise error(f"cannot inspect {path}: {err.strerror or err}") from None
        if stat.S_ISLNK(st.st_mode):
            raise error(f"{path} is a symbolic link; symmpo reads and writes only plain files in {root}")
        last = k == len(rel.parts) - 1
        if not stat.S_ISDIR(st.st_mode) and (not last or not stat.S_ISREG(st.st_mode)):
            raise error(f"{path} is not a regular file or folder")
    return Path(root) / rel


def read_bounded(path: str | Path, limit: int, what: str, error: type[SymmpoError] = SymmpoError) -> bytes:
    """At most ``limit`` bytes of a regular file; a FIFO, device or folder is refused without blocking."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise error(f"cannot read {what} {p}: {err.strerror or err}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{what} {p} is not a regular file")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as err:
        raise error(f"cannot read {what} {p}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise error(f"{what} {p} is larger than {limit} bytes")
    return data


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
    """One write per batch of rows, flushed and fsynced: a kill loses at most the batch being written.

    The batch is written under an exclusive ``flock`` on the file (where the platform has one), so two processes
    appending to the same rows file (two studies sharing an output directory) never interleave their lines.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(dumps(r) + "\n" for r in rows).encode()
    with open(path, "ab") as f:
        _lock(f)
        # a previous writer killed mid-line: keep that fragment on its own (ignored) line
        if os.fstat(f.fileno()).st_size > 0 and not _ends_with_newline(f):
            data = b"\n" + data
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _lock(f: Any) -> None:
    """Exclusive advisory lock until ``f`` is closed (a no-op where ``fcntl`` does not exist)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)


def _ends_with_newline(f: Any) -> bool:
    """Whether the file open for appending ends with a newline (read through its own path, under the lock)."""
    with open(f.name, "rb") as r:
        r.seek(-1, os.SEEK_END)
        return r.read(1) == b"\n"
