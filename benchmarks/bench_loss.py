"""Compiled symbolic DPO vs a hand-written torch DPO: forward + backward time ratio (target <= 1.1).

    .venv/bin/python benchmarks/bench_loss.py [--batch 256] [--repeats 2000]

Runs single-threaded (torch.set_num_threads(1)) and interleaves the two timings in rounds, keeping the
median round, so background load hits both equally. Prints the ratio, never asserts it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from symmpo import Objective


def hand_dpo(pc, pr, rc, rr, beta=0.1):
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr)))


def time_fn(fn, args, repeats: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeats):
        xs = [a.detach().requires_grad_(True) for a in args]
        fn(*xs).mean().backward()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--objective", default="dpo")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    obj = Objective.named(args.objective)
    data = [-torch.rand(args.batch) * 50 for _ in range(4)]
    compiled = obj.loss
    compiled(*data)  # compile once (cached on the objective)
    for _ in range(2):  # warm-up
        time_fn(hand_dpo, data, 200)
        time_fn(compiled, data, 200)
    hand, ours = [], []
    for _ in range(args.rounds):
        hand.append(time_fn(hand_dpo, data, args.repeats))
        ours.append(time_fn(compiled, data, args.repeats))
    h, o = statistics.median(hand), statistics.median(ours)
    ratios = sorted(b / a for a, b in zip(hand, ours, strict=True))
    print(
        f"batch={args.batch} repeats={args.repeats} rounds={args.rounds} threads=1 objective={args.objective}"
    )
    print(f"hand-written DPO fwd+bwd: {h * 1e6:.1f} us/step")
    print(f"compiled {args.objective} fwd+bwd: {o * 1e6:.1f} us/step")
    print(
        f"ratio compiled/hand (median of rounds): {o / h:.3f}  (per-round min {ratios[0]:.3f}, max {ratios[-1]:.3f};"
        " target <= 1.1)"
    )


if __name__ == "__main__":
    main()
