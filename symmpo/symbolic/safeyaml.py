"""Reading untrusted YAML files (objectives, grammars) with bounded size, nesting and no aliases.

``yaml.safe_load`` never runs code, but it is not bounded: PyYAML composes nested collections
recursively (5,000 nested lists raise RecursionError), and aliases let a small file stand for a huge
structure that our own error messages would then print. This loader caps the file size, the nesting
depth and the node count, refuses aliases (no symmpo file needs them), and turns every failure into a
one-line :class:`~symmpo.errors.SymmpoError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from symmpo.errors import SymmpoError
from symmpo.symbolic.limits import MAX_FILE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES


class _Refused(yaml.YAMLError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts depth and nodes and refuses aliases."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise _Refused(f"YAML aliases (*name) are not allowed (line {mark.line + 1})")
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refused(f"YAML nested deeper than {MAX_YAML_DEPTH} levels (line {mark.line + 1})")
        if self._nodes > MAX_YAML_NODES:
            raise _Refused(f"YAML document has more than {MAX_YAML_NODES} nodes")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def load_text(text: str, where: str, error: type[SymmpoError] = SymmpoError) -> Any:
    """The single YAML document in ``text``; ``error`` (a SymmpoError subclass) names ``where``."""
    if len(text) > MAX_FILE_BYTES:
        raise error(f"{where}: larger than {MAX_FILE_BYTES} bytes")
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader already refuses some characters here
        return loader.get_single_data()
    except _Refused as err:
        raise error(f"{where}: {err}") from None
    except yaml.YAMLError as err:
        raise error(f"{where}: not valid YAML: {_one_line(err)}") from None
    except (ValueError, OverflowError, TypeError) as err:  # e.g. an integer with more than 4300 digits
        raise error(f"{where}: not valid YAML: {_one_line(err)}") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_file(path: str | Path, what: str, error: type[SymmpoError] = SymmpoError) -> Any:
    """Read and parse a YAML file of at most MAX_FILE_BYTES; ``what`` says what it should be."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise error(f"cannot read {what} {p}: {err.strerror or err}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise error(f"{p}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{p}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return load_text(text, str(p), error)
