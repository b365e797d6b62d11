"""The LLM transfer table: named baselines and discovered objectives training SmolLM2-135M-Instruct (LoRA),
judged with the MuJoCo and text tables' statistics on a held-out split. The LLM adapter of the study runner.

Two stages, both resumable (one JSON line per finished run; a rerun skips what is done):

* **sweep** on the *fitness* split (dataset seed 0, training seeds 0..N-1, the fitness prompts) of every
  column: each named baseline's scale parameter at ``SWEEP_FACTORS`` × its default and the learning rate at
  ``SWEEP_LRS`` (small by default: every point is a LoRA run of minutes on CPU); per column the best mean
  score is the baseline's setting there, and the best of those, the model without PO included, the column's
  best baseline (``sweep.json``). Objective files are never tuned on text: they run as their files say.
* **table** on the *held-out* split (dataset seed 1, training seeds from 1000, the held-out prompts), refused
  when it shares a dataset seed, training seed or prompt with the sweep → ``table.md``, ``stats.json``,
  ``table.csv``, ``table.png``.

Every run of a (setting, seed) cell trains fresh adapters on the same cached on-policy data and is scored on
the same prompts, so comparisons are paired. The row ``instruct`` is the model without preference
optimization: greedy decoding makes it one evaluation per split, recorded under every training seed (its
paired comparisons are then one-sample tests against that score).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symmpo import protocol
from symmpo.errors import SymmpoError
from symmpo.files import dumps, loads, read_jsonl
from symmpo.llm.po import LLMConfig
from symmpo.report import diverged_lines, iqm_table, plot_iqm, verdict_lines, write_csv
from symmpo.studies.members import Member, fmt_params, with_choices
from symmpo.studies.rows import Rows, ident, member_row
from symmpo.studies.rows import current_rows as config_rows
from symmpo.studies.sweep import sweep_columns
from symmpo.studies.tables import report_start, table_of
from symmpo.studies.text_validity import PURE, comparison_rows, validity
from symmpo.text.datasets import canonical_setting

if TYPE_CHECKING:
    from symmpo.search.executors import Executor

BASE = "instruct"
SCORE = "100 x mean true reward of greedy answers"
SWEEP_FACTORS = (0.3, 1.0, 3.0)
SWEEP_LRS = (1e-4, 3e-4)


def task_name(cfg: LLMConfig, setting: str) -> str:
    return f"{cfg.task}-{canonical_setting(setting)}"


def check_heldout(cfg: LLMConfig, seeds: Sequence[int], sweep_seeds: Sequence[int] = ()) -> None:
    """Refuse a table on the fitness dataset seed or prompts, on training seeds below the held-out range, or
    on a training seed the sweep tuned with."""
    problems = []
    if cfg.dataset_seed == protocol.FITNESS_DATASET_SEED:
        problems.append(f"dataset seed {cfg.dataset_seed} (the fitness data)")
    if cfg.eval_split != "heldout":
        problems.append(f"the {cfg.eval_split} evaluation prompts")
    low = [s for s in seeds if s < protocol.HELDOUT_SEED_MIN]
    if low:
        problems.append(f"training seeds {low} (< {protocol.HELDOUT_SEED_MIN})")
    shared = sorted(set(seeds) & set(sweep_seeds))
    if shared:
        problems.append(f"training seeds {shared} of the sweep")
    if problems:
        raise protocol.ProtocolError(f"the LLM transfer table is not held out: it uses {'; '.join(problems)}")


def current_rows(path: Path, cfg: LLMConfig) -> list[dict[str, Any]]:
    """Rows of this configuration on each task's most recent dataset."""
    return config_rows(read_jsonl(path), cfg.hash())


def _po_job(job: tuple[Member, str, int, LLMConfig, Path | None]) -> dict[str, Any]:
    """One PO run (a top-level function, so process pools can pickle it)."""
    from symmpo.llm import po

    member, setting, seed, cfg, cache_dir = job
    return po.run(member.objective(), setting, seed, cfg, member.lr, cache_dir)


