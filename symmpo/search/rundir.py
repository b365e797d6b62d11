"""Run directories ``results/<run>/``: config, atomic checkpoints, evaluation log, hall of fame.

A run directory is the only state a search keeps, so it must always be consistent: every file is
written to a temporary name, fsynced and ``os.replace``-d, and the checkpoint records how many bytes of
``evaluations.jsonl`` belong to completed generations. A run killed mid-generation is therefore
resumed from the last completed generation, and the evaluation log is cut back to match.

Everything is JSON / YAML (``yaml.safe_load``): no pickle, so opening someone else's run directory
never executes code.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symmpo.errors import SymmpoError
from symmpo.files import atomic_write_bytes, atomic_write_text, contained, dump_yaml, read_bounded

if TYPE_CHECKING:
    from symmpo.search.config import SearchConfig

CONFIG = "config.yaml"
CHECKPOINT = "checkpoint.json"
EVALUATIONS = "evaluations.jsonl"
HALL_OF_FAME = "hall_of_fame.yaml"
SUMMARY = "summary.json"
CHECKPOINT_FORMAT = 1
MAX_CHECKPOINT_BYTES = 512 * 2**20  # a checkpoint holds the evaluation cache: large, but bounded
MAX_EVALUATIONS_BYTES = 4 * 2**30  # the evaluation log (read only by analyses, never whole by a resume)
MAX_JSON_DEPTH = 64
# everything a run writes besides the files above (folders; their files are checked when written)
ARTEFACTS = (CHECKPOINT, EVALUATIONS, HALL_OF_FAME, SUMMARY, "objectives", "plots", "neural", "distill")


class RunDirError(SymmpoError):
    """A run directory is missing, incomplete, edited or was written by an incompatible version."""


def _json_depth(text: str) -> int:
    """Deepest nesting of brackets outside strings, in one pass (json.loads recurses, so check first)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


