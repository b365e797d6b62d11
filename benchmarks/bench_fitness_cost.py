"""CPU cost of one fitness candidate under a preset: process CPU time, so other jobs' load does not inflate it.

    python benchmarks/bench_fitness_cost.py [--task hopper-mixed-0.5] [--population 16] [--seeds 2]

Trains one population of ``--population`` grammar samples (as a search's generation does) on each fitness seed
with the ``default`` training preset and evaluates it, and prints CPU seconds per candidate (training + greedy
evaluation; the cached dataset and reference are excluded: a search prepares them once) next to the wall time,
and the candidates per hour this gives on 2 cores (the budget `symmpo fidelity` is judged against).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="hopper-mixed-0.5")
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--grammar", default="grammars/mirror.yaml")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from symmpo.search.space import ObjectiveSpace
    from symmpo.train.config import TrainConfig
    from symmpo.train.fitness import make_evaluator, prepare
    from symmpo.train.trainer import train_population

    cfg = TrainConfig.preset("default")
    space = ObjectiveSpace.load(args.grammar)
    rng = np.random.default_rng(0)
    objs = []
    while len(objs) < args.population:
        o = space.sample(rng)
        if space.check(o) is None:
            objs.append(o)
    cpu = wall = 0.0
    steps = 0
    for seed in range(args.seeds):
        dataset, reference = prepare(args.task, seed, cfg)
        evaluator = make_evaluator(args.task, cfg)
        c0, w0 = time.process_time(), time.perf_counter()
        res = train_population(objs, dataset, reference, cfg, seed, evaluator=evaluator)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        steps += cfg.steps
        print(
            f"seed {seed}: train {res[0].train_seconds:.1f} s wall, eval {res[0].eval_seconds:.1f} s wall",
            flush=True,
        )
    per = cpu / args.population
    print(
        f"{args.task}, default preset (steps {cfg.steps}, eval {cfg.eval_episodes} episodes), {args.seeds} seed(s):"
    )
    print(f"  CPU seconds per candidate {per:.2f} (wall {wall / args.population:.2f}: load from other jobs)")
    print(f"  -> {2 * 3600 / per:.0f} candidate evaluations per hour on 2 cores")


if __name__ == "__main__":
    main()
