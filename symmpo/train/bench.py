"""The baseline table: every named objective plus SFT-only, on Hopper and HalfCheetah × data settings × seeds.

Two stages, both resumable (one JSON line per trained member, appended after each (task, seed) population, so a
killed run loses at most the population in flight):

* **sweep** on clean data only: each baseline's scale parameter (beta; lam for orpo) at ``SWEEP_FACTORS`` × its
  default and the learning rate at ``SWEEP_LRS``, all baselines × values in one population per (env, seed) (each
  member has its own learning rate). The pair with the best mean normalized score over envs × seeds becomes that
  baseline's single hyperparameter set (``sweep.json``). Tuning on clean data only,
  never per setting, is what makes the noisy / mixed columns a test of robustness rather than of tuning.
* **bench**: all baselines with their chosen parameters, trained together per (task, seed), plus the SFT-only
  reference → ``table.md`` (mean ± standard error over seeds, best per column in bold), ``table.csv``, ``table.png``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.train.config import TrainConfig
from symmpo.train.report import append_jsonl, dumps, fmt_mean_se, loads, mean_se, read_jsonl

BASELINES = ("dpo", "hinge", "ipo", "cdpo", "rdpo", "simpo", "orpo", "discopop", "tsallis")
ENVS = ("hopper", "halfcheetah")
SETTINGS = ("clean", "noisy-0.2", "noisy-0.4", "mixed-0.5")
SWEEP_FACTORS = (0.2, 1.0, 5.0)
SWEEP_LRS = (3e-4, 1e-3)
SFT = "sft"


def scale_param(name: str) -> str:
    """The parameter that sets the strength of the preference term (what the sweep moves)."""
    return "lam" if name == "orpo" else "beta"


def default_params(name: str) -> dict[str, float]:
    from symmpo.named import NAMED

    return dict(NAMED[name][0])


@dataclass(frozen=True)
class Member:
    label: str  # unique within a population, e.g. "dpo" or "dpo[beta=0.02,lr=0.001]"
    name: str  # the named baseline
    params: dict[str, float]
    lr: float | None = None  # None: the config's learning rate

    def objective(self):
        from symmpo import Objective

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
        for f in factors:
            p = {**base, key: round(base[key] * f, 6)}
            for lr in lrs:
                out.append(Member(f"{name}[{key}={p[key]:g},lr={lr:g}]", name, p, lr))
    return out


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
    members: list[Member],
    config: TrainConfig,
    *,
    with_sft: bool,
    cache_dir: str | None = None,
    progress: bool = True,
    log=print,
) -> None:
    """Train ``members`` together on every (task, seed) not yet in ``<kind>.jsonl``; append their rows."""
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
        todo = [m for m in members if _ident(task, seed, m.label, m.params, m.lr, data) not in done]
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


def _current(rows: list[dict], config: TrainConfig) -> list[dict]:
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
    envs: Sequence[str] = ENVS,
    baselines: Sequence[str] = BASELINES,
    factors: Sequence[float] = SWEEP_FACTORS,
    lrs: Sequence[float] = SWEEP_LRS,
    **kw: Any,
) -> dict[str, dict[str, Any]]:
    tasks = [f"{e}-clean" for e in envs]
    members = sweep_members(baselines, factors, lrs)
    run_populations(out_dir, "sweep", tasks, seeds, members, config, with_sft=True, **kw)
    return write_sweep_report(out_dir, config, envs)


def _choice(row: dict) -> dict[str, Any]:
    return {"params": row["params"], "lr": row.get("lr")}


def write_sweep_report(
    out_dir: Path, config: TrainConfig, envs: Sequence[str] = ENVS
) -> dict[str, dict[str, Any]]:
    """sweep.md (every value's scores) and sweep.json (per baseline: ``{"params": ..., "lr": ...}``)."""
    tasks = {f"{e}-clean" for e in envs}  # the choice uses exactly the envs asked for
    rows = [r for r in _current(read_jsonl(out_dir / "sweep.jsonl"), config) if r["task"] in tasks]
    if not rows:
        raise SymmpoError(f"no sweep results for this configuration in {out_dir / 'sweep.jsonl'}")
    sft = [r for r in rows if r["label"] == SFT]  # the reference every run starts from, for comparison
    rows = [r for r in rows if r["label"] != SFT]
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["label"]].append(r)
    tasks = sorted({r["task"] for r in rows})
    lrs = sorted({r["lr"] for r in rows if r.get("lr") is not None})
    chosen: dict[str, dict[str, Any]] = {}
    best_score: dict[str, float] = {}
    for rs in by.values():  # the best mean over tasks x seeds; a value that diverged anywhere scores -inf
        name = rs[0]["objective"]
        m, _ = mean_se([r["score"] for r in rs])
        if name not in best_score or m > best_score[name]:
            best_score[name], chosen[name] = m, _choice(rs[0])
    lines = [
        "# Hyperparameter sweep (clean data)",
        "",
        "Each baseline's scale parameter (beta; lam for orpo) at {0.2, 1, 5} × its default and the learning rate "
        f"in {{{', '.join(f'{x:g}' for x in lrs)}}}; mean normalized score ± s.e. over seeds; `overall` = mean "
        "over tasks × seeds. The best `overall` per baseline (**bold**) is its hyperparameter set in the bench.",
        "",
        "| baseline | value | lr | " + " | ".join(tasks) + " | overall |",
        "|---|---|---|" + "---|" * len(tasks) + "---|",
    ]
    for rs in by.values():
        name = rs[0]["objective"]
        key = scale_param(name)
        cells = [fmt_mean_se(*mean_se([r["score"] for r in rs if r["task"] == t])) for t in tasks]
        m, se = mean_se([r["score"] for r in rs])
        mark = "**" if _choice(rs[0]) == chosen[name] else ""
        lr = rs[0].get("lr")
        lines.append(
            f"| {name} | {key}={rs[0]['params'][key]:g} | {'' if lr is None else f'{lr:g}'} | "
            + " | ".join(cells)
            + f" | {mark}{fmt_mean_se(m, se)}{mark} |"
        )
    if sft:
        cells = [fmt_mean_se(*mean_se([r["score"] for r in sft if r["task"] == t])) for t in tasks]
        lines.append(
            "| sft (reference) | | | "
            + " | ".join(cells)
            + f" | {fmt_mean_se(*mean_se([r['score'] for r in sft]))} |"
        )
    seeds = sorted({r["seed"] for r in rows})
    lines += ["", f"Seeds: {seeds}. Training configuration: `{json.dumps(config.to_dict())}`."]
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
    (out_dir / "sweep.json").write_text(dumps({"config": config_hash(config), "params": chosen}, indent=1))
    return chosen


