"""Exploration, fitness split only (dataset seed 0, training seeds 0-1, fitness prompts): does preference
optimization gain over SFT when the reference is weaker (fewer SFT epochs)? Not a finding about any loss.

    python results/explore-text-reference/run.py > results/explore-text-reference/log.txt
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
from pathlib import Path

from symmpo import Objective
from symmpo.suite.datasets import default_cache_dir
from symmpo.text import po
from symmpo.text.config import TextConfig
from symmpo.text.lm import SFTConfig

OUT = Path(__file__).resolve().parent
LOSSES = {  # label: (objective, learning rate)
    "dpo (beta 0.1, lr 1e-4)": (Objective.named("dpo", beta=0.1), 1e-4),
    "dpo (beta 0.5, lr 3e-5; the sweep's)": (Objective.named("dpo", beta=0.5), 3e-5),
    "orpo (lam 0.5, lr 1e-4; the sweep's)": (Objective.named("orpo", lam=0.5), 1e-4),
}


def main() -> None:
    rows = []
    base = TextConfig.preset("default").fitness()
    for epochs in (1.0, 2.0, 8.0):
        cfg = dataclasses.replace(base, sft=SFTConfig(epochs=epochs))
        for setting in ("clean", "mixed-0.5"):
            for seed in (0, 1):
                ref = po.evaluate_reference(setting, seed, cfg, default_cache_dir())
                rows.append(
                    {
                        "epochs": epochs,
                        "setting": setting,
                        "seed": seed,
                        "label": "sft",
                        "score": ref["score"],
                    }
                )
                for label, (obj, lr) in LOSSES.items():
                    r = po.run(obj, setting, seed, cfg, lr, default_cache_dir())
                    rows.append(
                        {
                            "epochs": epochs,
                            "setting": setting,
                            "seed": seed,
                            "label": label,
                            "score": r["score"],
                        }
                    )
                print(json.dumps(rows[-4:]), file=sys.stderr, flush=True)
    (OUT / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    labels = ["sft", *LOSSES]
    print("| SFT epochs | setting | " + " | ".join(labels) + " |")
    print("|---" * (len(labels) + 2) + "|")
    for epochs in (1.0, 2.0, 8.0):
        for setting in ("clean", "mixed-0.5"):
            cells = []
            for lab in labels:
                xs = [
                    r["score"]
                    for r in rows
                    if (r["epochs"], r["setting"], r["label"]) == (epochs, setting, lab)
                ]
                cells.append(f"{statistics.mean(xs):.1f} ({', '.join(f'{x:.1f}' for x in xs)})")
            print(f"| {epochs:g} | {setting} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
