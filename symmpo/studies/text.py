"""The transfer table: named baselines, SFT and discovered objectives trained on the text suite, judged with
the MuJoCo tables' statistics on a held-out split.

Two stages, both resumable (one JSON line per finished run in ``<kind>.jsonl``; a rerun skips what is done):

* **sweep** (optional) on ``sort-clean`` and the *fitness* split (dataset seed 0, training seeds 0..N-1, the
  fitness evaluation prompts): each named baseline's scale parameter at ``SWEEP_FACTORS`` × its default and
  the learning rate at ``SWEEP_LRS``; the best mean score per baseline becomes its setting (``sweep.json``).
  Discovered objectives are never tuned: they run exactly as their files say, at the configuration's
  learning rate.
* **transfer** on the *held-out* split (dataset seed 1, training seeds from 1000, the held-out evaluation
  prompts), refused when it shares a dataset seed, a training seed or an evaluation prompt with the sweep or
  with the seeds the default configuration was chosen on → ``table.md`` (IQM with bootstrap CIs,
  Holm-corrected verdicts), ``stats.json`` (:func:`symmpo.train.table_stats.table_stats`), ``table.csv``,
  ``table.png``.

Every run of a (setting, seed) cell starts from the same cached π_ref, sees the same minibatches (TRL's
sampler is seeded by the training seed) and is scored on the same prompts, so comparisons are paired.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from symmpo import protocol
from symmpo.errors import SymmpoError
from symmpo.files import dumps, loads, read_jsonl
from symmpo.report import (
    diverged_lines,
    fmt_mean_se,
    iqm_table,
    plot_iqm,
    verdict_lines,
    write_csv,
)
from symmpo.stats import mean_se
from symmpo.studies.members import SFT, SWEEP_FACTORS, FileMember, Member, fmt_scale, sweep_members
from symmpo.studies.rows import Rows, ident, member_row
from symmpo.studies.rows import current_rows as config_rows
from symmpo.studies.sweep import choice_of, choose
from symmpo.studies.tables import report_start, table_of
from symmpo.studies.text_validity import (
    fitness_best_baseline,
    fitness_best_po,
    validity,
    validity_lines,
)
from symmpo.text.config import DEV_SEEDS, TextConfig
from symmpo.text.datasets import SETTINGS, load_dataset, setting_of, task_name

SWEEP_LRS = (3e-5, 1e-4)
SCORE = "100 x mean true reward of greedy answers"
SWEEP_TASK = task_name("clean")


# ------------------------------------------------------------------------------------------------ objectives
def with_params(
    members: Sequence[Member], chosen: dict[str, dict[str, Any]], file_lr: str | None = None
) -> list[Member]:
    """Named baselines at the sweep's choice (parameters and learning rate). Objective files keep their own
    parameters; they train at the configuration's learning rate, or at ``file_lr``: a number, or the name of
    a swept baseline whose chosen learning rate they share (one rate for all files, never tuned per file)."""
    lr = None if file_lr is None else file_learning_rate(file_lr, chosen)
    out = []
    for m in members:
        if isinstance(m, FileMember):
            out.append(dataclasses.replace(m, lr=lr) if lr is not None else m)
            continue
        c = chosen.get(m.name)
        out.append(Member(m.label, m.name, dict(c["params"]), c.get("lr")) if c else m)
    return out


def file_learning_rate(spec: str, chosen: dict[str, dict[str, Any]]) -> float:
    """``--file-lr``: a positive number, or a swept baseline's chosen learning rate."""
    from symmpo.objective import lookup

    name = lookup(spec)
    if name is not None:
        if name not in chosen or chosen[name].get("lr") is None:
            raise SymmpoError(
                f"--file-lr {spec}: the sweep has no learning rate for {name} (run --sweep first)"
            )
        return float(chosen[name]["lr"])
    try:
        lr = float(spec)
    except ValueError:
        raise SymmpoError(
            f"--file-lr must be a learning rate or a swept baseline's name, got {spec!r}"
        ) from None
    if not (math.isfinite(lr) and lr > 0):
        raise SymmpoError(f"--file-lr must be a positive learning rate, got {spec!r}")
    return lr


