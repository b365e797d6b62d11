"""The baseline table: every named objective plus SFT-only, on Hopper, HalfCheetah and Walker2d × data settings.

Two stages on the study runner (``symmpo.studies``; MuJoCo adapter, resumable rows per (task, seed) population,
so a killed run loses at most the population in flight):

* **sweep** on the *fitness* split of every column it judges (dataset seed 0, training seeds 0..N-1, evaluation
  resets from 0): each baseline's scale parameter (``named.scale_param``: beta; lam for orpo; none for
  sft_chosen, tuned by learning rate alone) at ``SWEEP_FACTORS`` × its default and
  the learning rate at ``SWEEP_LRS`` (20 points), all baselines × values in one population per (task, seed)
  (each member has its own learning rate). Per column, the pair with the best mean normalized score over seeds
  becomes that baseline's hyperparameter set there, and the baseline (SFT included) with the best chosen score
  becomes the column's best baseline (``sweep.json``): the table then tests against it on held-out data, so the
  choice is never made on the scores it is tested on. Every loss, named or discovered, is tuned this way on the
  same data (``symmpo compare --tune``). Walker2d is a transfer environment and is never tuned on: its columns use
  the matching Hopper column's choices (``TRANSFER_SOURCE``). A choice on the edge of the grid is reported.
* **bench** on the *held-out* split (``symmpo.protocol``: a fresh dataset seed, training seeds from 1000,
  evaluation resets from 50,000; refused if it overlaps the sweep): all baselines with their chosen parameters,
  trained together per (task, seed), plus the SFT-only reference → ``table.md`` (IQM with bootstrap CIs, corrected
  verdicts against DPO), ``stats.json`` (``symmpo.train.table_stats``), ``table.csv``, ``table.png``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from symmpo import protocol
from symmpo.errors import SymmpoError
from symmpo.files import dumps, loads
from symmpo.report import (
    diverged_lines,
    iqm_table,
    plot_iqm,
    verdict_lines,
    write_csv,
)
from symmpo.studies.members import (
    BASELINES,
    SFT,
    SWEEP_ANCHORS,
    SWEEP_FACTORS,
    SWEEP_LRS,
    Member,
    anchor_factor_of,
    default_params,
    factor_of,
    fmt_params,
    sweep_members,
    with_choices,
)
from symmpo.studies.mujoco import (
    ENVS,
    FITNESS_ENVS,
    SETTINGS,
    config_hash,
    fitness_config,
    heldout_config,
    ordered_tasks,
    rows_of,
    run_populations,
    split,
    sweep_tasks,
    tuned_on,
)
from symmpo.studies.sweep import of_choices, sweep_columns
from symmpo.studies.tables import gain_lines, plain_lines, power_lines, report_start
from symmpo.train.config import TrainConfig


# ------------------------------------------------------------------------------------------------ sweep
def run_sweep(
    out_dir: Path,
    config: TrainConfig,
    seeds: Sequence[int],
    envs: Sequence[str] = FITNESS_ENVS,
    settings: Sequence[str] = SETTINGS,
    baselines: Sequence[str] = BASELINES,
    factors: Sequence[float] = SWEEP_FACTORS,
    lrs: Sequence[float] = SWEEP_LRS,
    anchors: Sequence[float] = SWEEP_ANCHORS,
    **kw: Any,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The sweep, always on the fitness split of ``config``, one per column (``anchors``: multiples of the NLL
    weight of the baselines that have one, :func:`members.sweep_members`)."""
    config = fitness_config(config)
    tasks = sweep_tasks(envs, settings)
    members = sweep_members(baselines, factors, lrs, anchors)
    run_populations(out_dir, "sweep", tasks, seeds, members, config, with_sft=True, **kw)
    return write_sweep_report(out_dir, config, tasks)


