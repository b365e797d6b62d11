"""The baseline table: every named objective plus SFT-only, on Hopper, HalfCheetah and Walker2d × data settings.

Two stages, both resumable (one JSON line per trained member, appended after each (task, seed) population, so a
killed run loses at most the population in flight):

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

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.files import append_jsonl, dumps, loads, read_jsonl
from symmpo.objective import named
from symmpo.report import (
    diverged_lines,
    fmt_mean_se,
    iqm_table,
    plot_iqm,
    verdict_lines,
    write_csv,
    write_stats,
)
from symmpo.stats import mean_se
from symmpo.train.config import TrainConfig, heldout_train

# The default baseline set, from the named table (symmpo.objective.named): every row flagged as a baseline,
# MPO recipes first, then the plain baselines outside MPO.
BASELINES = named.baselines()
ENVS = ("hopper", "halfcheetah", "walker2d")
FITNESS_ENVS = ("hopper", "halfcheetah")
SETTINGS = ("clean", "noisy-0.2", "noisy-0.4", "mixed-0.5")
SWEEP_FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
SWEEP_LRS = (3e-5, 1e-4, 3e-4, 1e-3)
SFT = "sft"
# transfer environments take their hyperparameters from the matching column of another environment
TRANSFER_SOURCE = {"walker2d": "hopper"}


def tuned_on(task: str) -> str:
    """The column whose fitness split chose ``task``'s hyperparameters (itself, or its transfer source)."""
    env, _, setting = task.partition("-")
    return f"{TRANSFER_SOURCE[env]}-{setting}" if env in TRANSFER_SOURCE else task


def sweep_tasks(envs: Sequence[str], settings: Sequence[str]) -> list[str]:
    """The columns a sweep tunes on: every setting of every environment that is not a transfer environment."""
    bad = [e for e in envs if e in TRANSFER_SOURCE]
    if bad:
        raise SymmpoError(
            f"{', '.join(bad)} is a transfer environment and is never tuned on; its columns use "
            f"{', '.join(TRANSFER_SOURCE[e] for e in bad)}'s choices"
        )
    return [f"{e}-{s}" for e in envs for s in settings]


def scale_param(name: str) -> str | None:
    """The parameter that sets the strength of the preference term (what the sweep moves with the learning
    rate; None for a loss with no such parameter, which the sweep tunes by learning rate alone)."""
    return named.scale_param(name)


def default_params(name: str) -> dict[str, float]:
    return named.defaults(name)


def fmt_scale(name: str, params: dict[str, float]) -> str:
    """``beta=0.1`` (the swept value of a row), or ``-`` for a loss without a scale parameter."""
    key = scale_param(name)
    return "-" if key is None else f"{key}={params[key]:g}"


@dataclass(frozen=True)
class Member:
    label: str  # unique within a population, e.g. "dpo" or "dpo[beta=0.02,lr=0.001]"
    name: str  # the named baseline
    params: dict[str, float]
    lr: float | None = None  # None: the config's learning rate

    def objective(self):
        from symmpo.objective import Objective

        return Objective.named(self.name, **self.params)


def sweep_members(
    baselines: Sequence[str] = BASELINES,
    factors: Sequence[float] = SWEEP_FACTORS,
    lrs: Sequence[float] = SWEEP_LRS,
) -> list[Member]:
    out = []
    for name in baselines:
        base = default_params(name)
        key = scale_param(name)
        if key is None:  # nothing to scale: the learning rate alone
            out += [Member(f"{name}[lr={lr:g}]", name, base, lr) for lr in lrs]
            continue
        for f in factors:
            p = {**base, key: round(base[key] * f, 6)}
            for lr in lrs:
                out.append(Member(f"{name}[{key}={p[key]:g},lr={lr:g}]", name, p, lr))
    return out


def fitness_config(config: TrainConfig) -> TrainConfig:
    """The configuration on the fitness split (what sweeps and searches tune on)."""
    import dataclasses

    from symmpo import protocol

    return dataclasses.replace(config, dataset_seed=protocol.FITNESS_DATASET_SEED, eval_reset_offset=0)


def heldout_config(config: TrainConfig) -> TrainConfig:
    """The configuration on the held-out split (what tables and comparisons report)."""
    return TrainConfig.from_dict(heldout_train(config.to_dict(), {"eval_episodes": config.eval_episodes}))


def config_hash(config: TrainConfig) -> str:
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def _ident(task: str, seed: int, label: str, params: dict, lr: float | None, data: str | None) -> tuple:
    """What makes a stored row reusable: same cell, member, hyperparameters and dataset bytes (a re-exported
    behaviour policy changes the dataset hash, so its old rows are redone, not silently mixed in)."""
    return (task, seed, label, dumps(params, sort_keys=True), lr, data)