# ------------------------------------------------------------------------------------------------ runs
def _po_job(job: tuple) -> dict[str, Any]:
    """One PO run (a top-level function, so process pools can pickle it)."""
    from symmpo.text import po

    member, task, seed, cfg, cache_dir = job
    lr = cfg.lr if member.lr is None else member.lr
    return po.run(member.objective(), setting_of(task), seed, cfg, lr, Path(cache_dir))


def _sft_job(job: tuple) -> dict[str, Any]:
    from symmpo.text import po

    task, seed, cfg, cache_dir = job
    return po.evaluate_reference(setting_of(task), seed, cfg, Path(cache_dir))


def run_cells(
    out_dir: Path,
    kind: str,
    tasks: Sequence[str],
    seeds: Sequence[int],
    members: Sequence[Member],
    cfg: TextConfig,
    executor: Any,
    cache_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> None:
    """Train every member on every (task, seed) not yet in ``<kind>.jsonl``, plus the SFT row of each cell.

    Stage 1 builds (or reads) each cell's dataset and π_ref and scores π_ref; stage 2 runs the PO jobs, which
    then only read caches. Rows are appended as runs finish.
    """
    from tqdm import tqdm

    from symmpo.text.po import data_config

    out_dir.mkdir(parents=True, exist_ok=True)
    store = Rows(out_dir, kind, cfg.hash())
    done = store.done()
    data = {t: load_dataset(data_config(setting_of(t), cfg), cache_dir).meta["sha256"] for t in tasks}

    def row(task: str, seed: int, m: Member | None, result: dict[str, Any]) -> dict[str, Any]:
        return member_row(kind, task, seed, m, SFT, store.config_hash, result)

    cells = [(t, s) for t in tasks for s in seeds]
    todo = [
        (m, t, s)
        for t, s in cells
        for m in members
        if ident(t, s, m.label, m.params, m.lr, data[t]) not in done
    ]
    sft_todo = [(t, s) for t, s in cells if ident(t, s, SFT, {}, None, data[t]) not in done]
    need_ref = list(dict.fromkeys(sft_todo + [(t, s) for _, t, s in todo]))
    bar = tqdm(total=len(need_ref) + len(todo), desc=kind, disable=not progress)
    jobs = [(t, s, cfg, str(cache_dir)) for t, s in need_ref]  # a frozen configuration pickles as it is
    for (t, s), result in zip(need_ref, executor.imap(_sft_job, jobs), strict=True):
        if (t, s) in sft_todo:
            store.append([row(t, s, None, result)])
        if result.get("sft_seconds"):
            log(
                f"{kind} {t} seed {s}: π_ref trained in {result['sft_seconds']:.0f} s, score {result['score']:.1f}"
            )
        bar.update(1)
    jobs = [(m, t, s, cfg, str(cache_dir)) for m, t, s in todo]
    for (m, t, s), result in zip(todo, executor.imap(_po_job, jobs), strict=True):
        store.append([row(t, s, m, result)])
        bar.set_postfix_str(f"{t} seed {s} {m.label}: {result['score']:.1f}")
        bar.update(1)
    bar.close()


def current_rows(path: Path, cfg: Any) -> list[dict[str, Any]]:
    """Rows of this configuration (any configuration with a ``hash()``) on each task's most recent dataset."""
    return config_rows(read_jsonl(path), cfg.hash())


# ------------------------------------------------------------------------------------------------ sweep
def run_sweep(
    out_dir: Path,
    cfg: TextConfig,
    seeds: Sequence[int],
    baselines: Sequence[str],
    executor: Any,
    cache_dir: Path,
    **kw: Any,
) -> dict[str, dict[str, Any]]:
    """The sweep, always on the fitness split of ``cfg``; returns and writes the choice per baseline."""
    fit = cfg.fitness()
    members = sweep_members(baselines, SWEEP_FACTORS, SWEEP_LRS)
    run_cells(out_dir, "sweep", [SWEEP_TASK], seeds, members, fit, executor, cache_dir, **kw)
    return write_sweep(out_dir, cfg)


def write_sweep(out_dir: Path, cfg: TextConfig) -> dict[str, dict[str, Any]]:
    """sweep.md (every value's mean score) and sweep.json (per baseline: ``{"params": ..., "lr": ...}``)."""
    fit = cfg.fitness()
    rows = [r for r in current_rows(out_dir / "sweep.jsonl", fit) if r["label"] != SFT]
    if not rows:
        raise SymmpoError(f"no sweep results for this configuration in {out_dir / 'sweep.jsonl'}")
    column = choose(rows)
    chosen = column.chosen
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "# Text sweep (sort-clean, fitness split)",
        "",
        f"Each baseline's scale parameter at {{{', '.join(f'{f:g}' for f in SWEEP_FACTORS)}}} × its default and "
        f"the PO learning rate in {{{', '.join(f'{x:g}' for x in SWEEP_LRS)}}}; score = 100 × mean true reward "
        f"of greedy answers on the fitness evaluation prompts, mean ± s.e. over training seeds {seeds} "
        f"(dataset seed {fit.dataset_seed}). **bold** = the chosen setting.",
        "",
        "| baseline | value | lr | score |",
        "|---|---|---|---|",
    ]
    for rs in column.by_label.values():
        name = rs[0]["objective"]
        mark = "**" if chosen[name] == choice_of(rs[0]) else ""
        score = fmt_mean_se(*mean_se([r["score"] for r in rs]))
        lines.append(
            f"| {name} | {fmt_scale(name, rs[0]['params'])} | {rs[0]['lr']:g} | {mark}{score}{mark} |"
        )
    sft = [r["score"] for r in current_rows(out_dir / "sweep.jsonl", fit) if r["label"] == SFT]
    if sft:
        lines.append(f"| sft (reference) | | | {fmt_mean_se(*mean_se(sft))} |")
    lines += ["", f"Configuration `{json.dumps(fit.to_dict())}`."]
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
    (out_dir / "sweep.json").write_text(
        dumps({"config": fit.hash(), "seeds": seeds, "params": chosen}, indent=1)
    )
    return chosen