def write_sweep_report(
    out_dir: Path, config: TrainConfig, tasks: Sequence[str] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """sweep.md (every value's scores) and sweep.json: per column, each baseline's choice
    (``{"params": ..., "lr": ...}``), its fitness score, the column's best baseline and the choices on an edge."""
    config = fitness_config(config)
    rows = rows_of(out_dir, "sweep", config).current()
    if not rows:
        raise SymmpoError(f"no sweep results for this configuration in {out_dir / 'sweep.jsonl'}")
    done = {r["task"] for r in rows}
    missing = [t for t in (tasks or []) if t not in done]
    if missing:
        raise SymmpoError(f"no sweep results for {', '.join(missing)} in {out_dir / 'sweep.jsonl'}")
    po_rows = [r for r in rows if r["label"] != SFT]
    lrs = sorted({r["lr"] for r in po_rows if r.get("lr") is not None})
    factors = sorted({factor_of(r) for r in po_rows})
    anchors = sorted({a for r in po_rows if (a := anchor_factor_of(r)) is not None})
    anchored = sorted({r["objective"] for r in po_rows if anchor_factor_of(r) is not None})
    sweep = sweep_columns(rows, SFT, ordered_tasks({r["task"] for r in po_rows}))
    lines = [
        "# Hyperparameter sweep (fitness split, per column)",
        "",
        "Per column, each baseline's scale parameter (beta; lam for orpo; none for sft_chosen) at "
        f"{{{', '.join(f'{x:g}' for x in factors)}}} × its default and the learning rate in "
        f"{{{', '.join(f'{x:g}' for x in lrs)}}}"
        + (
            f"; the weight of the NLL term ({', '.join(anchored)}) at "
            f"{{{', '.join(f'{x:g}' for x in anchors)}}} × its default"
            if len(anchors) > 1
            else ""
        )
        + "; mean normalized score ± s.e. over the sweep's training seeds, on "
        f"{datasets_of(config)} and evaluation resets from 0 (never the held-out split the table reports). The best mean "
        "per baseline and column (**bold**) is its hyperparameter set there; the best of those, SFT included, is "
        "the column's best baseline. Walker2d columns use the matching Hopper column's choices.",
        *sweep.lines,
        "",
        f"Seeds: {sweep.seeds}. Training configuration: `{json.dumps(config.to_dict())}`.",
    ]
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
    (out_dir / "sweep.json").write_text(dumps(sweep.summary(config_hash(config)), indent=1))
    return sweep.chosen


def datasets_of(config: TrainConfig) -> str:
    """The preference data a fitness configuration trains on, in words."""
    if config.dataset_seeds:
        return f"dataset seeds {list(config.dataset_seeds)} (training seed s on the (s mod n)-th)"
    return f"dataset seed {config.dataset_seed}"


def read_sweep(out_dir: Path, config: TrainConfig) -> dict[str, Any] | None:
    """``sweep.json`` when it was made for this configuration's fitness split, else None."""
    path = out_dir / "sweep.json"
    if not path.exists():
        return None
    data = loads(path.read_text())
    return data if data.get("config") == config_hash(fitness_config(config)) else None


def chosen_params(
    out_dir: Path, config: TrainConfig, require: bool
) -> tuple[Callable[[str], dict[str, dict[str, Any]]], list[int]]:
    """(task -> the sweep's choice per baseline, the sweep's seeds). A transfer column reads its source
    column's choice. Without a sweep for this configuration (and when one is not required): the named defaults
    at the config's learning rate, and no seeds."""
    path = out_dir / "sweep.json"
    data = read_sweep(out_dir, config)
    if data is not None and "seeds" in data:
        params = data["params"]

        def for_task(task: str) -> dict[str, dict[str, Any]]:
            source = tuned_on(task)
            legacy = source.split("-")[0]  # suite-v2 sweeps were per environment, on clean data
            if source not in params and legacy in params:
                return params[legacy]
            if source not in params:
                raise SymmpoError(
                    f"the sweep in {path} has no {source}: run `symmpo bench --sweep --envs "
                    f"{source.split('-')[0]} --settings {source.partition('-')[2]}` first"
                )
            return params[source]

        return for_task, [int(x) for x in data["seeds"]]
    if require:
        raise SymmpoError(
            f"no sweep for this configuration in {path}: run `symmpo bench --sweep` first "
            "(or, with `symmpo bench` / `symmpo transfer`, --no-sweep for the named defaults)"
        )
    defaults = {name: {"params": default_params(name), "lr": None} for name in BASELINES}
    return (lambda task: defaults), []


def chosen_best(out_dir: Path, config: TrainConfig, tasks: Sequence[str]) -> dict[str, str]:
    """Each column's best baseline as the sweep chose it on fitness data ({} without a matching sweep)."""
    best = (read_sweep(out_dir, config) or {}).get("best_baseline", {})
    return {t: best[tuned_on(t)] for t in tasks if tuned_on(t) in best}


def members_for(
    params: Callable[[str], dict[str, dict[str, Any]]], baselines: Sequence[str] | None = None
) -> Callable[[str], list[Member]]:
    """Per task: every baseline (or those of ``baselines``) with its column's chosen hyperparameters."""
    return lambda task: with_choices(params(task), baselines)


def check_heldout_seeds(
    config: TrainConfig,
    seeds: Sequence[int],
    sweep_seeds: Sequence[int],
    sweep_fitness: TrainConfig | None = None,
) -> None:
    """The table must not share a dataset seed, training seed or reset with the sweep that tuned it
    (``sweep_fitness``: the sweep's configuration, by default the fitness side of ``config``)."""
    protocol.check_heldout(
        split(sweep_fitness or fitness_config(config), sweep_seeds),
        split(heldout_config(config), seeds),
        "the table (its baselines were tuned by the sweep)",
    )


# ------------------------------------------------------------------------------------------------ bench
def run_bench(
    out_dir: Path,
    config: TrainConfig,
    seeds: Sequence[int],
    tasks: Sequence[str],
    members: Callable[[str], list[Member]],
    sweep_seeds: Sequence[int] = (),
    **kw: Any,
) -> None:
    """The table's runs of ``members`` (per task, :func:`members_for`), on the held-out split of ``config``
    (refused if it overlaps the sweep)."""
    check_heldout_seeds(config, seeds, sweep_seeds)
    run_populations(out_dir, "bench", tasks, seeds, members, heldout_config(config), with_sft=True, **kw)


def _best_source(best: dict[str, str], tasks: Sequence[str]) -> str:
    """Where each column's best baseline came from, naming the columns the sweep has not chosen for."""
    fallback = [t for t in tasks if t not in best]
    if not best:
        return "not available: chosen on this table, a winner-biased fallback"
    if not fallback:
        return "by the sweep"
    return f"by the sweep, except {', '.join(fallback)}: chosen on this table, a winner-biased fallback"


def write_bench_report(out_dir: Path, config: TrainConfig, header: str = "") -> str:
    """table.md / table.csv / table.png / stats.json from the held-out rows of this configuration."""
    from symmpo.train import table_stats

    swept_on = datasets_of(fitness_config(config))
    config = heldout_config(config)
    rows = rows_of(out_dir, "bench", config).current()
    if read_sweep(out_dir, config) is not None:  # a baseline at its current choice only
        rows = of_choices(rows, chosen_params(out_dir, config, require=True)[0])
    if not rows:
        raise SymmpoError(f"no bench results for this configuration in {out_dir / 'bench.jsonl'}")
    tasks = ordered_tasks({r["task"] for r in rows})
    labels = [SFT] + [b for b in BASELINES if any(r["label"] == b for r in rows)]
    best = chosen_best(out_dir, config, tasks)
    st = table_stats.table_stats(rows, labels, tasks, baselines=labels, chosen_best=best)
    params = {(r["task"], r["label"]): {**r["params"], "lr": r.get("lr") or config.lr} for r in rows}
    seeds, md = report_start(out_dir, st, rows, config.to_dict(), "Baseline table (held-out split)", header)
    md += [
        "D4RL-normalized score (100 = D4RL expert, 0 = random) of the greedy policy: **interquartile mean over "
        f"training seeds {seeds}** with its 95 % bootstrap CI; held-out split (dataset seed "
        f"{config.dataset_seed}, evaluation resets from {config.eval_reset_offset}; the sweep tuned on "
        f"{swept_on}, resets from 0 and other training seeds). **bold** = highest IQM in the column. `sft` = the "
        "behaviour-cloned reference every PO run starts from. A diverged run counts as 0. Each column's best "
        "baseline was chosen on the fitness split "
        f"({_best_source(best, tasks)}).",
        "",
        *iqm_table(st, labels, tasks, len(seeds)),
    ]
    md += gain_lines(st, tasks, SFT)
    md += ["", "η² of the objective factor (share of score variance explained by the choice of loss): "]
    md += ["; ".join(f"{t} {st['tasks'][t]['eta_squared']:.2f}" for t in tasks)]
    md += verdict_lines(st, tasks)
    by_task: dict[str, list[str]] = defaultdict(list)
    for (task, lab), v in sorted(params.items()):
        if lab != SFT:
            by_task[task].append(f"{lab} {fmt_params(v)}")
    md += plain_lines(labels)
    md += power_lines(st)
    source = (
        "per column, from the sweep on its fitness split; Walker2d from Hopper's"
        if best
        else "from a suite-v2 sweep: per environment, on clean data"
    )
    md += ["", f"Hyperparameters ({source}):"]
    md += [f"- {task}: " + "; ".join(v) for task, v in by_task.items()]
    md += ["", f"Training configuration `{json.dumps(config.to_dict())}`."]
    md += diverged_lines(rows)
    text = "\n".join(md) + "\n"
    (out_dir / "table.md").write_text(text)
    write_csv(out_dir / "table.csv", st, labels, tasks)
    plot_iqm(st, labels, tasks, out_dir / "table.png", ENVS, highlight=SFT)
    return text