def chosen_params(out_dir: Path, config: TrainConfig, require: bool) -> dict[str, dict[str, Any]]:
    """The sweep's choice per baseline, or the named defaults at the config's learning rate when there is no
    sweep for this configuration (and one is not required)."""
    path = out_dir / "sweep.json"
    if path.exists():
        data = loads(path.read_text())
        if data.get("config") == config_hash(config):
            return data["params"]
    if require:
        raise SymmpoError(
            f"no sweep for this configuration in {path}: run `symmpo bench --sweep` first "
            "(or pass --no-sweep to use the named defaults)"
        )
    return {name: {"params": default_params(name), "lr": None} for name in BASELINES}


# ------------------------------------------------------------------------------------------------ bench
def run_bench(
    out_dir: Path,
    config: TrainConfig,
    seeds: Sequence[int],
    envs: Sequence[str] = ENVS,
    settings: Sequence[str] = SETTINGS,
    params: dict[str, dict[str, Any]] | None = None,
    **kw: Any,
) -> None:
    params = params or {name: {"params": default_params(name), "lr": None} for name in BASELINES}
    members = [Member(name, name, c["params"], c.get("lr")) for name, c in params.items()]
    tasks = [f"{e}-{s}" for e in envs for s in settings]
    run_populations(out_dir, "bench", tasks, seeds, members, config, with_sft=True, **kw)


