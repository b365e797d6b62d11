"""The study comparison: discovered objectives next to the tuned baselines, held out from the search.

A search selects on its fitness, so its own scores are optimistic. Here every discovered objective (hall-of-fame
entries, loaded from their objective files) trains together with every named baseline at its environment's
hyperparameters from its column's sweep (``results/bench/sweep.json``) and the SFT-only reference, on the
held-out split of ``symmpo.protocol``: a fresh preference dataset, training seeds and evaluation resets that no
fitness evaluation of the objective's run (and no sweep) touched; a configuration that overlaps is refused.
Tasks may include the run's own fitness tasks (held-out data) and environments no search optimizes on
(Walker2d). Rows go to ``compare.jsonl`` in the bench's resumable format; the report is a markdown table with
IQMs, bootstrap CIs and Holm-corrected verdicts, a ``stats.json``, a CSV and a plot.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from symmpo import protocol, stats
from symmpo.errors import SymmpoError
from symmpo.report import fmt_verdict, iqm_table, plot_iqm, write_csv
from symmpo.studies import bench, mujoco
from symmpo.studies.members import BASELINES, SFT, SWEEP_FACTORS, SWEEP_LRS, FileMember, Member, with_choices
from symmpo.studies.sweep import choose, of_choices
from symmpo.studies.tables import plain_lines, power_lines, report_start, table_of
from symmpo.train.config import TrainConfig


def run_fitness(run_dir: str) -> protocol.Split:
    """The fitness split of a search run directory (its trainer configuration on its fitness seeds)."""
    from symmpo.search.rundir import RunDir

    return (
        RunDir(run_dir).read_config().fitness_split
    )  # bounded and validated: RunDirError names the file and field


def check_protocol(
    config: TrainConfig,
    seeds: Sequence[int],
    discovered: Sequence[FileMember],
    sweep_seeds: Sequence[int],
    sweep_fitness: TrainConfig | None = None,
) -> None:
    """Refuse (``ProtocolError``) a comparison that shares data, seeds or resets with any discovered objective's
    search run or with the sweep that tuned the baselines (``sweep_fitness``: its configuration when it trained
    on several datasets; by default the fitness side of ``config``)."""
    heldout = mujoco.split(config, seeds)
    for m in discovered:
        if m.run is not None:
            protocol.check_heldout(run_fitness(m.run), heldout, f"the comparison of {m.label} (run {m.run})")
    if sweep_seeds:
        bench.check_heldout_seeds(config, seeds, sweep_seeds, sweep_fitness)


def tune_discovered(
    out_dir: Path,
    config: TrainConfig,
    tasks: Sequence[str],
    seeds: Sequence[int],
    discovered: Sequence[FileMember],
    factors: Sequence[float] = SWEEP_FACTORS,
    lrs: Sequence[float] = SWEEP_LRS,
    **kw: Any,
) -> dict[str, list[FileMember]]:
    """``--tune``: every discovered file gets the baselines' grid (``factors`` × its own beta, × ``lrs``) on the
    fitness split of each column it is judged on (``mujoco.tuned_on``: Walker2d reads Hopper's), trained with the
    sweep's seeds; the best mean per file and column is used on the held-out split. Returns task → members.
    ``tune.jsonl`` holds the rows (resumable), ``tune.md`` the choices."""
    if len(seeds) < 2:
        raise SymmpoError(f"tuning needs at least 2 fitness seeds (the sweep's), got {list(seeds)}")
    fit = mujoco.fitness_config(config)
    columns = list(dict.fromkeys(mujoco.tuned_on(t) for t in tasks))
    grids = {m.label: [m.variant(f, lr) for f in factors for lr in lrs] for m in discovered}
    grid = [v for g in grids.values() for v in g]
    mujoco.run_populations(out_dir, "tune", columns, seeds, grid, fit, with_sft=False, **kw)
    rows = mujoco.rows_of(out_dir, "tune", fit).current()
    variant = {v.label: v for v in grid}
    file_of = {v.label: label for label, g in grids.items() for v in g}
    chosen: dict[str, list[FileMember]] = {}
    lines = ["# Tuning of the discovered objectives (fitness split, the baselines' grid)", ""]
    for col in columns:
        # a value missing a seed or diverged on one (mean −inf) is never chosen
        column = choose(
            [r for r in rows if r["task"] == col and r["label"] in file_of],
            key=lambda r: file_of[r["label"]],
            n_seeds=len(seeds),
        )
        chosen[col] = []
        for m in discovered:
            best = variant[column.label[m.label]]
            chosen[col].append(dataclasses.replace(best, label=m.label))
            lines.append(
                f"- {col}: {m.label} beta×{best.beta_factor:g}, lr {best.lr:g} ({column.fitness[m.label]:.1f})"
            )
    lines += [
        "",
        f"Seeds {list(seeds)}; grid beta×{{{', '.join(f'{f:g}' for f in factors)}}} × lr "
        f"{{{', '.join(f'{x:g}' for x in lrs)}}}.",
    ]
    (out_dir / "tune.md").write_text("\n".join(lines) + "\n")
    return {t: chosen[mujoco.tuned_on(t)] for t in tasks}


def run_compare(
    out_dir: Path,
    config: TrainConfig,
    tasks: Sequence[str],
    seeds: Sequence[int],
    discovered: Sequence[FileMember],
    baseline_params: Callable[[str], dict[str, dict[str, Any]]],
    sweep_seeds: Sequence[int] = (),
    tuned: dict[str, list[FileMember]] | None = None,
    sweep_fitness: TrainConfig | None = None,
    **kw: Any,
) -> None:
    """Train with ``config`` (a held-out configuration, ``mujoco.heldout_config``) after checking the protocol;
    ``tuned`` (from :func:`tune_discovered`) gives each column its tuned discovered members."""
    check_protocol(config, seeds, discovered, sweep_seeds, sweep_fitness)

    def members(t: str) -> list[Member]:
        return [*with_choices(baseline_params(t)), *(tuned[t] if tuned else discovered)]

    mujoco.run_populations(out_dir, "compare", tasks, seeds, members, config, with_sft=True, **kw)


def write_report(
    out_dir: Path,
    config: TrainConfig,
    discovered: Sequence[str],
    header: str = "",
    chosen_best: dict[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    choices: Callable[[str], dict[str, dict[str, Any]]] | None = None,
    references: Sequence[str] = ("dpo",),
) -> str:
    """``compare.md`` / ``compare.csv`` / ``compare.png`` / ``stats.json``: IQM [95 % CI] over seeds; every
    discovered objective against DPO and the column's best baseline (``chosen_best``: chosen by the sweep on the
    fitness split; without it, by this table's IQM, a winner-biased fallback that stats.json labels), paired and
    Holm-corrected; the discovery target (:func:`target_check`); with ``files`` (label -> objective file) what the
    discovered objectives are made of and their formulas in LaTeX; with ``choices`` (the sweep's, task -> loss ->
    choice) a baseline's rows are those of its current choice only (``sweep.of_choices``); ``references``: the
    named losses every discovered objective is tested against besides the best baseline (default DPO), all in
    the one Holm family."""
    from symmpo.train import table_stats

    rows = mujoco.rows_of(out_dir, "compare", config).current()
    if choices is not None:
        rows = of_choices(rows, choices)
    missing = f"no comparison results for this configuration in {out_dir / 'compare.jsonl'}"
    t = table_of(rows, SFT, [*BASELINES, *discovered], discovered, mujoco.ordered_tasks, missing)
    labels, tasks, found, baselines = t.labels, t.tasks, t.found, t.baselines
    # judge the discovered objectives only: drop baseline-vs-baseline tests before the correction
    refs = [r for r in references if r in labels]
    st = table_stats.table_stats(
        t.rows,
        labels,
        tasks,
        baselines=baselines,
        reference=refs,
        judged=found,
        chosen_best=chosen_best,
    )
    st["vs_sft"] = against_sft(t.rows, labels, tasks)
    st["target"] = target_check(st, found, tasks, st["vs_sft"])
    title = "Discovered objectives against the baselines (held-out split)"
    seeds, md = report_start(out_dir, st, rows, config.to_dict(), title, header)
    md += [
        f"D4RL-normalized score of the greedy policy: interquartile mean over training seeds {seeds} with its "
        f"95 % bootstrap CI, on the held-out split (dataset seed {config.dataset_seed}, evaluation resets from "
        f"{config.eval_reset_offset}; checked disjoint from every discovered objective's search fitness and from "
        "the sweep). **bold** = highest IQM in the column. Baselines use their column's sweep "
        "hyperparameters (Walker2d: Hopper's); discovered objectives are used as their files say, or with the "
        "beta and learning rate `--tune` chose on the fitness split (tune.md).",
        "",
        *iqm_table(st, labels, tasks, len(seeds)),
    ]
    md += plain_lines(baselines)
    md += power_lines(st)
    md += [
        "",
        f"Verdicts ({st['n_comparisons']} paired t-tests on common seeds, Holm-corrected together, "
        f"α = {st['alpha']}):",
        "",
        "| objective | task | "
        + "".join(f"vs {r} | " for r in refs)
        + "vs best baseline | P(improvement) over it [95 % CI] |",
        "|---|---|" + "---|" * (len(refs) + 2),
    ]
    for d in found:
        for t in tasks:
            best = st["tasks"][t]["best_baseline"]
            c = table_stats.verdict_of(st, t, d, best)
            vs = "".join(f"{fmt_verdict(table_stats.verdict_of(st, t, d, r))} | " for r in refs)
            md.append(f"| {d} | {t} | {vs}{best}: {fmt_verdict(c)} | {fmt_pi(c)} |")
    md += target_lines(st["target"])
    md += sft_lines(st["vs_sft"])
    if files:
        md += made_of_lines({d: files[d] for d in found if d in files})
    md += ["", f"Training configuration `{json.dumps(config.to_dict())}`."]
    text = "\n".join(md) + "\n"
    (out_dir / "compare.md").write_text(text)
    write_csv(out_dir / "compare.csv", st, labels, tasks)
    plot_iqm(st, labels, tasks, out_dir / "compare.png", mujoco.ENVS, highlight=SFT, dashed=found)
    return text


TARGET_PI = 0.6  # probability of improvement a win must also show (issue 19's target)
TARGET_COLUMNS = 2  # fitness-environment columns a discovered loss must win


def target_check(
    st: dict[str, Any], found: Sequence[str], tasks: Sequence[str], vs_sft: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The discovery target: a discovered objective that beats its column's best baseline (p_Holm < α and
    probability of improvement > TARGET_PI) on at least TARGET_COLUMNS columns of fitness environments, and loses
    to it on no column of a transfer environment (Walker2d, never a fitness task). With ``vs_sft``
    (:func:`against_sft`) the transfer columns where no objective beats SFT-only are named: there "loses on
    none" only compares losses that all fail to improve on imitation."""
    from symmpo.suite.envs import ENVS
    from symmpo.suite.tasks import parse_task
    from symmpo.train import table_stats

    transfer = [t for t in tasks if ENVS[parse_task(t).env].held_out]
    per: dict[str, Any] = {}
    for d in found:
        wins, losses = [], []
        for t in tasks:
            c = table_stats.verdict_of(st, t, d, st["tasks"][t]["best_baseline"])
            if c is None:
                continue
            if t not in transfer and c["verdict"] == "beats" and c["prob_improvement"] > TARGET_PI:
                wins.append(t)
            if t in transfer and c["verdict"] == "loses":
                losses.append(t)
        per[d] = {"wins": wins, "transfer_losses": losses, "met": len(wins) >= TARGET_COLUMNS and not losses}
    columns = [t for t in tasks if t not in transfer]
    return {
        "rule": f"beats the column's best baseline with p_holm < {stats.ALPHA:g} and P(improvement) > "
        f"{TARGET_PI:g} on at least {TARGET_COLUMNS} of {', '.join(columns)}; loses on none of "
        f"{', '.join(transfer) or '(no transfer column)'}",
        "objectives": per,
        "met_by": [d for d, v in per.items() if v["met"]],
        "transfer_without_po_gain": [t for t in transfer if vs_sft and not vs_sft["tasks"][t]["po_helps"]],
    }


def against_sft(
    rows: Sequence[dict[str, Any]], labels: Sequence[str], tasks: Sequence[str]
) -> dict[str, Any]:
    """Every objective, named or discovered, against SFT-only per column: paired t-tests on common seeds, Holm
    over this family alone (kept apart from the verdicts' family, which it would otherwise tighten).

    Why: a benchmark column is valid only where preference optimization beats imitation; on a column where no
    objective beats SFT-only, a discovered loss "losing on no column" or "beating the best baseline" is a
    ranking among losses that all fail to help, and the report should say so next to the verdict."""
    from symmpo.train import table_stats

    judged = [lab for lab in labels if lab != SFT]
    st = table_stats.table_stats(rows, labels, tasks, baselines=[], reference=SFT, judged=judged)
    per = {}
    for t in tasks:
        tests = [c for c in st["tasks"].get(t, {}).get("comparisons", []) if c["against"] == SFT]
        beats = [c["objective"] for c in tests if c["verdict"] == "beats"]
        loses = [c["objective"] for c in tests if c["verdict"] == "loses"]
        per[t] = {"n": len(tests), "beats": beats, "loses": loses, "po_helps": bool(beats)}
    return {"n_comparisons": st["n_comparisons"], "tasks": per}


def sft_lines(vs_sft: dict[str, Any]) -> list[str]:
    """Markdown: per column, which objectives beat SFT-only and which lose to it (:func:`against_sft`)."""
    out = [
        "",
        f"Against SFT-only (every objective; {vs_sft['n_comparisons']} paired t-tests, Holm-corrected as a family "
        "of their own): a column where no objective beats SFT-only cannot show that a loss helps.",
        "",
    ]
    for t, v in vs_sft["tasks"].items():
        beats, loses = v["beats"], v["loses"]
        out.append(
            f"- {t}: {len(beats)} of {v['n']} beat SFT-only ({', '.join(beats) or 'none'}); {len(loses)} lose to "
            f"it ({', '.join(loses) or 'none'})"
        )
    return out


def fmt_pi(c: dict[str, Any] | None) -> str:
    """``0.78 [0.61, 0.92]``: a comparison's probability of improvement with its CI; ``–`` without one."""
    if c is None:
        return "–"
    lo, hi = c["prob_improvement_ci"]
    return f"{c['prob_improvement']:.2f} [{lo:.2f}, {hi:.2f}]"


def target_lines(target: dict[str, Any]) -> list[str]:
    """Markdown: the discovery target and who meets it."""
    met = target["met_by"]
    out = ["", f"Discovery target: a discovered objective {target['rule']}.", ""]
    for d, v in target["objectives"].items():
        wins = ", ".join(v["wins"]) or "none"
        lost = ", ".join(v["transfer_losses"]) or "none"
        out.append(
            f"- {d}: wins on {wins}; transfer losses: {lost}" + (" — **meets it**" if v["met"] else "")
        )
    out += ["", "Target: " + (f"**met** by {', '.join(met)}." if met else "**not met**.")]
    weak = target.get("transfer_without_po_gain", [])
    if weak:
        out += [
            "",
            f"On {', '.join(weak)} no objective beats SFT-only (below): a transfer loss or its absence there ranks "
            "losses that all fail to improve on imitation, a weak check.",
        ]
    return out


def made_of_lines(files: Mapping[str, str]) -> list[str]:
    """Markdown: the discovered objectives' features, what they have in common, and their formulas in LaTeX
    (a file with neural components is named there, not drawn)."""
    from symmpo.neural.components import load_objective
    from symmpo.objective.anatomy import anatomy_lines

    objs = {label: load_objective(path) for label, path in files.items()}
    symbolic = {k: v for k, v in objs.items() if v.is_symbolic}
    if not objs:
        return []
    out = [
        "",
        "What the discovered objectives are made of (as their files say, before any tuning of β; constants "
        "written c, constant factors of a term dropped: they only rescale β):",
        "",
        *anatomy_lines(objs),
        "",
        "Formulas:",
        "",
    ]
    for label, obj in symbolic.items():
        out += [f"- {label} (`{files[label]}`):", "", f"  $$ {obj.latex()} $$", ""]
    neural = [k for k in objs if k not in symbolic]
    if neural:
        out += [f"Not drawn (neural components, no closed form): {', '.join(neural)}.", ""]
    return out
