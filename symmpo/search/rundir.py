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
from pathlib import Path
from typing import Any

import yaml

from symmpo.errors import SymmpoError
from symmpo.files import atomic_write_bytes, atomic_write_text, dump_yaml

CONFIG = "config.yaml"
CHECKPOINT = "checkpoint.json"
EVALUATIONS = "evaluations.jsonl"
HALL_OF_FAME = "hall_of_fame.yaml"
CHECKPOINT_FORMAT = 1


class RunDirError(SymmpoError):
    """A run directory is missing, incomplete or was written by an incompatible version."""


class RunDir:
    """One search run on disk. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- creation / opening -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> RunDir:
        """Start a new run; refuses a directory that already holds a run (use resume instead)."""
        run = cls(path)
        if (run.path / CONFIG).exists() or (run.path / CHECKPOINT).exists():
            raise RunDirError(
                f"{run.path} already holds a run; resume it with --resume {run.path} or pick --out"
            )
        run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.path / CONFIG, dump_yaml(config))
        atomic_write_bytes(run.path / EVALUATIONS, b"")
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Reopen an existing run for resuming; names what is missing when it is not one."""
        run = cls(path)
        if not run.path.is_dir():
            raise RunDirError(f"run directory {run.path} does not exist")
        if not (run.path / CONFIG).is_file():
            raise RunDirError(f"{run.path} is not a symmpo run directory (no {CONFIG})")
        return run

    def read_config(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load((self.path / CONFIG).read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise RunDirError(f"{self.path / CONFIG}: not valid YAML ({err})") from err
        if not isinstance(data, dict):
            raise RunDirError(f"{self.path / CONFIG}: expected a mapping")
        return data

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.path / CONFIG, dump_yaml(config))

    # -- checkpoint ---------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Atomically replace the checkpoint; records the evaluation-log length it is consistent with."""
        self.flush_evaluations()
        payload = {
            "format": CHECKPOINT_FORMAT,
            "evaluations_bytes": self._evaluations_size(),
            "state": state,
        }
        atomic_write_text(self.path / CHECKPOINT, json.dumps(payload, allow_nan=True, separators=(",", ":")))

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The last completed generation's state, or None for a run killed before its first generation.

        Also cuts ``evaluations.jsonl`` back to the checkpoint, dropping lines of an unfinished generation.
        """
        file = self.path / CHECKPOINT
        if not file.exists():
            self._truncate_evaluations(0)
            return None
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise RunDirError(f"{file}: corrupt checkpoint ({err})") from err
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise RunDirError(
                f"{file}: checkpoint format {payload.get('format')!r}, expected {CHECKPOINT_FORMAT}"
            )
        self._truncate_evaluations(int(payload["evaluations_bytes"]))
        return payload["state"]

    # -- evaluation log -----------------------------------------------------------------------
    def log_evaluations(self, records: list[dict[str, Any]]) -> None:
        """Append one JSON line per evaluation (flushed, fsynced at the next checkpoint)."""
        if not records:
            return
        with open(self.path / EVALUATIONS, "a", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, allow_nan=True, separators=(",", ":")) + "\n")

    def read_evaluations(self) -> list[dict[str, Any]]:
        file = self.path / EVALUATIONS
        if not file.exists():
            return []
        return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]

    def flush_evaluations(self) -> None:
        file = self.path / EVALUATIONS
        if file.exists():
            with open(file, "rb+") as fh:
                os.fsync(fh.fileno())

    def _evaluations_size(self) -> int:
        file = self.path / EVALUATIONS
        return file.stat().st_size if file.exists() else 0

    def _truncate_evaluations(self, size: int) -> None:
        file = self.path / EVALUATIONS
        if not file.exists():
            atomic_write_bytes(file, b"")
            return
        if file.stat().st_size < size:
            raise RunDirError(f"{file} is shorter than its checkpoint says; the run directory was edited")
        if file.stat().st_size > size:
            with open(file, "rb+") as fh:
                fh.truncate(size)
                fh.flush()
                os.fsync(fh.fileno())

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
        atomic_write_text(self.path / HALL_OF_FAME, dump_yaml(data))

    def read_hall_of_fame(self) -> list[dict[str, Any]]:
        file = self.path / HALL_OF_FAME
        if not file.exists():
            raise RunDirError(f"{self.path} has no {HALL_OF_FAME} yet")
        return yaml.safe_load(file.read_text(encoding="utf-8"))["hall_of_fame"]


def resolve_run(name_or_path: str | Path, results_dir: str | Path = "results") -> RunDir:
    """``--resume RUN`` accepts a path or a run name under the results directory."""
    candidate = Path(name_or_path)
    if not candidate.is_dir() and not candidate.is_absolute():
        under = Path(results_dir) / candidate
        if under.is_dir():
            candidate = under
    return RunDir.open(candidate)
