"""Exploration, fitness split only (dataset seed 0, training seeds 0-1, fitness prompts): with π_ref trained on
separate SFT data (responses of chosen behaviour levels on prompts of their own, ``TextConfig.sft_levels``),
does preference optimization beat SFT by several points? Not a finding about any loss.

    python results/explore-text-sft/run.py            # runs what rows.jsonl lacks, then prints table.md
    python results/explore-text-sft/run.py --report   # only the table

Designs run in the order of DESIGNS (most informative first) and each finished run is appended to rows.jsonl,
so an interrupted exploration resumes and the table shows whatever designs are complete.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

from symmpo import Objective
from symmpo.suite.datasets import default_cache_dir
from symmpo.text import po
from symmpo.text.config import TextConfig
from symmpo.text.lm import SFTConfig

OUT = Path(__file__).resolve().parent
SETTINGS = ("clean", "mixed-0.5")
SEEDS = (0, 1)
DESIGNS = [  # (SFT levels, SFT epochs)
    (("poor", "fair"), 8.0),
    (("poor", "fair"), 2.0),
    (("poor",), 8.0),
    (("fair",), 8.0),
    (("poor", "fair"), 1.0),
    (("poor",), 2.0),
]
LOSSES = {  # label: (objective, learning rate)
    "sft_chosen (lr 1e-4)": (Objective.named("sft_chosen"), 1e-4),
    "dpo (beta 0.1, lr 1e-4)": (Objective.named("dpo", beta=0.1), 1e-4),
    "orpo (lam 0.5, lr 1e-4)": (Objective.named("orpo", lam=0.5), 1e-4),
    "ipo (default, lr 1e-4)": (Objective.named("ipo"), 1e-4),
    "simpo (default, lr 1e-4)": (Objective.named("simpo"), 1e-4),
    "rpo (default, lr 1e-4)": (Objective.named("rpo"), 1e-4),
}
LABELS = ["sft", *LOSSES]


def key(r: dict) -> tuple:
    return (tuple(r["levels"]), r["epochs"], r["setting"], r["seed"], r["label"])


def main() -> None:
    path = OUT / "rows.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    done = {key(r) for r in rows}
    base = TextConfig.preset("default").fitness()
    cache = default_cache_dir()
    for levels, epochs in [] if "--report" in sys.argv else DESIGNS:
        cfg = dataclasses.replace(base, sft=SFTConfig(epochs=epochs), sft_levels=levels)
        for setting in SETTINGS:
            for seed in SEEDS:
                for label in LABELS:
                    ident = {"levels": list(levels), "epochs": epochs, "setting": setting, "seed": seed}
                    if key({**ident, "label": label}) in done:
                        continue
                    t0 = time.perf_counter()
                    if label == "sft":
                        r = po.evaluate_reference(setting, seed, cfg, cache)
                    else:
                        obj, lr = LOSSES[label]
                        r = po.run(obj, setting, seed, cfg, lr, cache)
                    row = {
                        **ident,
                        "label": label,
                        "score": r["score"],
                        "exact": r["exact"],
                        "extra_tokens": r["extra_tokens"],
                        "reference": r["reference"],
                        "seconds": time.perf_counter() - t0,
                    }
                    rows.append(row)
                    with path.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(json.dumps(row), file=sys.stderr, flush=True)
    print(table(rows))


def table(rows: list[dict]) -> str:
    lines = [
        "| SFT levels | SFT epochs | setting | "
        + " | ".join(LABELS)
        + " | best PO − sft | best PO − sft_chosen |",
        "|---" * (len(LABELS) + 5) + "|",
    ]
    for levels, epochs in DESIGNS:
        for setting in SETTINGS:
            cells, means = [], {}
            for lab in LABELS:
                xs = [
                    r["score"]
                    for r in rows
                    if (tuple(r["levels"]), r["epochs"], r["setting"], r["label"])
                    == (levels, epochs, setting, lab)
                ]
                if len(xs) == len(SEEDS):
                    means[lab] = statistics.mean(xs)
                    cells.append(f"{means[lab]:.1f} ({', '.join(f'{x:.1f}' for x in xs)})")
                else:
                    cells.append("–")
            if all(c == "–" for c in cells):
                continue
            po_means = [v for k, v in means.items() if k not in ("sft", "sft_chosen (lr 1e-4)")]
            gap = f"{max(po_means) - means['sft']:+.1f}" if po_means and "sft" in means else "–"
            cont = means.get("sft_chosen (lr 1e-4)")
            gap += f" | {max(po_means) - cont:+.1f}" if po_means and cont is not None else " | –"
            lines.append(
                f"| {'+'.join(levels)} | {epochs:g} | {setting} | " + " | ".join(cells) + f" | {gap} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