def write_bench_report(out_dir: Path, config: TrainConfig, header: str = "") -> str:
    rows = _current(read_jsonl(out_dir / "bench.jsonl"), config)
    if not rows:
        raise SymmpoError(f"no bench results for this configuration in {out_dir / 'bench.jsonl'}")
    tasks = _ordered_tasks({r["task"] for r in rows})
    labels = [SFT] + [b for b in BASELINES if any(r["label"] == b for r in rows)]
    cell: dict[tuple[str, str], tuple[float, float, int]] = {}
    for lab in labels:
        for t in tasks:
            scores = [r["score"] for r in rows if r["label"] == lab and r["task"] == t]
            if scores:
                m, se = mean_se(scores)
                cell[lab, t] = (m, se, len(scores))
    best = {t: max((cell[lab, t][0] for lab in labels if (lab, t) in cell), default=math.nan) for t in tasks}
    avg = {lab: mean_se([cell[lab, t][0] for t in tasks if (lab, t) in cell])[0] for lab in labels}
    complete = {lab: all((lab, t) in cell for t in tasks) for lab in labels}
    best_avg = max((avg[lab] for lab in labels if complete[lab]), default=math.nan)
    params = {r["label"]: {**r["params"], "lr": r.get("lr") or config.lr} for r in rows}
    n_seeds = sorted({r["seed"] for r in rows})

    md = [
        "# Baseline table",
        "",
        header,
        "",
        "D4RL-normalized score (100 = D4RL expert, 0 = random) of the greedy policy, mean ± standard error over "
        f"training seeds {n_seeds}; **bold** = best mean in the column. `sft` = the behaviour-cloned reference "
        "policy every PO run starts from. `avg` = mean over the columns.",
        "",
        "| objective | " + " | ".join(tasks) + " | avg |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for lab in labels:
        a = f"{avg[lab]:.1f}" if complete[lab] and math.isfinite(avg[lab]) else "–"
        a = f"**{a}**" if complete[lab] and avg[lab] == best_avg else a
        md.append(f"| {lab} | " + " | ".join(table_cells(cell, lab, tasks, best, len(n_seeds))) + f" | {a} |")
    md += [
        "",
        "Hyperparameters: " + "; ".join(f"{k} {_fmt_params(v)}" for k, v in params.items() if k != SFT),
        "",
        f"Training configuration `{json.dumps(config.to_dict())}`.",
    ]
    dead = [r for r in rows if not r.get("alive", True)]
    if dead:
        md += [
            "",
            "Runs that diverged: "
            + "; ".join(f"{r['label']} on {r['task']} seed {r['seed']}: {r['reason']}" for r in dead),
        ]
    text = "\n".join(md) + "\n"
    (out_dir / "table.md").write_text(text)
    with open(out_dir / "table.csv", "w") as f:
        f.write("objective,task,mean,se,n_seeds,params\n")
        for (lab, t), (m, se, n) in cell.items():
            f.write(f'{lab},{t},{m:.4f},{se:.4f},{n},"{_fmt_params(params.get(lab, {}))}"\n')
    _plot(cell, labels, tasks, out_dir / "table.png")
    return text


def table_cells(
    cell: dict[tuple[str, str], tuple[float, float, int]],
    label: str,
    tasks: Sequence[str],
    best: dict[str, float],
    n_seeds: int,
) -> list[str]:
    """One markdown row's cells: mean ± s.e., bold where best in the column, the seed count where it is short."""
    out = []
    for t in tasks:
        if (label, t) not in cell:
            out.append("–")
            continue
        m, se, n = cell[label, t]
        s = fmt_mean_se(m, se)
        s = f"**{s}**" if math.isfinite(m) and m == best[t] else s
        out.append(s + (f" ({n})" if n != n_seeds else ""))
    return out


def _fmt_params(p: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in p.items())


def _ordered_tasks(tasks: set[str]) -> list[str]:
    def key(t: str):
        env, _, setting = t.partition("-")
        return (
            ENVS.index(env) if env in ENVS else 99,
            SETTINGS.index(setting) if setting in SETTINGS else 99,
            t,
        )

    return sorted(tasks, key=key)


def _plot(cell, labels: list[str], tasks: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = [e for e in ENVS if any(t.startswith(e + "-") for t in tasks)] or sorted(
        {t.split("-")[0] for t in tasks}
    )
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs) + 1.5, 4), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        env_tasks = [t for t in tasks if t.startswith(env + "-")]
        xs = range(len(env_tasks))
        for i, lab in enumerate(labels):
            pts = [
                (x, *cell[lab, t][:2])
                for x, t in zip(xs, env_tasks, strict=True)
                if (lab, t) in cell and math.isfinite(cell[lab, t][0])
            ]
            if not pts:
                continue
            px, pm, pse = zip(*pts, strict=True)
            off = (i - len(labels) / 2) * 0.02
            ax.errorbar(
                [x + off for x in px],
                pm,
                yerr=[0 if not math.isfinite(s) else s for s in pse],
                marker="o",
                capsize=2,
                label=lab,
                lw=2.5 if lab == SFT else 1.2,
                color="black" if lab == SFT else None,
            )
        ax.set_xticks(list(xs), [t.split("-", 1)[1] for t in env_tasks])
        ax.set(title=env, ylabel="normalized score", xlabel="data setting")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