def _done(rows: list[dict], kind: str, chash: str) -> set[tuple]:
    return {
        _ident(r["task"], r["seed"], r["label"], r["params"], r.get("lr"), r.get("dataset"))
        for r in rows
        if r.get("kind") == kind and r.get("config") == chash
    }


def run_populations(
    out_dir: Path,
    kind: str,
    tasks: Sequence[str],
    seeds: Sequence[int],
    members: list[Member] | Callable[[str], list[Member]],
    config: TrainConfig,
    *,
    with_sft: bool,
    cache_dir: str | None = None,
    progress: bool = True,
    log=print,
) -> None:
    """Train ``members`` (a list, or a function of the task) together on every (task, seed) not yet in
    ``<kind>.jsonl``; append their rows."""
    import torch
    from tqdm import tqdm

    from symmpo.train import fitness
    from symmpo.train.trainer import train_population

    torch.set_num_threads(1)
    path = out_dir / f"{kind}.jsonl"
    chash = config_hash(config)
    done = _done(read_jsonl(path), kind, chash)
    cells = [(t, s) for t in tasks for s in seeds]
    bar = tqdm(cells, desc=kind, disable=not progress)
    for task, seed in bar:
        t0 = time.perf_counter()
        dataset = fitness.load_dataset(task, config, seed, cache_dir)
        data = dataset.meta.get("sha256")
        task_members = members(task) if callable(members) else members
        todo = [m for m in task_members if _ident(task, seed, m.label, m.params, m.lr, data) not in done]
        need_sft = with_sft and _ident(task, seed, SFT, {}, None, data) not in done
        if not todo and not need_sft:
            continue
        bar.set_postfix_str(f"{task} seed {seed}: {len(todo)} members")
        reference = fitness.get_reference(dataset, seed, config, cache_dir=cache_dir)
        t_prep = time.perf_counter() - t0
        evaluator = fitness.make_evaluator(task, config)
        results = []
        if todo:
            results = train_population(
                [m.objective() for m in todo],
                dataset,
                reference,
                config,
                seed,
                evaluator=evaluator,
                names=[m.label for m in todo],
                lrs=[config.lr if m.lr is None else m.lr for m in todo],
            )
        rows = []
        for m, r in zip(todo, results, strict=True):
            rows.append(
                {
                    "kind": kind,
                    "task": task,
                    "seed": seed,
                    "label": m.label,
                    "objective": m.name,
                    "params": m.params,
                    "lr": m.lr,
                    "config": chash,
                    "dataset": data,
                    **_result_fields(r),
                }
            )
        if need_sft:
            r = fitness.evaluate_reference(reference, evaluator)
            rows.append(
                {
                    "kind": kind,
                    "task": task,
                    "seed": seed,
                    "label": SFT,
                    "objective": SFT,
                    "params": {},
                    "lr": None,
                    "config": chash,
                    "dataset": data,
                    "bc_loss": reference.bc_loss,
                    **_result_fields(r),
                }
            )
        append_jsonl(path, rows)
        secs = time.perf_counter() - t0
        log(
            f"{kind} {task} seed {seed}: {len(rows)} rows in {secs:.0f} s (data+reference {t_prep:.0f} s, "
            f"train {results[0].train_seconds if results else 0:.0f} s, eval "
            f"{results[0].eval_seconds if results else 0:.0f} s)"
        )


def current_rows(rows: list[dict], config: TrainConfig) -> list[dict]:
    """Rows of this configuration on each task's most recent dataset (the last one written wins)."""
    chash = config_hash(config)
    rows = [r for r in rows if r.get("config") == chash]
    latest = {r["task"]: r.get("dataset") for r in rows}
    return [r for r in rows if r.get("dataset") == latest[r["task"]]]