def run_cells(
    out_dir: Path,
    kind: str,
    cfg: LLMConfig,
    settings: Sequence[str],
    seeds: Sequence[int],
    members: Sequence[Member] | Callable[[str], list[Member]],
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
    executor: Executor | None = None,
) -> None:
    """Train every member (a list, or a function of the task) on every (setting, seed) not yet in
    ``<kind>.jsonl``, plus the instruct row of each cell. A member without its own learning rate runs (and is
    stored) at the configuration's.

    This process first builds what the runs share, each once: every setting's dataset, its reference
    log-probs (when a pending run's objective uses a reference) and the instruct row; only then do the PO
    runs fan out to ``executor`` (default: in this process, one after another). A run reads those caches
    and nothing else, so its result does not depend on the worker that ran it or on what ran before;
    its row is appended as it finishes (an interrupt loses only the runs in flight; a rerun resumes).
    """
    from symmpo.llm import po
    from symmpo.search.executors import InlineExecutor

    out_dir.mkdir(parents=True, exist_ok=True)
    store = Rows(out_dir, kind, cfg.hash())
    done = store.done()
    base_score: dict[str, Any] | None = None
    todo: list[tuple[str, str, int, Member]] = []
    for setting in settings:
        task = task_name(cfg, setting)
        dataset = _dataset(cfg, setting, cache_dir)  # generated here the first time (minutes)
        task_members = members(task) if callable(members) else members
        task_members = [m if m.lr is not None else dataclasses.replace(m, lr=cfg.lr) for m in task_members]
        for seed in seeds:
            if ident(task, seed, BASE, {}, None, dataset) not in done:
                if base_score is None:
                    base_score = po.evaluate_base(cfg, cache_dir)
                    log(f"{BASE}: score {base_score['score']:.1f} ({base_score['eval_seconds']:.0f} s)")
                store.append(
                    [
                        member_row(
                            kind,
                            task,
                            seed,
                            None,
                            BASE,
                            store.config_hash,
                            {**base_score, "dataset": dataset},
                        )
                    ]
                )
            todo += [
                (setting, task, seed, m)
                for m in task_members
                if ident(task, seed, m.label, m.params, m.lr, dataset) not in done
            ]
        if any(m.objective().uses_reference for s, _, _, m in todo if s == setting):
            _reference(cfg, setting, cache_dir)  # one pass per dataset (≈ 100 s), before any run reads it
    if not todo:
        return
    executor = executor or InlineExecutor()
    log(f"{kind}: {len(todo)} PO runs on {executor.workers} worker(s) ({executor.name})")
    jobs = [(m, setting, seed, cfg, cache_dir) for setting, _, seed, m in todo]
    for i, result in executor.imap_unordered(_po_job, jobs):
        _, task, seed, m = todo[i]
        log(
            f"{kind} {task} seed {seed} {m.label}: {result['score']:.1f} "
            f"({result['train_seconds']:.0f} s training, {result.get('steps', 0)} steps)"
        )
        store.append([member_row(kind, task, seed, m, BASE, store.config_hash, result)])


def _dataset(cfg: LLMConfig, setting: str, cache_dir: Path | None) -> str:
    from symmpo.llm.datasets import load_dataset

    return load_dataset(cfg.data_config(setting), cache_dir).meta["sha256"]


def _reference(cfg: LLMConfig, setting: str, cache_dir: Path | None) -> None:
    """The setting's reference log-probs, computed and cached (the dataset is cached by then)."""
    from symmpo.llm.datasets import load_dataset
    from symmpo.llm.po import reference_logps

    reference_logps(load_dataset(cfg.data_config(setting), cache_dir), cfg, cache_dir)


