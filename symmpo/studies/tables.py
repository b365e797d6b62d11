"""Lines every study's table shares beyond ``symmpo.report``: which baselines are plain, what the table can
resolve (power)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symmpo.objective import named


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
