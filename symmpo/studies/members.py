"""What a study trains: named baselines (from the named table, each with its scale parameter), objective files,
and the sweep grid over them. Shared by every suite, so a new named loss enters every study in one place
(``symmpo.objective.named``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.objective import named

SFT = "sft"  # the row of the reference every PO run starts from
SWEEP_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
SWEEP_LRS = (3e-5, 1e-4, 3e-4, 1e-3)
# multiples of a baseline's NLL weight (rpo_alpha, cpo_alpha): by default left as written
SWEEP_ANCHORS = (1.0,)


@dataclass(frozen=True)
class Baseline:
    """One row of the default baseline set: its name, the parameter a sweep scales (None: tuned by learning
    rate alone) and its default parameters."""

    name: str
    scale: str | None
    defaults: dict[str, float]


def baseline_set() -> tuple[Baseline, ...]:
    """The default baseline set, derived from the named table (every row flagged as a baseline, MPO recipes
    first, then the plain baselines outside MPO)."""
    return tuple(Baseline(n, named.scale_param(n), named.defaults(n)) for n in named.baselines())


BASELINES: tuple[str, ...] = tuple(b.name for b in baseline_set())


def scale_param(name: str) -> str | None:
    """The parameter that sets the strength of the preference term (what the sweep moves with the learning
    rate; None for a loss with no such parameter, which the sweep tunes by learning rate alone)."""
    return named.scale_param(name)


def default_params(name: str) -> dict[str, float]:
    return named.defaults(name)


def anchor_param(name: str) -> str | None:
    """The parameter weighting the NLL term of the chosen response (rpo_alpha, cpo_alpha; None without one)."""
    return named.anchor_param(name)


def fmt_scale(name: str, params: dict[str, float]) -> str:
    """``beta=0.1`` (the swept value of a row), or ``-`` for a loss without a scale parameter; a weight of the
    NLL term that differs from its default is shown too (``beta=0.1, rpo_alpha=0.3``)."""
    key = scale_param(name)
    out = "-" if key is None else f"{key}={params[key]:g}"
    anchor = anchor_param(name)
    if anchor is not None and anchor in params and params[anchor] != default_params(name)[anchor]:
        out += f", {anchor}={params[anchor]:g}"
    return out


def fmt_params(p: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in p.items())


@dataclass(frozen=True)
class Member:
    """One loss a study trains: ``label`` is unique within a study (``dpo`` or ``dpo[beta=0.02,lr=0.001]``),
    ``name`` the named baseline (``discovered`` for a file), ``lr`` None for the configuration's rate."""

    label: str
    name: str
    params: dict[str, float]
    lr: float | None = None

    def objective(self):
        from symmpo.objective import Objective

        return Objective.named(self.name, **self.params)


@dataclass(frozen=True)
class FileMember(Member):
    """A member whose objective comes from an objective file (a hall-of-fame entry)."""

    path: str = ""
    run: str | None = None  # the search run that found it (its config.yaml), when the file lies inside one
    beta_factor: float = 1.0  # the tuning's multiple of the file's own beta (--tune)

    def objective(self):
        from symmpo.neural.components import load_objective

        obj = load_objective(self.path)
        return obj if self.beta_factor == 1.0 else obj.with_beta(obj.beta * self.beta_factor)

    def variant(self, factor: float, lr: float | None) -> FileMember:
        """The same file at ``factor`` × its beta and learning rate ``lr``, labelled for the tuning rows."""
        return dataclasses.replace(
            self,
            label=f"{self.label}[beta×{factor:g},lr={lr:g}]",
            params={"beta_factor": factor},
            lr=lr,
            beta_factor=factor,
        )


def sweep_members(
    baselines: Sequence[str] = BASELINES,
    factors: Sequence[float] = SWEEP_FACTORS,
    lrs: Sequence[float] = SWEEP_LRS,
    anchors: Sequence[float] = SWEEP_ANCHORS,
) -> list[Member]:
    """The grid: each baseline's scale parameter at ``factors`` × its default and the learning rate at ``lrs``
    (a baseline without a scale parameter: the learning rates alone); a baseline with an NLL weight also at
    ``anchors`` × its default. Labels name the anchor only away from its default, so the default grid's
    labels (and stored rows) are the same with or without ``anchors``."""
    out = []
    for name in baselines:
        base = default_params(name)
        key, anchor = scale_param(name), anchor_param(name)
        if key is None:  # nothing to scale: the learning rate alone
            out += [Member(f"{name}[lr={lr:g}]", name, base, lr) for lr in lrs]
            continue
        for a in anchors if anchor is not None else (1.0,):
            for f in factors:
                p = {**base, key: round(base[key] * f, 6)}
                tag = ""
                if a != 1.0:
                    p[anchor] = round(base[anchor] * a, 6)
                    tag = f",{anchor}={p[anchor]:g}"
                for lr in lrs:
                    out.append(Member(f"{name}[{key}={p[key]:g}{tag},lr={lr:g}]", name, p, lr))
    return out