# ------------------------------------------------------------------------------------------------ sweep
def run_sweep(
    out_dir: Path,
    cfg: LLMConfig,
    settings: Sequence[str],
    seeds: Sequence[int],
    grid: Sequence[Member],
    **kw: Any,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The sweep of ``grid`` (``members.sweep_members``) on the fitness split of ``cfg``, per column; returns
    and writes the choices (``kw``: the cache and log of :func:`run_cells`)."""
    run_cells(out_dir, "sweep", cfg.fitness(), settings, seeds, grid, **kw)
    return write_sweep(out_dir, cfg, [task_name(cfg, s) for s in settings])


def write_sweep(
    out_dir: Path, cfg: LLMConfig, tasks: Sequence[str] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """sweep.md (every grid point's mean score per column) and sweep.json (per column: each baseline's
    ``{"params": ..., "lr": ...}``, the fitness scores, the best baseline and the choices on an edge)."""
    fit = cfg.fitness()
    rows = current_rows(out_dir / "sweep.jsonl", fit)
    present = {r["task"] for r in rows if r["label"] != BASE}
    missing = [t for t in (tasks or []) if t not in present]
    if not present or missing:
        raise SymmpoError(
            f"no LLM sweep results for {', '.join(missing) or 'this configuration'} in {out_dir / 'sweep.jsonl'}"
        )
    sweep = sweep_columns(rows, BASE, _ordered(present))
    lines = [
        f"# LLM sweep (task `{cfg.task}`, fitness split, per column)",
        "",
        "Each named baseline's scale parameter × its default and the LoRA learning rate, on the fitness split "
        f"(dataset seed {fit.dataset_seed}, the fitness prompts, training seeds {sweep.seeds}); score = 100 × "
        "mean true reward of greedy answers, mean ± s.e. over seeds. **bold** = the baseline's choice in the "
        f"column; the best of those, `{BASE}` (no PO) included, is the column's best baseline. Objective files "
        "are never tuned here.",
        *sweep.lines,
        "",
        f"Configuration `{json.dumps(fit.to_dict())}`.",
    ]
    (out_dir / "sweep.md").write_text("\n".join(lines) + "\n")
    (out_dir / "sweep.json").write_text(dumps(sweep.summary(fit.hash()), indent=1))
    return sweep.chosen


def read_sweep(out_dir: Path, cfg: LLMConfig) -> dict[str, Any] | None:
    """``sweep.json`` when it was made for this configuration's fitness split, else None."""
    path = out_dir / "sweep.json"
    if not path.exists():
        return None
    data = loads(path.read_text())
    return data if data.get("config") == cfg.fitness().hash() else None


def chosen_members(
    out_dir: Path, cfg: LLMConfig, members: Sequence[Member], require: bool
) -> tuple[Callable[[str], list[Member]], list[int], dict[str, str]]:
    """(task -> the members, named baselines at their column's choice; the sweep's seeds; each column's best
    baseline on fitness). Objective files keep their parameters and the configuration's learning rate.
    Without a sweep for this configuration (and when none is required): the named defaults, no seeds."""
    data = read_sweep(out_dir, cfg)
    if data is None:
        if require:
            raise SymmpoError(
                f"no LLM sweep for this configuration in {out_dir / 'sweep.json'}: run `symmpo transfer llm "
                "--sweep` first (or --no-sweep for the named defaults)"
            )
        return (lambda task: list(members)), [], {}
    params = data["params"]

    def for_task(task: str) -> list[Member]:
        if task not in params:
            raise SymmpoError(
                f"the sweep in {out_dir / 'sweep.json'} has no column {task}: run --sweep first"
            )
        tuned = {m.name: m for m in with_choices(params[task])}
        return [tuned.get(m.name, m) if m.name == m.label else m for m in members]

    return for_task, [int(s) for s in data["seeds"]], dict(data.get("best_baseline", {}))


def run_table(
    out_dir: Path,
    cfg: LLMConfig,
    settings: Sequence[str],
    seeds: Sequence[int],
    members: Sequence[Member] | Callable[[str], list[Member]],
    sweep_seeds: Sequence[int] = (),
    **kw: Any,
) -> None:
    """The table's runs on the held-out split of ``cfg`` (checked first, against the sweep's seeds too)."""
    check_heldout(cfg, seeds, sweep_seeds)
    run_cells(out_dir, "transfer", cfg, settings, seeds, members, **kw)


def tuning(rows: Sequence[dict[str, Any]], chosen_best: dict[str, str] | None) -> str:
    """How the table's members got their hyperparameters, per column."""
    if not chosen_best:
        return "Named baselines run at their named defaults and the configuration's learning rate (no sweep)."
    # the last row of a (column, baseline) is its current choice, as in the statistics (a re-tuned baseline's
    # new runs come after its old ones)
    per_task: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["label"] != BASE and r.get("path") is None:
            entry = f"{r['label']} {fmt_params({**r['params'], 'lr': r['lr']})}"
            per_task.setdefault(r["task"], {})[r["label"]] = entry
    cols = " ".join(f"{t}: {'; '.join(v.values())}." for t, v in per_task.items())
    return (
        "Named baselines use their column's choice on the fitness split (sweep.md); objective files run as "
        f"written, never tuned on text. {cols}"
    )


def _ordered(tasks: set[str]) -> list[str]:
    return sorted(tasks, key=lambda t: (not t.endswith("-clean"), t))


def validity_check(
    rows: Sequence[dict[str, Any]], tasks: Sequence[str], chosen_best: dict[str, str]
) -> dict[str, Any] | None:
    """Issue 23's validity target, in its own Holm family (the table's verdicts judge the discovered objectives
    only): DPO and the best PO baseline chosen on the fitness split of the first column (clean, when present)
    against the model without PO, in every column. None when DPO is not in the table."""
    if not any(r["label"] == PURE for r in rows):
        return None
    best = chosen_best.get(tasks[0], PURE)
    return validity(rows, tasks, PURE if best == BASE else best, BASE)


def validity_lines(v: dict[str, Any], tasks: Sequence[str]) -> list[str]:
    """Markdown: the validity tests, and whether DPO beats the model without PO on the first (clean) column."""
    from symmpo import stats

    first = [
        c for c in v["tests"] if c["task"] == tasks[0] and c["objective"] == PURE and c["against"] == BASE
    ]
    met = bool(first) and first[0]["diff"] > 0 and first[0]["p_holm"] < stats.ALPHA
    return [
        "",
        f"Validity check (issue 23): {PURE} and the best PO baseline chosen on {tasks[0]}'s fitness split "
        f"(**{v['best_po']}**) against `{BASE}` (no PO) in every column; paired t-tests on common seeds, Holm over "
        f"these {len(v['tests'])} tests alone; MDE = the difference detected with 80 % power at α / m = "
        f"{v['mde_alpha']:.2g}.",
        *comparison_rows(v),
        "",
        f"Target ({PURE} beats `{BASE}` on {tasks[0]}, p_holm < {stats.ALPHA:g}): "
        + ("**met**." if met else "not met."),
    ]


def behaviour_lines(
    rows: Sequence[dict[str, Any]], labels: Sequence[str], tasks: Sequence[str], cfg: LLMConfig
) -> list[str]:
    """Markdown: what the greedy answers look like (exact answers, finished turns, length; means over seeds),
    and the score of the task's shortcut answer, so a gain from learning the format reads as such."""
    from symmpo.llm.tasks import get_task, shortcut_score

    last: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for r in rows:  # the last row of a (label, column, seed) counts, as in the statistics
        if "exact" in r:
            last.setdefault((r["label"], r["task"]), {})[int(r["seed"])] = r

    def cell(label: str, task: str) -> str:
        runs = list(last.get((label, task), {}).values())
        if not runs:
            return "–"
        mean = {
            k: statistics.fmean(float(r[k]) for r in runs) for k in ("exact", "finished", "answer_tokens")
        }
        return f"{100 * mean['exact']:.0f} % · {100 * mean['finished']:.0f} % · {mean['answer_tokens']:.1f}"

    task = get_task(cfg.task)
    out = [
        "",
        "What the greedy answers look like (mean over seeds): exact answers · answers that end their turn within "
        f"{cfg.eval_max_new_tokens} tokens · answer tokens.",
        "",
        "| objective | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
        *[f"| {lab} | " + " | ".join(cell(lab, t) for t in tasks) + " |" for lab in labels],
    ]
    bar = shortcut_score(task, cfg.eval_split, cfg.eval_prompts)
    if bar is not None:
        out += [
            "",
            f"Shortcut: answering with {task.shortcut_description} (the asked format, the task not done) scores "
            f"**{bar:.1f}** on these prompts. A score below it can come from learning the format alone.",
        ]
    return out


def write_report(
    out_dir: Path,
    cfg: LLMConfig,
    labels: Sequence[str],
    discovered: Sequence[str],
    header: str = "",
    chosen_best: dict[str, str] | None = None,
) -> str:
    """table.md / table.csv / table.png / stats.json from the stored rows of this configuration;
    ``chosen_best``: each column's best baseline as the sweep chose it on the fitness split (without it, the
    table's own best, a winner-biased fallback that stats.json labels)."""
    from symmpo.train import table_stats

    missing = f"no LLM transfer results for this configuration in {out_dir / 'transfer.jsonl'}"
    t = table_of(current_rows(out_dir / "transfer.jsonl", cfg), BASE, labels, discovered, _ordered, missing)
    rows, tasks, labels, found, baselines = t.rows, t.tasks, t.labels, t.found, t.baselines
    # every objective is tested against the model without PO (the validity target: DPO beats it), against
    # DPO (the reference of the MuJoCo tables, so a discovered loss's standing can be compared across domains) and
    # against the column's best baseline; the model without PO is not itself judged (no test spent twice)
    st = table_stats.table_stats(
        rows,
        labels,
        tasks,
        baselines=baselines,
        reference=[BASE, PURE] if PURE in labels else BASE,
        judged=found or [x for x in labels if x != BASE],
        chosen_best={t: b for t, b in (chosen_best or {}).items() if t in tasks and b in baselines} or None,
    )
    check = validity_check(rows, tasks, chosen_best or {})
    if check is not None:
        st["validity"] = check
    title = f"Transfer to a pretrained LLM: SmolLM2-135M-Instruct, task `{cfg.task}` ({cfg.eval_split} split)"
    seeds, md = report_start(out_dir, st, rows, cfg.to_dict(), title, header, score=SCORE)
    po_rows = [r for r in rows if r["label"] != BASE and "train_seconds" in r]
    wall = statistics.median([r["train_seconds"] for r in po_rows]) if po_rows else float("nan")
    md += [
        f"Score = 100 × mean true reward of the greedy answers to {cfg.eval_prompts} {cfg.eval_split} prompts: "
        f"**interquartile mean over training seeds {seeds}** with its 95 % bootstrap CI. `{BASE}` = the model "
        f"without preference optimization. LoRA r = {cfg.lora_r} on q/v, {cfg.epochs:g} epoch(s) at batch "
        f"{cfg.batch_size} pairs, lr {cfg.lr:g}, on-policy data of dataset seed {cfg.dataset_seed}. "
        + tuning(rows, chosen_best),
        "",
        *iqm_table(st, labels, tasks, len(seeds)),
        *behaviour_lines(rows, labels, tasks, cfg),
        *verdict_lines(st, tasks, names={BASE: f"`{BASE}` (no PO)"}),
        *(validity_lines(check, tasks) if check is not None else []),
        "",
        f"Cost: {len(po_rows)} PO runs, median {wall:.0f} s of training each.",
        "",
        f"Configuration `{json.dumps(cfg.to_dict())}`.",
        *diverged_lines(rows),
    ]
    text = "\n".join(md) + "\n"
    (out_dir / "table.md").write_text(text)
    write_csv(out_dir / "table.csv", st, labels, tasks)
    plot_iqm(
        st,
        labels,
        tasks,
        out_dir / "table.png",
        [cfg.task],
        highlight=BASE,
        dashed=found,
        ylabel="100 × true reward (IQM, 95% CI)",
        titles={cfg.task: f"SmolLM2-135M-Instruct, {cfg.task} ({cfg.eval_split})"},
    )
    return text