def chosen_params(
    out_dir: Path, cfg: TextConfig, require: bool
) -> tuple[dict[str, dict[str, Any]], list[int]]:
    """(baseline -> the sweep's choice, the sweep's seeds); without a sweep for this configuration (and when
    none is required): no choices (named defaults at the configuration's learning rate) and no seeds."""
    path = out_dir / "sweep.json"
    if path.exists():
        data = loads(path.read_text())
        if data.get("config") == cfg.fitness().hash():
            return data["params"], [int(s) for s in data["seeds"]]
    if require:
        raise SymmpoError(
            f"no text sweep for this configuration in {path}: run `symmpo transfer text --sweep` first "
            "(or, with `symmpo bench` / `symmpo transfer`, --no-sweep for the named defaults)"
        )
    return {}, []


# ------------------------------------------------------------------------------------------------ transfer
def check_heldout(cfg: TextConfig, seeds: Sequence[int], tuned_seeds: Sequence[int]) -> None:
    """Refuse a table that shares a dataset seed, a training seed or its evaluation prompts with what tuned
    it: the sweep's seeds and the seeds the default configuration was chosen on (``DEV_SEEDS``)."""
    fit = cfg.fitness()
    tuned = tuple(sorted({*tuned_seeds, *DEV_SEEDS}))
    shared = protocol.overlaps(
        protocol.Split(fit.dataset_seed, tuned, 0, 0), protocol.Split(cfg.dataset_seed, tuple(seeds), 0, 0)
    )
    if cfg.eval_split == fit.eval_split:
        shared.append(f"the {fit.eval_split} evaluation prompts")
    if shared:
        raise protocol.ProtocolError(
            f"the transfer table is not held out: it shares {'; '.join(shared)} with the tuning (dataset seed "
            f"{fit.dataset_seed}, training seeds {list(tuned)}, the fitness prompts); use dataset seed "
            f"{protocol.HELDOUT_DATASET_SEED} and training seeds >= {protocol.HELDOUT_SEED_MIN}"
        )