class RunDir:
    """One search run on disk. Create with :meth:`create`, reopen with :meth:`open`.

    Every file and folder a run reads or writes is reached through :meth:`file`, which refuses symlinks and
    anything else that would lead outside the run directory (run directories are shared like notebooks).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def file(self, *parts: str) -> Path:
        """``path / parts``, checked to stay inside the run directory (RunDirError otherwise)."""
        return contained(self.path, Path(*parts), RunDirError)

    # -- creation / opening -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: SearchConfig) -> RunDir:
        """Start a new run; refuses a directory that already holds a run (use resume instead)."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise RunDirError(f"--out {run.path} exists and is not a folder")
        if os.path.lexists(run.file(CONFIG)) or os.path.lexists(run.file(CHECKPOINT)):
            raise RunDirError(
                f"{run.path} already holds a run; resume it with --resume {run.path} or pick --out"
            )
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunDirError(f"cannot create the run directory {run.path}: {err.strerror or err}") from None
        if not os.access(run.path, os.W_OK):
            raise RunDirError(f"the run directory {run.path} is not writable")
        run.write_config(config)
        atomic_write_bytes(run.file(EVALUATIONS), b"")
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Reopen an existing run for resuming; names what is missing when it is not one."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunDirError(f"run directory {run.path} does not exist")
        if not run.file(CONFIG).is_file():
            raise RunDirError(f"{run.path} is not a symmpo run directory (no {CONFIG})")
        for name in ARTEFACTS:  # refuse a planted symlink now, not after the next generation's training
            run.file(name)
        return run

    def read_config(self) -> SearchConfig:
        """``config.yaml``, bounded (size, depth, nodes, no aliases or duplicate keys), checked and typed."""
        from symmpo.search.config import SearchConfig
        from symmpo.symbolic.safeyaml import load_file

        file = self.file(CONFIG)
        data = load_file(file, "run configuration", RunDirError)
        try:
            return SearchConfig.from_mapping(data)
        except SymmpoError as err:
            raise RunDirError(f"{file}: {err}") from None

    def write_config(self, config: SearchConfig) -> None:
        """``config.yaml`` in the format every version wrote (:meth:`SearchConfig.to_mapping`)."""
        atomic_write_text(self.file(CONFIG), dump_yaml(config.to_mapping()))

    # -- checkpoint ---------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Atomically replace the checkpoint; records the evaluation-log length it is consistent with."""
        self.flush_evaluations()
        payload = {
            "format": CHECKPOINT_FORMAT,
            "evaluations_bytes": self._evaluations_size(),
            "state": state,
        }
        atomic_write_text(self.file(CHECKPOINT), json.dumps(payload, allow_nan=True, separators=(",", ":")))

    def read_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint's payload, bounded and checked field by field (None when there is none yet)."""
        file = self.file(CHECKPOINT)
        if not os.path.lexists(file):
            return None
        text = read_bounded(file, MAX_CHECKPOINT_BYTES, "checkpoint", RunDirError).decode("utf-8", "replace")
        if _json_depth(text) > MAX_JSON_DEPTH:
            raise RunDirError(
                f"{file}: nested deeper than {MAX_JSON_DEPTH} levels; the run directory was edited"
            )
        try:
            payload = json.loads(text)
        except (json.JSONDecodeError, ValueError, RecursionError) as err:
            raise RunDirError(f"{file}: corrupt checkpoint ({' '.join(str(err).split())[:120]})") from None
        if not isinstance(payload, dict):
            raise RunDirError(f"{file}: corrupt checkpoint (not a JSON object)")
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise RunDirError(
                f"{file}: checkpoint format {str(payload.get('format'))[:20]!r}, expected {CHECKPOINT_FORMAT}"
            )
        size = payload.get("evaluations_bytes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise RunDirError(f"{file}: evaluations_bytes must be a non-negative integer")
        state = payload.get("state")
        if not isinstance(state, dict):
            raise RunDirError(f"{file}: the checkpoint has no state")
        return payload

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last completed generation's state, or None for a run killed before its first generation.

        Also cuts ``evaluations.jsonl`` back to the checkpoint, dropping lines of an unfinished generation.
        """
        payload = self.read_checkpoint()
        if payload is None:
            self._truncate_evaluations(0)
            return None
        self._truncate_evaluations(payload["evaluations_bytes"])
        return payload["state"]

    # -- evaluation log -----------------------------------------------------------------------
    def _open_log(self, mode: int) -> int:
        """A descriptor of the evaluation log that never follows a symlink planted after the check."""
        file = self.file(EVALUATIONS)
        try:
            return os.open(file, mode | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0), 0o644)
        except OSError as err:
            raise RunDirError(f"cannot open {file}: {err.strerror or err}") from None

    def log_evaluations(self, records: list[dict[str, Any]]) -> None:
        """Append one JSON line per evaluation (flushed, fsynced at the next checkpoint)."""
        if not records:
            return
        data = "".join(json.dumps(r, allow_nan=True, separators=(",", ":")) + "\n" for r in records)
        fd = self._open_log(os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, data.encode("utf-8"))
        finally:
            os.close(fd)

    def read_evaluations(self) -> list[dict[str, Any]]:
        file = self.file(EVALUATIONS)
        if not file.exists():
            return []
        text = read_bounded(file, MAX_EVALUATIONS_BYTES, "evaluation log", RunDirError).decode(
            "utf-8", "replace"
        )
        rows = []
        for line in text.splitlines():
            if line.strip() and _json_depth(line) <= MAX_JSON_DEPTH:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                if isinstance(row, dict):
                    rows.append(row)
        return rows

    def flush_evaluations(self) -> None:
        if os.path.lexists(self.file(EVALUATIONS)):
            fd = self._open_log(os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _evaluations_size(self) -> int:
        file = self.file(EVALUATIONS)
        return file.stat().st_size if file.exists() else 0

    def _truncate_evaluations(self, size: int) -> None:
        file = self.file(EVALUATIONS)
        if not os.path.lexists(file):
            atomic_write_bytes(file, b"")
            return
        if file.stat().st_size < size:
            raise RunDirError(f"{file} is shorter than its checkpoint says; the run directory was edited")
        if file.stat().st_size > size:
            fd = self._open_log(os.O_WRONLY)
            try:
                os.ftruncate(fd, size)
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- hall of fame and other artefacts ------------------------------------------------------
    def write_hall_of_fame(
        self, entries: list[dict[str, Any]], reference: dict[str, Any] | None = None
    ) -> None:
        """The hall of fame, and once the run is re-scored, DPO's score on the same fresh seeds beside it."""
        data = (
            {"hall_of_fame": entries}
            if reference is None
            else {"reference": reference, "hall_of_fame": entries}
        )
        atomic_write_text(self.file(HALL_OF_FAME), dump_yaml(data))

    def write_summary(self, summary: dict[str, Any]) -> None:
        """``summary.json``: run-level numbers a reader wants without the checkpoint (the share of dead terms)."""
        atomic_write_text(self.file(SUMMARY), json.dumps(summary, indent=1, sort_keys=True) + "\n")

    def read_summary(self) -> dict[str, Any]:
        """``summary.json`` (bounded; {} when the run has none yet)."""
        file = self.file(SUMMARY)
        if not file.exists():
            return {}
        text = read_bounded(file, 2**20, "run summary", RunDirError).decode("utf-8", "replace")
        try:
            data = json.loads(text) if _json_depth(text) <= MAX_JSON_DEPTH else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RunDirError(f"{file}: expected a JSON object")
        return data

    def read_hall_of_fame(self) -> list[dict[str, Any]]:
        from symmpo.symbolic.safeyaml import load_file

        file = self.file(HALL_OF_FAME)
        if not file.exists():
            raise RunDirError(f"{self.path} has no {HALL_OF_FAME} yet")
        data = load_file(file, "hall of fame", RunDirError)
        entries = data.get("hall_of_fame") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise RunDirError(f"{file}: expected a mapping with a list 'hall_of_fame' of entries")
        return entries

    def best(self, rank: int = 1) -> Best:
        """The ``rank``-th hall-of-fame entry and the file it was saved to (an objective file for symbolic runs,
        a network file for neural ones), for ``compare`` and ``distill``; names what is missing otherwise."""
        entries = self.read_hall_of_fame()
        if not entries:
            raise RunDirError(f"{self.path}: the hall of fame is empty (no candidate survived training yet)")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= len(entries):
            raise RunDirError(f"{self.path}: rank must be in 1..{len(entries)}, got {rank!r}")
        entry = entries[rank - 1]
        name = entry.get("file", f"objectives/hof_{rank:02d}.yaml")
        if not isinstance(name, str):
            raise RunDirError(f"{self.path}: hall-of-fame entry {rank} names no file")
        file = self.file(name)
        self.file(str(Path(name).with_suffix(".npz")))  # a network's weights beside it: checked too
        if not file.is_file():
            raise RunDirError(
                f"{self.path}: no {name} (the run has not been re-scored yet, or rank {rank} is beyond its "
                "saved leaders)"
            )
        return Best(rank, entry, file)


@dataclass(frozen=True)
class Best:
    """A hall-of-fame entry of a run (``hall_of_fame.yaml``'s fields) and the file holding its objective."""

    rank: int
    entry: dict[str, Any]
    file: Path


def resolve_run(name_or_path: str | Path, results_dir: str | Path = "results") -> RunDir:
    """``--resume RUN`` accepts a path or a run name under the results directory."""
    candidate = Path(name_or_path)
    if not candidate.is_dir() and not candidate.is_absolute():
        under = Path(results_dir) / candidate
        if under.is_dir():
            candidate = under
    return RunDir.open(candidate)
