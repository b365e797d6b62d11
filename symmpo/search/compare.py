"""The study comparison: discovered objectives next to the tuned baselines, on seeds the search never saw.

A search selects on its fitness seeds, so its own scores are optimistic. Here every discovered objective
(hall-of-fame entries, loaded from their objective files) trains together with every named baseline at the
hyperparameters chosen by the clean-data sweep (``results/bench/sweep.json``) and the SFT-only reference, on
held-out training seeds and on tasks the search did not use (other data settings, and Walker2d, which no search
preset optimizes on). Rows go to ``compare.jsonl`` with the bench's resumable format; the report is a markdown
table, a CSV and a plot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.train import bench
from symmpo.train.config import TrainConfig
from symmpo.train.report import mean_se, read_jsonl


@dataclass(frozen=True)
class FileMember(bench.Member):
    """A population member whose objective comes from an objective file (a hall-of-fame entry)."""

    path: str = ""

    def objective(self):
        from symmpo import Objective

        return Objective.load(self.path)


def discovered_members(specs: Sequence[str]) -> list[FileMember]:
    """``LABEL=FILE`` or a run directory (its best hall-of-fame entry, labelled with the run's name)."""
    out = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep:
            run = Path(spec)
            path = str(run / "objectives" / "hof_01.yaml")
            label = run.name
        if not Path(path).is_file():
            raise SymmpoError(
                f"no objective file {path!r} (from {spec!r}): give LABEL=FILE or a finished run"
            )
        out.append(FileMember(label, "discovered", {}, None, path))
    labels = [m.label for m in out]
    if len(set(labels)) != len(labels):
        raise SymmpoError(f"labels must be unique, got {labels}")
    return out


def run_compare(
    out_dir: Path,
    config: TrainConfig,
    tasks: Sequence[str],
    seeds: Sequence[int],
    discovered: Sequence[FileMember],
    baseline_params: dict[str, dict[str, Any]],
    **kw: Any,
) -> None:
    members = [bench.Member(n, n, c["params"], c.get("lr")) for n, c in baseline_params.items()]
    bench.run_populations(
        out_dir, "compare", tasks, seeds, [*members, *discovered], config, with_sft=True, **kw
    )


def write_report(out_dir: Path, config: TrainConfig, discovered: Sequence[str], header: str = "") -> str:
    """``compare.md`` / ``compare.csv`` / ``compare.png``: mean ± s.e. over seeds; best per column in bold, and
    for every discovered objective whether it beats, ties (within 2 standard errors of the difference) or loses
    to DPO in each column."""
    rows = bench._current(read_jsonl(out_dir / "compare.jsonl"), config)
    if not rows:
        raise SymmpoError(f"no comparison results for this configuration in {out_dir / 'compare.jsonl'}")
    tasks = bench._ordered_tasks({r["task"] for r in rows})
    labels = [bench.SFT] + [b for b in bench.BASELINES if any(r["label"] == b for r in rows)]
    labels += [d for d in discovered if any(r["label"] == d for r in rows)]
    scores = {
        (lab, t): [r["score"] for r in rows if r["label"] == lab and r["task"] == t]
        for lab in labels
        for t in tasks
    }
    cell = {k: (*mean_se(v), len(v)) for k, v in scores.items() if v}
    best = {t: max((cell[lab, t][0] for lab in labels if (lab, t) in cell), default=math.nan) for t in tasks}
    seeds = sorted({r["seed"] for r in rows})
    md = [
        "# Discovered objectives against the baselines (held-out seeds)",
        "",
        header,
        "",
        f"D4RL-normalized score of the greedy policy, mean ± standard error over training seeds {seeds} (none of "
        "them a search fitness seed); **bold** = best mean in the column. Baselines use the clean-data sweep's "
        "hyperparameters; discovered objectives are used exactly as their files say.",
        "",
        "| objective | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for lab in labels:
        md.append(f"| {lab} | " + " | ".join(bench.table_cells(cell, lab, tasks, best, len(seeds))) + " |")
    verdicts = []
    for d in discovered:
        for t in tasks:
            a, b = scores.get((d, t)), scores.get(("dpo", t))
            if a and b:
                verdicts.append((d, t, verdict(a, b)))
    if verdicts:
        md += ["", "Against DPO (difference of means vs 2 standard errors of the difference):", ""]
        md += [f"- {d} on {t}: {v}" for d, t, v in verdicts]
    md += ["", f"Training configuration `{config.to_dict()}`."]
    text = "\n".join(md) + "\n"
    (out_dir / "compare.md").write_text(text)
    with open(out_dir / "compare.csv", "w") as f:
        f.write("objective,task,mean,se,n_seeds\n")
        for (lab, t), (m, se, n) in cell.items():
            f.write(f"{lab},{t},{m:.4f},{se:.4f},{n}\n")
    bench._plot(cell, labels, tasks, out_dir / "compare.png")
    return text


def verdict(a: Sequence[float], b: Sequence[float]) -> str:
    """'wins' / 'ties' / 'loses' for the scores ``a`` against ``b``: a difference counts when it exceeds two
    standard errors of the difference of the means (Welch), a deliberately plain rule for a few seeds."""
    ma, sa = mean_se(a)
    mb, sb = mean_se(b)
    if not (math.isfinite(ma) and math.isfinite(mb)):
        return "wins" if math.isfinite(ma) else ("loses" if math.isfinite(mb) else "ties")
    diff = ma - mb
    se = math.sqrt((sa if math.isfinite(sa) else 0.0) ** 2 + (sb if math.isfinite(sb) else 0.0) ** 2)
    word = "ties" if abs(diff) <= 2 * se else ("wins" if diff > 0 else "loses")
    return f"{word} ({diff:+.1f} ± {se:.1f})"