def run_transfer(
    out_dir: Path,
    cfg: TextConfig,
    settings: Sequence[str],
    seeds: Sequence[int],
    members: Sequence[Member],
    executor: Any,
    cache_dir: Path,
    sweep_seeds: Sequence[int] = (),
    **kw: Any,
) -> None:
    """The table's runs, with ``cfg`` on the held-out split (checked first)."""
    check_heldout(cfg, seeds, sweep_seeds)
    run_cells(
        out_dir, "transfer", [task_name(s) for s in settings], seeds, members, cfg, executor, cache_dir, **kw
    )


def _ordered(tasks: set[str]) -> list[str]:
    order = [task_name(s) for s in SETTINGS]
    return sorted(tasks, key=lambda t: (order.index(t) if t in order else len(order), t))


def write_report(
    out_dir: Path, cfg: TextConfig, labels: Sequence[str], discovered: Sequence[str], header: str = ""
) -> str:
    """table.md / table.csv / table.png / stats.json from the stored held-out rows of this configuration."""
    from symmpo.train import table_stats

    missing = f"no transfer results for this configuration in {out_dir / 'transfer.jsonl'}"
    t = table_of(current_rows(out_dir / "transfer.jsonl", cfg), SFT, labels, discovered, _ordered, missing)
    rows, tasks, labels, found = t.rows, t.tasks, t.labels, t.found
    sweep = sweep_rows(out_dir, cfg)
    best = fitness_best_baseline(sweep, SFT, t.baselines) if SWEEP_TASK in tasks else None
    st = table_stats.table_stats(
        rows,
        labels,
        tasks,
        baselines=t.baselines,
        judged=found or None,
        chosen_best={SWEEP_TASK: best} if best else None,
    )
    check = validity_check(out_dir, cfg, rows, tasks)
    extra = {"validity": check[0]} if check else {}
    title = "Transfer to text: the sorting suite (held-out split)"
    seeds, md = report_start(
        out_dir, st, rows, cfg.to_dict(), title, header, score=SCORE, cost=cost(rows), **extra
    )
    params = {r["label"]: (r["params"], r.get("lr") or cfg.lr) for r in rows if r["label"] != SFT}
    md += [
        "Score = 100 × mean true reward (normalized Levenshtein similarity to the sorted prompt) of the greedy "
        f"answers to {cfg.eval_prompts} held-out prompts: **interquartile mean over training seeds {seeds}** with "
        f"its 95 % bootstrap CI. Held-out split: dataset seed {cfg.dataset_seed}, held-out evaluation prompts; the "
        "configuration and any sweep used dataset seed 0, other training seeds and the fitness prompts. **bold** = "
        f"highest IQM in the column. `sft` = π_ref ({sft_source(cfg)}), where every PO run starts.",
        "",
        *iqm_table(st, labels, tasks, len(seeds)),
    ]
    md += [
        "",
        "η² of the objective factor: " + "; ".join(f"{t} {st['tasks'][t]['eta_squared']:.2f}" for t in tasks),
    ]
    verdicts = verdict_lines(st, tasks)
    if found:  # only the discovered objectives were tested
        verdicts = [
            v.replace("every objective against", "every discovered objective against") for v in verdicts
        ]
    md += verdicts + ["", best_baseline_line(st, tasks)]
    if check:
        md += validity_lines(*check)
    md += [
        "",
        "Greedy answer length minus target length (mean over seeds; > 0: answers run long):",
        "",
        "| objective | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for lab in labels:
        cells = []
        for t in tasks:
            vals = [
                r["extra_tokens"]
                for r in rows
                if r["label"] == lab and r["task"] == t and "extra_tokens" in r
            ]
            cells.append(f"{statistics.fmean(vals):+.2f}" if vals else "–")
        md.append(f"| {lab} | " + " | ".join(cells) + " |")
    md += ["", "Objectives: " + "; ".join(_describe_member(lab, p, rows) for lab, p in params.items()) + "."]
    c = st["cost"]
    md += [
        "",
        f"Cost: {c['po_runs']} PO runs, median {c['po_cpu_median']:.1f} CPU-s ({c['po_wall_median']:.1f} s wall) "
        f"each; {c['sft_trained']} π_ref trained, median {c['sft_median']:.1f} s wall each.",
        "",
        f"Configuration `{json.dumps(cfg.to_dict())}`.",
    ]
    md += diverged_lines(rows)
    text = "\n".join(md) + "\n"
    (out_dir / "table.md").write_text(text)
    write_csv(out_dir / "table.csv", st, labels, tasks)
    plot(st, labels, tasks, out_dir / "table.png", found)
    return text


def sweep_rows(out_dir: Path, cfg: TextConfig) -> list[dict[str, Any]]:
    """This configuration's sweep rows (fitness split; none without a sweep)."""
    path = out_dir / "sweep.jsonl"
    return current_rows(path, cfg.fitness()) if path.exists() else []


def best_baseline_line(st: dict[str, Any], tasks: Sequence[str]) -> str:
    """Where each column's best baseline (the verdicts' second comparison) came from."""
    cols = []
    for t in tasks:
        cell = st["tasks"][t]
        how = (
            "chosen on the fitness split"
            if cell["best_baseline_from"] == "fitness"
            else "the highest IQM in this table, winner-biased: no fitness choice for this column"
        )
        cols.append(f"{t}: {cell['best_baseline']} ({how})")
    return "Best baseline per column: " + "; ".join(cols) + "."


def validity_check(
    out_dir: Path, cfg: TextConfig, rows: Sequence[dict[str, Any]], tasks: Sequence[str]
) -> tuple[dict[str, Any], float] | None:
    """The suite's validity check (``text_validity``) and the chosen loss's fitness score, when this
    configuration has a sweep whose best PO baseline is in the table (None otherwise)."""
    picked = fitness_best_po(sweep_rows(out_dir, cfg), SFT)
    if picked is None or not any(r["label"] == picked[0] for r in rows):
        return None
    return validity(rows, tasks, picked[0], SFT), picked[1]


def sft_source(cfg: TextConfig) -> str:
    """What π_ref was trained on, in words."""
    if not cfg.sft_levels:
        return "SFT on the chosen responses"  # the wording of every table before sft_levels
    return (
        f"{cfg.sft.epochs:g} epochs of SFT on separate data: {' and '.join(cfg.sft_levels)} responses to prompts "
        "disjoint from the pairs'"
    )


def _describe_member(label: str, p: tuple[dict, float], rows: list[dict]) -> str:
    params, lr = p
    path = next((r.get("path") for r in rows if r["label"] == label and r.get("path")), None)
    what = f"`{path}`" if path else ", ".join(f"{k}={v:g}" for k, v in params.items())
    return f"{label} ({what + ', ' if what else ''}lr {lr:g})"  # sft_chosen has no parameter


def cost(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Run counts and median times (PO runs: CPU and wall seconds of training; π_ref: SFT seconds)."""
    po_rows = [r for r in rows if r["label"] != SFT]
    sft = [r["sft_seconds"] for r in rows if r["label"] == SFT and r.get("sft_seconds")]

    def med(xs: list[float]) -> float:
        return float(statistics.median(xs)) if xs else math.nan

    return {
        "po_runs": len(po_rows),
        "po_cpu_median": med([r["cpu_seconds"] for r in po_rows if "cpu_seconds" in r]),
        "po_wall_median": med([r["train_seconds"] for r in po_rows if "train_seconds" in r]),
        "sft_trained": len(sft),
        "sft_median": med(sft),
    }


def plot(
    st: dict[str, Any],
    labels: Sequence[str],
    tasks: Sequence[str],
    path: Path,
    discovered: Sequence[str] = (),
) -> None:
    """IQM with 95 % bootstrap CIs per setting, one line per objective (SFT in black, discovered dashed)."""
    plot_iqm(
        st,
        labels,
        tasks,
        path,
        ["sort"],
        highlight=SFT,
        dashed=discovered,
        ylabel="100 × true reward (IQM, 95% CI)",
        titles={"sort": "sorting suite (held-out)"},
    )
