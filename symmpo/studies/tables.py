"""What every study's table shares beyond ``symmpo.report``: who is in it, its stats.json and opening lines,
which baselines are plain, what the table can resolve (power)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.objective import named
from symmpo.report import write_stats


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


def _gain(st: dict[str, Any], task: str, reference: str, label: str) -> str:
    """``+13.3 (p_holm 0.0096)``: ``label`` − ``reference`` from the table's own corrected test of the pair."""
    for c in st["tasks"][task]["comparisons"]:
        if c["objective"] == reference and c["against"] == label:
            mark = "**" if c["verdict"] == "loses" else ""  # the reference loses: the loss gains
            worse = ", loses" if c["verdict"] == "beats" else ""  # the reference beats it: the loss harms
            return f"{mark}{-c['diff']:+.1f}{mark} (p_holm {c['p_holm']:.2g}{worse})"
    return "–"


def gain_lines(st: dict[str, Any], tasks: Sequence[str], reference: str, dpo: str = "dpo") -> list[str]:
    """What preference optimization adds to ``reference`` per environment and setting (issue 18's validity
    evidence): DPO − reference and the column's best baseline (chosen on fitness) − reference, both from the
    table's Holm-corrected paired tests. Columns named ``<env>-<setting>[@suite]``."""
    cells: dict[str, dict[str, str]] = {}
    settings: list[str] = []
    for t in tasks:
        env, _, rest = t.partition("-")
        setting = rest.split("@")[0] or t
        settings += [setting] if setting not in settings else []
        col = st["tasks"][t]
        best = col.get("best_baseline")
        if best == reference:
            best_cell = f"{reference} is the best"
        elif best:
            best_cell = f"{best} {_gain(st, t, reference, best)}"
        else:
            best_cell = "–"
        cells.setdefault(env, {})[setting] = f"{_gain(st, t, reference, dpo)}; {best_cell}"
    if not any(c["objective"] == reference for t in tasks for c in st["tasks"][t]["comparisons"]):
        return []
    return [
        "",
        f"Gain over `{reference}` per setting: DPO − {reference}; the column's best baseline (chosen on the "
        f"fitness split) − {reference}. Paired differences of means over the common seeds, Holm-corrected with "
        'the rest of the table; **bold** = the gain survives the correction; "loses" = so does the harm.',
        "",
        "| environment | " + " | ".join(settings) + " |",
        "|---|" + "---|" * len(settings),
        *(f"| {env} | " + " | ".join(by.get(s, "–") for s in settings) + " |" for env, by in cells.items()),
    ]


@dataclass(frozen=True)
class Table:
    """A table's rows and who is in it: ``labels`` (the reference first), the judged ``found`` (discovered
    objectives present) and the ``baselines`` eligible as a column's best."""

    rows: list[dict[str, Any]]
    tasks: list[str]
    labels: list[str]
    found: list[str]
    baselines: list[str]


def table_of(
    rows: list[dict[str, Any]],
    reference: str,
    labels: Sequence[str],
    discovered: Sequence[str],
    order: Callable[[set[str]], list[str]],
    missing: str,
) -> Table:
    """The rows of ``labels`` (and the reference) present in ``rows``; ``missing`` is the error without any."""
    if not rows:
        raise SymmpoError(missing)
    present = {r["label"] for r in rows}
    labels = [reference] + [lab for lab in labels if lab in present and lab != reference]
    found = [d for d in discovered if d in present]
    baselines = [lab for lab in labels if lab not in found]
    kept = [r for r in rows if r["label"] in labels]
    return Table(kept, order({r["task"] for r in rows}), labels, found, baselines)


def report_start(
    out_dir: Path,
    st: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    config: dict[str, Any],
    title: str,
    header: str,
    **extra: Any,
) -> tuple[list[int], list[str]]:
    """Write ``stats.json`` (with the seeds, the configuration and ``extra``) and return the seeds and the
    report's first lines (its title and the line that says how it was produced)."""
    from symmpo.search.presets import CLAIM_SEEDS

    seeds = sorted({r["seed"] for r in rows})
    write_stats(out_dir / "stats.json", st, seeds, config, **extra)
    lines = [f"# {title}", "", header, ""]
    if len(seeds) < len(CLAIM_SEEDS):
        lines += [
            f"**An exploration, not a claim:** {len(seeds)} training seeds, fewer than the {len(CLAIM_SEEDS)} paired "
            "seeds a claim needs; read every verdict with its detectable effect.",
            "",
        ]
    return seeds, lines
