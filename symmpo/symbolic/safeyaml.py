"""Reading untrusted YAML files (objectives, grammars) with bounded size, nesting and no aliases.

``yaml.safe_load`` never runs code, but it is not bounded: PyYAML composes nested collections
recursively (5,000 nested lists raise RecursionError), and aliases let a small file stand for a huge
structure that our own error messages would then print. This loader caps the file size, the nesting
depth and the node count, refuses aliases (no symmpo file needs them), and turns every failure into a
one-line :class:`~symmpo.errors.SymmpoError` naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from symmpo.errors import SymmpoError
from symmpo.files import read_bounded
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


def _no_duplicates(loader: _BoundedLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    """A mapping whose keys are all distinct: with PyYAML the last of two equal keys silently wins."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            fresh = key not in seen
        except TypeError:  # an unhashable key: SafeLoader itself refuses it below
            continue
        if not fresh:
            raise _Refused(f"duplicate key {str(key)[:40]!r} (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_BoundedLoader.add_constructor(
    "tag:yaml.org,2002:map", lambda loader, node: _no_duplicates(loader, node, deep=True)
)
# YAML 1.1 reads 1:30 as the number 90 (base 60); symmpo files mean no such thing, so such a scalar stays text
# (and a field that needs a number then says so). Booleans stay: yes/no are refused where a number is due.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _pattern in (
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$",
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    ),
):
    _BoundedLoader.add_implicit_resolver(_tag, re.compile(_pattern), list("-+0123456789."))


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
    raw = read_bounded(p, MAX_FILE_BYTES, what, error)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{p}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    return load_text(text, str(p), error)
