"""How every report writes a number: mean ± s.e. and IQM [CI] cells, corrected verdicts, the table's markdown
rows, CSV and plot. ``symmpo bench``, ``symmpo compare``, ``symmpo distill``, ``symmpo train`` and the search
commands all print through these, so one score reads the same everywhere.

Table functions take the ``stats.json`` shape of :func:`symmpo.train.table_stats.table_stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def fmt_mean_se(m: float, se: float, digits: int = 1) -> str:
    """``12.3 ± 0.4``; ``diverged`` for a run that died (−inf), ``–`` for a missing value."""
    if not math.isfinite(m):
        return "diverged" if m == -math.inf else "–"
    return f"{m:.{digits}f} ± {se:.{digits}f}" if math.isfinite(se) else f"{m:.{digits}f}"


def fmt_ci(point: float, ci: Sequence[float], digits: int = 1) -> str:
    """``12.3 [10.1, 14.0]``; ``–`` for a missing value."""
    if not math.isfinite(point):
        return "–"
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{point:.{digits}f}"
    return f"{point:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def fmt_verdict(c: dict[str, Any] | None) -> str:
    """``beats (+3.1, p_holm 0.004)``; ``–`` when there is no comparison."""
    if c is None:
        return "–"
    p = c["p_holm"]
    ptxt = f"{p:.3g}" if math.isfinite(p) else "nan"
    return f"{c['verdict']} ({c['diff']:+.1f}, p_holm {ptxt})"


def stat_cells(st: dict[str, Any], label: str, tasks: Sequence[str], n_seeds: int) -> list[str]:
    """One markdown row: IQM [CI], bold where highest in the column, seed count where short, † if diverged."""
    out = []
    for t in tasks:
        objs = st["tasks"][t]["objectives"]
        if label not in objs:
            out.append("–")
            continue
        o = objs[label]
        cell = fmt_ci(o["iqm"], o["ci"])
        if o["iqm"] == max(v["iqm"] for v in objs.values()):
            cell = f"**{cell}**"
        if len(o["seeds"]) != n_seeds:
            cell += f" ({len(o['seeds'])})"
        if o["diverged"]:
            cell += f" †{o['diverged']}"
        out.append(cell)
    return out


def iqm_table(st: dict[str, Any], labels: Sequence[str], tasks: Sequence[str], n_seeds: int) -> list[str]:
    """The markdown table of a results table: one row per objective, one IQM [CI] column per task."""
    head = ["| objective | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    return head + [f"| {lab} | " + " | ".join(stat_cells(st, lab, tasks, n_seeds)) + " |" for lab in labels]


def verdict_lines(st: dict[str, Any], tasks: Sequence[str], names: dict[str, str] | None = None) -> list[str]:
    """Markdown: the corrected comparisons that reject equality, per task; and how many tests were made.
    ``names``: how to print a reference label in the header (default: DPO, or the label in backticks)."""
    names = {"dpo": "DPO", **(names or {})}
    refs = " and ".join(names.get(r, f"`{r}`") for r in st.get("references", ["dpo"]))
    out = [
        "",
        f"Corrected comparisons ({st['n_comparisons']} paired t-tests on common seeds, Holm over the whole "
        f"table, α = {st['alpha']}): every objective against {refs} and against the column's best baseline. "
        "Only those that reject equality are listed; everything else ties.",
        "",
    ]
    any_sig = False
    for t in tasks:
        sig = [c for c in st["tasks"][t]["comparisons"] if c["verdict"] != "ties"]
        if sig:
            any_sig = True
            out.append(
                f"- {t}: " + "; ".join(f"{c['objective']} vs {c['against']} {fmt_verdict(c)}" for c in sig)
            )
    if not any_sig:
        out.append("- none: no difference survives the correction.")
    return out


def write_stats(
    path: Path, st: dict[str, Any], seeds: Sequence[int], config: dict[str, Any], **extra: Any
) -> None:
    """``stats.json``: the table's statistics with the seeds and the training configuration they came from
    (and ``extra`` fields after them: what the score is, what the table cost)."""
    from symmpo.files import dumps

    st["seeds"], st["config"] = list(seeds), config
    st.update(extra)
    path.write_text(dumps(st, indent=1) + "\n")


def write_csv(path: Path, st: dict[str, Any], labels: Sequence[str], tasks: Sequence[str]) -> None:
    """One line per (objective, task): IQM, its CI, mean, seeds, diverged runs."""
    with open(path, "w") as f:
        f.write("objective,task,iqm,ci_low,ci_high,mean,n_seeds,diverged\n")
        for t in tasks:
            for lab in labels:
                o = st["tasks"][t]["objectives"].get(lab)
                if o:
                    f.write(
                        f"{lab},{t},{o['iqm']:.4f},{o['ci'][0]:.4f},{o['ci'][1]:.4f},{o['mean']:.4f},"
                        f"{len(o['seeds'])},{o['diverged']}\n"
                    )


def diverged_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines naming every run that diverged (with its reason); none when every run finished."""
    dead = [r for r in rows if not r.get("alive", True)]
    if not dead:
        return []
    return [
        "",
        "Runs that diverged: "
        + "; ".join(f"{r['label']} on {r['task']} seed {r['seed']}: {r['reason']}" for r in dead),
    ]


def plot_iqm(
    st: dict[str, Any],
    labels: Sequence[str],
    tasks: Sequence[str],
    path: Path,
    envs: Sequence[str],
    highlight: str | None = None,
    dashed: Sequence[str] = (),
    ylabel: str = "normalized score (IQM, 95% CI)",
    titles: dict[str, str] | None = None,
) -> None:
    """IQM with 95 % bootstrap CIs per data setting, one panel per environment (``envs`` gives their order;
    tasks are ``ENV-SETTING``); ``highlight`` is drawn thick and black (the SFT-only reference), ``dashed``
    objectives (the discovered ones) with dashed lines and square markers, so no two lines look alike."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [e for e in envs if any(t.startswith(e + "-") for t in tasks)] or sorted(
        {t.split("-")[0] for t in tasks}
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels) + 1.5, 4), squeeze=False)
    colors = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20").colors
    for ax, env in zip(axes[0], panels, strict=True):
        env_tasks = [t for t in tasks if t.startswith(env + "-")]
        xs = range(len(env_tasks))
        for i, lab in enumerate(labels):
            pts = []
            for x, t in zip(xs, env_tasks, strict=True):
                o = st["tasks"][t]["objectives"].get(lab)
                if o and math.isfinite(o["iqm"]):
                    lo, hi = o["ci"]
                    lo = o["iqm"] if not math.isfinite(lo) else lo
                    hi = o["iqm"] if not math.isfinite(hi) else hi
                    pts.append((x, o["iqm"], o["iqm"] - lo, hi - o["iqm"]))
            if not pts:
                continue
            px, pm, elo, ehi = zip(*pts, strict=True)
            off = (i - len(labels) / 2) * 0.03
            ax.errorbar(
                [x + off for x in px],
                pm,
                yerr=[elo, ehi],
                marker="s" if lab in dashed else "o",
                ls="--" if lab in dashed else "-",
                capsize=2,
                label=lab,
                lw=2.5 if lab == highlight else 1.2,
                color="black" if lab == highlight else colors[i % len(colors)],
            )
        ax.set_xticks(list(xs), [t.split("-", 1)[1] for t in env_tasks])
        ax.set(title=(titles or {}).get(env, env), ylabel=ylabel, xlabel="data setting")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
