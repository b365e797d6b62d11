"""The fitness side of a fidelity study at other PO steps: the data for a cheap first rung of successive halving.

    python benchmarks/rung_steps.py --task hopper-mixed-0.5@v3 --settings 250:3e-4 250:1e-3 --seeds 2 \
        --out results/multifidelity/rung-steps/hopper-mixed-0.5@v3

Trains the very objective set of ``symmpo fidelity`` (the baselines, SFT and ``--samples`` grammar samples drawn
with ``--sample-seed`` from ``--grammar``: :func:`symmpo.studies.fidelity.objective_set`) on the fitness split
only (dataset seed 0, training seeds 0..S-1, resets 0..E-1), per setting, with
:func:`symmpo.studies.fidelity.run_split`. No held-out side: the labels are those of the 1000-step study of the
same task (``results/fidelity/v3/<task>/raw.json``), whose held-out scores ``benchmarks/bench_multifidelity.py
--rung-raw`` pairs these fitness scores with. Writes ``raw.json`` (``{setting: {"fitness": split}}``, the
format of the fidelity study's) after each setting, so an interrupted run resumes at the next setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True)
    ap.add_argument("--settings", nargs="+", required=True, help="STEPS:LR, e.g. 250:3e-4")
    ap.add_argument("--seeds", type=int, default=2, help="fitness training seeds 0..S-1")
    ap.add_argument("--episodes", type=int, default=10, help="evaluation episodes per seed")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--grammar", default="grammars/mirror.yaml")
    ap.add_argument(
        "--dataset-seed",
        type=int,
        default=None,
        help="a fitness-side dataset other than 0 (protocol.FITNESS_EXTRA_DATASET_SEEDS); stored as SETTING@dsN",
    )
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    import torch

    from symmpo.files import dumps
    from symmpo.studies.fidelity import Setting, objective_set, run_split
    from symmpo.studies.mujoco import fitness_config
    from symmpo.suite.tasks import parse_task
    from symmpo.train.config import TrainConfig

    torch.set_num_threads(1)  # as symmpo fidelity: the CPU seconds per seed compare with its
    parse_task(args.task)
    objectives = objective_set(args.grammar, args.samples, args.sample_seed)
    args.out.mkdir(parents=True, exist_ok=True)
    raw_path = args.out / "raw.json"
    raw = json.loads(raw_path.read_text()) if raw_path.exists() else {}
    from symmpo import protocol

    if args.dataset_seed is not None and args.dataset_seed not in protocol.FITNESS_EXTRA_DATASET_SEEDS:
        raise SystemExit(f"--dataset-seed must be one of {protocol.FITNESS_EXTRA_DATASET_SEEDS}")
    for text in args.settings:
        steps, _, lr = text.partition(":")
        setting = Setting(int(steps), float(lr))
        key = setting.label if args.dataset_seed is None else f"{setting.label}@ds{args.dataset_seed}"
        if key in raw:
            print(f"{args.task} {key}: done already ({raw_path})")
            continue
        config = fitness_config(
            dataclasses.replace(
                TrainConfig.preset("default"), steps=setting.steps, lr=setting.lr, eval_episodes=args.episodes
            )
        )
        if args.dataset_seed is not None:
            config = dataclasses.replace(config, dataset_seed=args.dataset_seed)
        seeds = list(range(args.seeds))
        print(f"{args.task} {key}: fitness split, seeds {seeds}, {args.episodes} episodes", flush=True)
        split = run_split(objectives, args.task, config, seeds, None, args.cache_dir)
        raw[key] = {"fitness": split}
        raw_path.write_text(dumps(raw))
    print(f"wrote {raw_path}")


if __name__ == "__main__":
    main()