def factor_of(row: dict[str, Any]) -> float:
    """The swept multiple of the baseline's default scale parameter in a stored row (1 without one)."""
    key = scale_param(row["objective"])
    return 1.0 if key is None else round(row["params"][key] / default_params(row["objective"])[key], 6)


def anchor_factor_of(row: dict[str, Any]) -> float | None:
    """The swept multiple of the baseline's default NLL weight in a stored row (None: the loss has none)."""
    key = anchor_param(row["objective"])
    if key is None:
        return None
    default = default_params(row["objective"])[key]
    return round(row["params"].get(key, default) / default, 6)


def with_choices(chosen: dict[str, dict[str, Any]], baselines: Sequence[str] | None = None) -> list[Member]:
    """Every baseline of a column's choice (or those of ``baselines``) at its chosen hyperparameters."""
    keep = chosen if baselines is None else {n: chosen[n] for n in baselines if n in chosen}
    return [Member(name, name, c["params"], c.get("lr")) for name, c in keep.items()]


# ------------------------------------------------------------------------------------------------ files
def find_run(path: Path) -> Path | None:
    """The run directory holding an objective file (the nearest parent with ``objectives/`` or ``neural/`` and a config.yaml,
    checkpoint or hall of fame), if any. A run directory without its config.yaml is an error: the held-out
    protocol cannot be checked without it, and a check skipped in silence is worse than none."""
    for parent in path.resolve().parents:
        # objectives/: a symbolic search's files; neural/: a neural search's networks (its distill/ beside them)
        if not any((parent / d).is_dir() for d in ("objectives", "neural")):
            continue
        if (parent / "config.yaml").is_file():
            return parent
        if any((parent / f).exists() for f in ("checkpoint.json", "hall_of_fame.yaml", "evaluations.jsonl")):
            raise SymmpoError(
                f"{parent} is a search run without its config.yaml: the comparison cannot check that it is "
                "held out from that run's fitness"
            )
    return None


def discovered_members(specs: Sequence[str]) -> list[FileMember]:
    """``LABEL=FILE`` (a symbolic or a neural objective file) or a run directory (its best hall-of-fame entry,
    labelled with the run's name)."""
    from symmpo.neural.components import load_objective

    out = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep:
            from symmpo.search.rundir import RunDir, RunDirError

            run = Path(spec)
            try:
                path = str(RunDir(run).best(1).file)
            except RunDirError as err:
                raise SymmpoError(
                    f"no objective file from {spec!r} ({err}); give LABEL=FILE or a finished run"
                ) from None
            label = run.name
        if not Path(path).is_file():
            raise SymmpoError(
                f"no objective file {path!r} (from {spec!r}): give LABEL=FILE or a finished run"
            )
        load_objective(path)  # a malformed file fails now, with the loader's one-line error, not mid-study
        run_dir = find_run(Path(path))
        out.append(FileMember(label, "discovered", {}, None, path, str(run_dir) if run_dir else None))
    labels = [m.label for m in out]
    if len(set(labels)) != len(labels):
        raise SymmpoError(f"labels must be unique, got {labels}")
    return out


def resolve_objectives(specs: Sequence[str]) -> list[Member]:
    """Named losses (``dpo``; named defaults) and objective files (``LABEL=FILE``, or ``FILE`` labelled with
    the name of the search run that holds it, else the file's stem); each file is parsed now, not mid-study."""
    from symmpo.neural.components import load_objective
    from symmpo.objective import lookup
    from symmpo.objective.named import known

    out: list[Member] = []
    for spec in specs:
        name = lookup(spec)
        if name is not None:
            out.append(Member(name, name, default_params(name), None))
            continue
        label, sep, path = spec.partition("=")
        if not sep:
            path = spec
            run = find_run(Path(path))
            label = run.name if run is not None and Path(path).name == "hof_01.yaml" else Path(path).stem
        if not Path(path).is_file():
            raise SymmpoError(f"objective {spec!r} is neither a named loss ({known()}) nor an objective file")
        load_objective(path)  # a malformed file fails here, with the loader's one-line error
        run = find_run(Path(path))
        out.append(FileMember(label, "discovered", {}, None, str(path), str(run) if run else None))
    labels = [m.label for m in out]
    if len(set(labels)) != len(labels) or SFT in labels:
        raise SymmpoError(f"objective labels must be unique and not {SFT!r}, got {labels}")
    return out
