"""How much the non-leading terms of φ⁻¹ and ψ act in each form, read from raw.json (no training).

For every component of a sample with at least two additive terms that read p, the share (pruning's measure: the
larger of the term's value and gradient shares, symmpo/objective/prune.py) of its *smallest* such term, on the
log-probabilities that sample's trained members saw. Pruning calls a term dead below 1e-6; this shows how far above
that the surviving ones are.

    PYTHONPATH=. python results/pertoken/shares.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from symmpo.objective import prune as pruning
from symmpo.symbolic.expr import get_at, variables

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))
from bench_pertoken import samples  # noqa: E402  (the same draws as the measurement: sample seed 0)

raw = json.loads((HERE / "raw.json").read_text())
seq = {o.name: o for o in samples(len(raw["rows"]) // 2, 0)}
out: dict[tuple[str, str], list[float]] = {}
for row in raw["rows"]:
    obj = seq[row["name"]].with_granularity(row["granularity"])
    assert obj.reduce == row["reduce"] and obj.beta == row["beta"]
    sample = pruning.sample_of(row["sketches"])
    for comp in pruning.prunable(obj):
        tree = obj.components[comp]
        shares = [s for path, s in pruning.shares(tree, sample) if "p" in variables(get_at(tree, path))]
        if len(shares) >= 2:
            out.setdefault((row["granularity"], row["reduce"]), []).append(min(shares))
print(
    "| form | reduce | components with >= 2 terms reading p | median share of the smallest | below 1e-3 | below 1e-6 (dead) |"
)
print("|---|---|---|---|---|---|")
for (form, reduce), v in sorted(out.items()):
    a = np.asarray(v)
    print(
        f"| {form} | {reduce} | {a.size} | {np.median(a):.2g} | {int((a < 1e-3).sum())} | {int((a <= 1e-6).sum())} |"
    )