def _result_fields(r) -> dict[str, Any]:
    return {
        "score": r.score,
        "score_se": r.score_se,
        "returns": r.returns,
        "alive": r.alive,
        "reason": r.reason,
        "eval_curve": r.eval_curve,
        "train_seconds": r.train_seconds,
        "eval_seconds": r.eval_seconds,
    }


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
    **kw: Any,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The sweep, always on the fitness split of ``config``, one per column."""
    config = fitness_config(config)
    tasks = sweep_tasks(envs, settings)
    members = sweep_members(baselines, factors, lrs)
    run_populations(out_dir, "sweep", tasks, seeds, members, config, with_sft=True, **kw)
    return write_sweep_report(out_dir, config, tasks)


def _choice(row: dict) -> dict[str, Any]:
    return {"params": row["params"], "lr": row.get("lr")}


def write_sweep_report(
    out_dir: Path, config: TrainConfig, tasks: Sequence[str] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """sweep.md (every value's scores) and sweep.json: per column, each baseline's choice
    (``{"params": ..., "lr": ...}``), its fitness score, the column's best baseline and the choices on an edge."""
    config = fitness_config(config)
    rows = current_rows(read_jsonl(out_dir / "sweep.jsonl"), config)
    if not rows:
        raise SymmpoError(f"no sweep results for this configuration in {out_dir / 'sweep.jsonl'}")
    done = {r["task"] for r in rows}
    missing = [t for t in (tasks or []) if t not in done]
    if missing:
        raise SymmpoError(f"no sweep results for {', '.join(missing)} in {out_dir / 'sweep.jsonl'}")
    sft = [r for r in rows if r["label"] == SFT]  # the reference every run starts from, for comparison
    rows = [r for r in rows if r["label"] != SFT]
    lrs = sorted({r["lr"] for r in rows if r.get("lr") is not None})
    factors = sorted({_factor(r) for r in rows})
    chosen: dict[str, dict[str, dict[str, Any]]] = {}
    fit: dict[str, dict[str, float]] = {}
    best: dict[str, str] = {}
    edges: dict[str, list[str]] = {}
    lines = [
        "# Hyperparameter sweep (fitness split, per column)",
        "",
        "Per column, each baseline's scale parameter (beta; lam for orpo; none for sft_chosen) at "
        f"{{{', '.join(f'{x:g}' for x in factors)}}} × its default and the learning rate in "
        f"{{{', '.join(f'{x:g}' for x in lrs)}}}; mean normalized score ± s.e. over the sweep's training seeds, on "
        "dataset seed 0 and evaluation resets from 0 (never the held-out split the table reports). The best mean "
        "per baseline and column (**bold**) is its hyperparameter set there; the best of those, SFT included, is "
        "the column's best baseline. Walker2d columns use the matching Hopper column's choices.",
    ]
    for task in ordered_tasks({r["task"] for r in rows}):
        by: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            if r["task"] == task:
                by[r["label"]].append(r)
        chosen[task], fit[task], edges[task] = {}, {}, []
        for rs in by.values():  # a value that diverged on any seed scores -inf
            name = rs[0]["objective"]
            m, _ = mean_se([r["score"] for r in rs])
            if name not in fit[task] or m > fit[task][name]:
                fit[task][name], chosen[task][name] = m, _choice(rs[0])
        for name, c in chosen[task].items():
            row = next(rs[0] for rs in by.values() if _choice(rs[0]) == c and rs[0]["objective"] == name)
            scaled = scale_param(name) is not None
            if (scaled and _factor(row) in (factors[0], factors[-1])) or row.get("lr") in (lrs[0], lrs[-1]):
                edges[task].append(name)
        task_sft = [r["score"] for r in sft if r["task"] == task]
        if task_sft:
            fit[task][SFT] = mean_se(task_sft)[0]
        best[task] = max(fit[task], key=lambda n: fit[task][n])
        lines += ["", f"## {task}", "", "| baseline | value | lr | score |", "|---|---|---|---|"]
        for rs in by.values():
            name = rs[0]["objective"]
            m, se = mean_se([r["score"] for r in rs])
            mark = "**" if _choice(rs[0]) == chosen[task][name] else ""
            lr = rs[0].get("lr")
            lines.append(
                f"| {name} | {fmt_scale(name, rs[0]['params'])} | {'' if lr is None else f'{lr:g}'} | "
                f"{mark}{fmt_mean_se(m, se)}{mark} |"
            )
        if task_sft:
            lines.append(f"| sft (reference) | | | {fmt_mean_se(*mean_se(task_sft))} |")
        lines += ["", f"Best baseline (fitness): **{best[task]}**."]
        if edges[task]:
            lines.append(f"On an edge of the grid: {', '.join(sorted(edges[task]))}.")
    seeds = sorted({r["seed"] for r in rows})
    lines += ["", f"Seeds: {seeds}. Training configuration: `{json.dumps(config.to_dict())}`."]
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
    (out_dir / "sweep.json").write_text(
        dumps(
            {
                "config": config_hash(config),
                "seeds": seeds,
                "params": chosen,
                "fitness": fit,
                "best_baseline": best,
                "edges": edges,
            },
            indent=1,
        )
    )
    return chosen


def _factor(row: dict) -> float:
    """The swept multiple of the baseline's default scale parameter (1 for a loss without one)."""
    key = scale_param(row["objective"])
    return 1.0 if key is None else round(row["params"][key] / default_params(row["objective"])[key], 6)


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

    def members(task: str) -> list[Member]:
        chosen = params(task)
        keep = chosen if baselines is None else {n: chosen[n] for n in baselines if n in chosen}
        return [Member(name, name, c["params"], c.get("lr")) for name, c in keep.items()]

    return members


def check_heldout_seeds(config: TrainConfig, seeds: Sequence[int], sweep_seeds: Sequence[int]) -> None:
    """The table must not share a dataset seed, training seed or reset with the sweep that tuned it."""
    from symmpo import protocol

    protocol.check_heldout(
        protocol.split_of(fitness_config(config).to_dict(), sweep_seeds),
        protocol.split_of(heldout_config(config).to_dict(), seeds),
        "the table (its baselines were tuned by the sweep)",
    )


# ------------------------------------------------------------------------------------------------ bench
def run_bench(
    out_dir: Path,
    config: TrainConfig,
    seeds: Sequence[int],
    envs: Sequence[str] = ENVS,
    settings: Sequence[str] = SETTINGS,
    params: Callable[[str], dict[str, dict[str, Any]]] | None = None,
    sweep_seeds: Sequence[int] = (),
    baselines: Sequence[str] = BASELINES,
    **kw: Any,
) -> None:
    """The table's runs, on the held-out split of ``config`` (refused if it overlaps the sweep)."""
    check_heldout_seeds(config, seeds, sweep_seeds)
    if params is None:
        defaults = {name: {"params": default_params(name), "lr": None} for name in baselines}
        params = lambda task: defaults  # noqa: E731
    tasks = [f"{e}-{s}" for e in envs for s in settings]
    members = members_for(params, baselines)
    run_populations(out_dir, "bench", tasks, seeds, members, heldout_config(config), with_sft=True, **kw)


def write_bench_report(out_dir: Path, config: TrainConfig, header: str = "") -> str:
    """table.md / table.csv / table.png / stats.json from the held-out rows of this configuration."""
    from symmpo.train import table_stats

    config = heldout_config(config)
    rows = current_rows(read_jsonl(out_dir / "bench.jsonl"), config)
    if not rows:
        raise SymmpoError(f"no bench results for this configuration in {out_dir / 'bench.jsonl'}")
    tasks = ordered_tasks({r["task"] for r in rows})
    labels = [SFT] + [b for b in BASELINES if any(r["label"] == b for r in rows)]
    best = chosen_best(out_dir, config, tasks)
    st = table_stats.table_stats(rows, labels, tasks, baselines=labels, chosen_best=best)
    params = {(r["task"], r["label"]): {**r["params"], "lr": r.get("lr") or config.lr} for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    write_stats(out_dir / "stats.json", st, seeds, config.to_dict())
    md = [
        "# Baseline table (held-out split)",
        "",
        header,
        "",
        "D4RL-normalized score (100 = D4RL expert, 0 = random) of the greedy policy: **interquartile mean over "
        f"training seeds {seeds}** with its 95 % bootstrap CI; held-out split (dataset seed "
        f"{config.dataset_seed}, evaluation resets from {config.eval_reset_offset}; the sweep tuned on dataset "
        "seed 0, resets from 0 and other training seeds). **bold** = highest IQM in the column. `sft` = the "
        "behaviour-cloned reference every PO run starts from. A diverged run counts as 0. Each column's best "
        "baseline was chosen on the fitness split "
        f"({'by the sweep' if best else 'not available: chosen on this table, a winner-biased fallback'}).",
        "",
        *iqm_table(st, labels, tasks, len(seeds)),
    ]
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


def plain_lines(labels: Sequence[str]) -> list[str]:
    """The table's note naming its plain baselines (losses outside the MPO family), if it has any."""
    plain = [lab for lab in labels if named.lookup(lab) is not None and named.is_plain(lab)]
    if not plain:
        return []
    return [
        "",
        f"Plain baselines, outside the MPO family (TRL losses that are not a function of the reward margin; no "
        f"formula, never searched): {', '.join(plain)}.",
    ]


def power_lines(st: dict[str, Any]) -> list[str]:
    """What the table can resolve: the median paired SD and the minimum detectable effect (80 % power) at the
    first Holm step, overall and per column (stats.json has every comparison's)."""
    p = st.get("power")
    if not p or not p.get("n_seeds"):
        return []
    cols = "; ".join(
        f"{t} {c['power']['median_paired_sd']:.1f} / {c['power']['mde']:.1f}"
        for t, c in st["tasks"].items()
        if c.get("power", {}).get("n_seeds")
    )
    return [
        "",
        f"Power: median SD of paired differences {p['median_paired_sd']:.1f} points over {p['n_seeds']} seeds, so "
        f"the smallest difference a corrected test detects with 80 % power is {p['mde']:.1f} points (α / m = "
        f"{p['alpha']:.2g}); a tie says nothing about smaller differences. Per column (SD / detectable): {cols}.",
    ]


def fmt_params(p: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in p.items())


def ordered_tasks(tasks: set[str]) -> list[str]:
    def key(t: str):
        env, _, setting = t.partition("-")
        return (
            ENVS.index(env) if env in ENVS else 99,
            SETTINGS.index(setting) if setting in SETTINGS else 99,
            t,
        )

    return sorted(tasks, key=key)
