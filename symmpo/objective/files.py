"""The objective file format (YAML): what an objective writes, and the checks on what a file holds.

A file is untrusted: every field is checked here and formulas go through the restricted parser later
(``Objective.from_components``), so nothing in it is evaluated. ``Objective.from_dict`` and
``Objective.load`` are the one way back from this format to an objective.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from symmpo.errors import ObjectiveError, SymmpoError
from symmpo.files import atomic_write_text
from symmpo.objective.types import COMPONENTS, TIED, ObjectiveLike
from symmpo.symbolic import limits
from symmpo.symbolic.constants import normalize_kind
from symmpo.symbolic.parser import ConstSpec
from symmpo.symbolic.safeyaml import load_file

FORMAT = "symmpo-objective/1"
KEYS = frozenset({"format", "name", "beta", "reduce", "granularity", "constants", "params", *COMPONENTS})


# ----- writing ----------------------------------------------------------------------------------------------
def to_dict(obj: ObjectiveLike) -> dict[str, Any]:
    """The file format of a symbolic objective (formula strings in the registry's vocabulary)."""
    obj.require_symbolic("be saved")
    f = obj.formulas()
    out: dict[str, Any] = {"format": FORMAT, "name": obj.name, "beta": obj.beta, "reduce": obj.reduce}
    granularity = getattr(obj, "granularity", "sequence")
    if granularity != "sequence":  # written only when not the default: sequence files are unchanged
        out["granularity"] = granularity
    out["phi_inv"] = f["phi_inv"]
    out["psi"] = TIED if obj.psi_tied else f["psi"]
    for k in ("g", "w_po", "w_sft"):
        out[k] = f[k]
    specs = obj.constant_specs()
    if specs:
        out["constants"] = {n: {"type": k, "value": v} for n, (k, v) in specs.items()}
    if obj.params:
        out["params"] = dict(obj.params)
    return out


def write(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write the file atomically (a reader sees the old file or the new one)."""
    atomic_write_text(path, yaml.safe_dump(dict(data), sort_keys=False))


# ----- reading ----------------------------------------------------------------------------------------------
def read(path: str | Path) -> Any:
    """The file's YAML (bounded safe YAML; the content is still unchecked)."""
    return load_file(path, "objective file", ObjectiveError)


def check_mapping(data: Any, where: str) -> None:
    """The shape of the file: a mapping with known keys, phi_inv and g present, the right format."""
    if not isinstance(data, Mapping):
        raise ObjectiveError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(limits.shown(k, 40) for k in set(data) - KEYS)
    if unknown:
        raise ObjectiveError(
            f"{where}: unknown key(s) {', '.join(unknown[:5])} (known: {', '.join(sorted(KEYS))})"
        )
    for k in ("phi_inv", "g"):
        if k not in data:
            raise ObjectiveError(f"{where}: missing key {k!r}")
    if "format" in data and data["format"] != FORMAT:
        raise ObjectiveError(f"{where}: format must be {FORMAT!r}, got {limits.shown(data['format'])}")


def decode(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Objective.from_components`` arguments of a checked mapping (:func:`check_mapping`); errors name
    the field but not the file (the caller adds where)."""
    beta = limits.number(data.get("beta", 0.1), "beta")
    name = limits.check_name(data.get("name", "custom"))
    reduce = data.get("reduce", "sum")
    if reduce not in ("sum", "mean"):
        raise ObjectiveError(f"reduce must be 'sum' or 'mean', got {limits.shown(reduce)}")
    granularity = data.get("granularity", "sequence")
    if granularity not in ("sequence", "token"):
        raise ObjectiveError(f"granularity must be 'sequence' or 'token', got {limits.shown(granularity)}")
    constants = data.get("constants") or {}
    params = check_params(data.get("params") or {})
    return {
        "phi_inv": data["phi_inv"],
        "psi": data.get("psi", TIED),
        "g": data["g"],
        "w_po": data.get("w_po", 1.0),
        "w_sft": data.get("w_sft", 0.0),
        "beta": beta,
        "reduce": reduce,
        "granularity": granularity,
        "name": name,
        "constants": constants,
        "params": params,
    }


def const_specs(constants: Any) -> dict[str, ConstSpec]:
    """Declared constants {name: {type, value}} or {name: (type, value)}, each field checked."""
    if not isinstance(constants, Mapping):
        raise ObjectiveError(
            f"constants must be a mapping name -> {{type, value}}, got {limits.shown(constants)}"
        )
    if len(constants) > limits.MAX_CONSTANTS:
        raise ObjectiveError(f"more than {limits.MAX_CONSTANTS} constants")
    out = {}
    for name, spec in constants.items():
        try:
            name = limits.check_identifier(name, "constant")
        except SymmpoError as err:
            raise ObjectiveError(str(err)) from None
        if isinstance(spec, Mapping):
            extra = sorted(limits.shown(k, 20) for k in set(spec) - {"type", "value"})
            if extra:
                raise ObjectiveError(
                    f"constant {name!r}: unknown field(s) {', '.join(extra[:5])} (use type, value)"
                )
            kind, value = spec.get("type", "free"), spec.get("value")
        elif isinstance(spec, (tuple, list)) and len(spec) == 2:
            kind, value = spec
        else:
            raise ObjectiveError(f"constant {name!r}: expected {{type, value}}, got {limits.shown(spec)}")
        try:
            kind = normalize_kind(kind)
        except ValueError as err:
            raise ObjectiveError(f"constant {name!r}: {err}") from None
        if kind == "fixed":
            raise ObjectiveError(f"constant {name!r}: type fixed is for literals; write the number instead")
        try:
            v = limits.number(value, f"constant {name!r}: value")
        except SymmpoError as err:
            raise ObjectiveError(str(err)) from None
        out[name] = ConstSpec(kind, v)
    return out


def check_params(params: Any) -> dict[str, float]:
    """The ``params`` a named objective was built with: {name: number}."""
    if not isinstance(params, Mapping):
        raise ObjectiveError(f"params must be a mapping name -> number, got {limits.shown(params)}")
    if len(params) > limits.MAX_CONSTANTS:
        raise ObjectiveError(f"more than {limits.MAX_CONSTANTS} params")
    out = {}
    for k, v in params.items():
        try:
            out[limits.check_identifier(k, "parameter")] = limits.number(v, f"parameter {k}")
        except SymmpoError as err:
            raise ObjectiveError(str(err)) from None
    return out
