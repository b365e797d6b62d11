"""Trainer throughput, printed as ratios (never a timed test).

1. P objectives trained together (one stacked population) against P sequential single runs: training steps only,
   and (with a real task) a whole fitness job, training + greedy evaluation.
2. The batched log-prob forward+backward: stacked ``baddbmm`` in chunks of 4 members (what the trainer uses) against
   ``torch.func.vmap(functional_call)`` over stacked ``nn.Module`` parameters, and a Python loop over members.
3. A training step with a compiled symbolic objective (``Objective.named("dpo")``) against hand-written DPO.
4. The trainer's arithmetic rate against the plain matmul rate of its own shapes, measured in the same run: the
   GEMMs a training step makes (forward and backward of every layer, members in chunks as the trainer runs
   them), timed alone with ``torch.bmm`` on the step's mean row count, against whole training steps (batching,
   log-probs, every member's loss, backward, clipping, Adam) on the same data; eager, and with the log-prob
   pass compiled by inductor (``TrainConfig(compile=True)``), against the same GEMM reference.
5. How far the compiled trainer's numbers are from eager ones (final parameters, losses; scores with --task).

    python benchmarks/bench_trainer.py                      # synthetic Hopper-shaped data
    python benchmarks/bench_trainer.py --task hopper-clean  # the real dataset (built on first use)

Runs on one thread (``torch.set_num_threads(1)``): the search runs one job per core.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call, stack_module_state, vmap

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from symmpo.train import TrainConfig, train_population
from symmpo.train import policy as policy_module
from symmpo.train import trainer as trainer_module
from symmpo.train.policy import PolicyPopulation, PolicySpec
from symmpo.train.reference import get_reference
from symmpo.train.testing import HandDPO, synthetic_dataset


def timed(fn, repeat: int = 1, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def population_vs_sequential(ds, ref, cfg: TrainConfig, p: int, make_obj) -> None:
    objs = [make_obj(i) for i in range(p)]
    train_population(objs[:1], ds, ref, cfg, 0)  # warm-up
    together = timed(lambda: train_population(objs, ds, ref, cfg, 0), 2)
    sequential = timed(lambda: [train_population([o], ds, ref, cfg, 0) for o in objs], 1)
    ms = 1000 / cfg.steps
    print(
        f"[train steps] P={p} together {together * ms:.1f} ms/step, {p} sequential {sequential * ms:.1f} ms/step"
        f" -> ratio together/sequential = {together / sequential:.2f} (target <= 0.35)"
    )


def logp_variants(spec: PolicySpec, p: int, rows: int) -> None:
    """Forward+backward of summed log-probs for P members on the same rows, three implementations."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(rows, spec.obs_dim)
    act = torch.randint(0, spec.n_bins, (rows, spec.act_dim), generator=gen)
    zeros, ones = np.zeros(spec.obs_dim, np.float32), np.ones(spec.obs_dim, np.float32)
    pop = PolicyPopulation.init(spec, p, zeros, ones, gen)
    for t in pop.params:
        t.requires_grad_(True)

    def bmm_step():
        pop.step_logps(x, act).sum().backward()

    def make_net():
        layers: list[nn.Module] = []
        for fan_in, fan_out in spec.layer_sizes():
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        return nn.Sequential(*layers[:-1])

    nets = [make_net() for _ in range(p)]
    params, buffers = stack_module_state(nets)
    base = make_net().to("meta")

    def one(pr, bu, xx):
        logits = functional_call(base, (pr, bu), (xx,)).view(rows, spec.act_dim, spec.n_bins)
        return (logits.gather(-1, act.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)).sum(-1)

    def vmap_step():
        vmap(one, in_dims=(0, 0, None))(params, buffers, x).sum().backward()

    def loop_step():
        sum(one({k: v[i] for k, v in params.items()}, {}, x).sum() for i in range(p)).backward()

    res = {}
    for name, fn in (("stacked", bmm_step), ("vmap", vmap_step), ("loop", loop_step)):
        fn()
        res[name] = timed(lambda fn=fn: [fn() for _ in range(5)], 3) / 5
    print(
        f"[log-prob fwd+bwd] P={p}, {rows} rows: "
        + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in res.items())
        + f" -> vmap/stacked = {res['vmap'] / res['stacked']:.2f}, loop/stacked = {res['loop'] / res['stacked']:.2f}"
    )


def compiled_vs_hand(ds, ref, cfg: TrainConfig) -> None:
    try:
        from symmpo import Objective
    except ImportError as err:
        print(f"[compiled objective] skipped: symmpo.Objective not available ({err})")
        return
    for p in (1, 16):
        comp = [Objective.named("dpo", beta=0.1) for _ in range(p)]
        hand = [HandDPO(0.1) for _ in range(p)]
        train_population(comp, ds, ref, cfg, 0)
        t_c = timed(lambda comp=comp: train_population(comp, ds, ref, cfg, 0), 3)
        t_h = timed(lambda hand=hand: train_population(hand, ds, ref, cfg, 0), 3)
        print(
            f"[compiled objective] P={p}: compiled dpo {t_c / cfg.steps * 1000:.2f} ms/step, hand-written "
            f"{t_h / cfg.steps * 1000:.2f} ms/step -> ratio = {t_c / t_h:.2f} (target <= 1.1)"
        )


def step_gemms(spec: PolicySpec, p: int, rows: int) -> list[tuple[int, int, int, int]]:
    """(batch, m, k, n) of every matrix product of one training step (forward and backward) of P members."""
    out = []
    chunk = policy_module.MEMBER_CHUNK
    for s in range(0, p, chunk):
        pc = min(chunk, p - s)
        for layer, (fan_in, fan_out) in enumerate(spec.layer_sizes()):
            out.append((pc, rows, fan_in, fan_out))  # forward
            out.append((pc, fan_in, rows, fan_out))  # weight gradient
            if layer > 0:  # the input gradient (the observations need none)
                out.append((pc, rows, fan_out, fan_in))
    return out


def gemm_flops(shapes: list[tuple[int, int, int, int]]) -> int:
    return sum(2 * b * m * k * n for b, m, k, n in shapes)


def matmul_share(ds, ref, cfg: TrainConfig, p: int, make_obj, rounds: int = 7) -> None:
    """Trainer GFLOP/s (the step's GEMM flops over whole training steps) / plain bmm GFLOP/s on the same shapes,
    for the eager trainer and for ``TrainConfig(compile=True)`` (inductor), against the same GEMM reference.

    Timed in CPU seconds of this (single-threaded) process, so time spent waiting for a core on a shared machine
    counts for neither side. The rounds run eager, compiled and the GEMMs back to back."""
    spec = ref.policy.spec
    rows: list[int] = []
    make_batch = trainer_module.make_batch
    configs = {"eager": cfg, "compiled": dataclasses.replace(cfg, compile=True)}

    def recording(*args):
        batch = make_batch(*args)
        rows.append(int(batch.obs.shape[0]))
        return batch

    objs = [make_obj(i) for i in range(p)]
    trainer_module.make_batch = recording
    try:
        t0 = time.perf_counter()
        train_population(objs, ds, ref, configs["compiled"], 0)  # warm-up: compiles once per process
        compile_seconds = time.perf_counter() - t0
        train_population(objs, ds, ref, cfg, 0)
        rows.clear()
        train_population(objs, ds, ref, cfg, 0)
        step_rows = list(rows)
        mean_rows = int(round(float(np.mean(step_rows))))
        shapes = step_gemms(spec, p, mean_rows)
        gen = torch.Generator().manual_seed(0)
        operands = [
            (torch.randn(b, m, k, generator=gen), torch.randn(b, k, n, generator=gen))
            for b, m, k, n in shapes
        ]

        def gemms():
            for a, b in operands:
                torch.bmm(a, b)

        gemms()
        flops = sum(gemm_flops(step_gemms(spec, p, r)) for r in step_rows)
        ratios: dict[str, list[float]] = {k: [] for k in configs}
        t_train = dict.fromkeys(configs, float("inf"))
        t_gemm = float("inf")
        for _ in range(rounds):  # back to back, so every part of a round sees the same machine load
            t_g = timed(lambda: [gemms() for _ in range(cfg.steps)], clock=time.process_time) / cfg.steps
            t_gemm = min(t_gemm, t_g)
            for name, c in configs.items():
                t_t = timed(lambda c=c: train_population(objs, ds, ref, c, 0), clock=time.process_time)
                ratios[name].append((flops / t_t) / (gemm_flops(shapes) / t_g))
                t_train[name] = min(t_train[name], t_t)
    finally:
        trainer_module.make_batch = make_batch
    plain_rate = gemm_flops(shapes) / t_gemm / 1e9
    print(
        f"[matmul share] P={p}, {mean_rows} rows per step; plain bmm of the same shapes {plain_rate:.1f} GFLOP/s "
        f"({1000 * t_gemm:.1f} ms) (best of {rounds})"
    )
    for name, r in ratios.items():
        print(
            f"[matmul share] {name:>8}: trainer {flops / t_train[name] / 1e9:.1f} GFLOP/s "
            f"({1000 * t_train[name] / cfg.steps:.1f} ms/step) -> ratio = {float(np.median(r)):.2f} (median of "
            f"{rounds} back-to-back rounds, range {min(r):.2f}-{max(r):.2f}; target >= 0.8)"
        )
    print(f"[matmul share] compiling the log-prob pass took {compile_seconds:.0f} s (once per process)")


def compiled_vs_eager_values(ds, ref, cfg: TrainConfig, p: int, make_obj, evaluator=None) -> None:
    """How far ``compile=True`` moves the numbers: final parameters, final training losses (and scores)."""
    objs = [make_obj(i) for i in range(p)]
    out = {}
    for name, c in (("eager", cfg), ("compiled", dataclasses.replace(cfg, compile=True))):
        out[name] = train_population(objs, ds, ref, c, 0, evaluator=evaluator, return_policy=True)
    (res_e, pol_e), (res_c, pol_c) = out["eager"], out["compiled"]
    params = max(float((a - b).abs().max()) for a, b in zip(pol_e.params, pol_c.params, strict=True))
    scale = max(float(a.abs().max()) for a in pol_e.params)
    losses = max(abs(a.loss_curve[-1][1] - b.loss_curve[-1][1]) for a, b in zip(res_e, res_c, strict=True))
    line = (
        f"[compiled vs eager] after {cfg.steps} steps, P={p}: max |Δ parameter| {params:.2e} (largest parameter "
        f"{scale:.2f}), max |Δ last logged loss| {losses:.2e}"
    )
    if evaluator is not None:
        scores = max(abs(a.score - b.score) for a, b in zip(res_e, res_c, strict=True))
        line += f", max |Δ normalized score| {scores:.3g}"
    identical = all(torch.equal(a, b) for a, b in zip(pol_e.params, pol_c.params, strict=True))
    print(
        line + (" (bit-identical)" if identical else " (not bit-identical: fused kernels round differently)")
    )


def fitness_job(task: str, cfg: TrainConfig, p: int) -> None:
    from symmpo.train.fitness import make_evaluator, prepare

    t0 = time.perf_counter()
    ds, ref = prepare(task, 0, cfg)
    print(
        f"[fitness job] {task}: {ds.n_pairs} pairs, mean length {ds.len_chosen.mean():.0f}/"
        f"{ds.len_rejected.mean():.0f}, dataset + reference {time.perf_counter() - t0:.1f} s"
    )
    ev = make_evaluator(task, cfg)
    objs = [HandDPO(0.05 + 0.05 * i) for i in range(p)]
    t_all = timed(lambda: train_population(objs, ds, ref, cfg, 0, evaluator=ev))
    res = train_population(objs[:1], ds, ref, cfg, 0, evaluator=ev)
    t_one = res[0].train_seconds + res[0].eval_seconds
    print(
        f"[fitness job] P={p} together: {t_all:.1f} s (train {cfg.steps} steps + eval {cfg.eval_episodes} "
        f"episodes); one single run {t_one:.1f} s (train {res[0].train_seconds:.1f} + eval "
        f"{res[0].eval_seconds:.1f}) -> ratio together/({p} x single) = {t_all / (p * t_one):.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default=None, help="a real task (needs the suite datasets); default synthetic")
    ap.add_argument("-P", type=int, default=16)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(steps=args.steps, bc_steps=200)
    if args.task:
        from symmpo.train.fitness import prepare

        ds, ref = prepare(args.task, 0, cfg)
    else:
        ds = synthetic_dataset(n_pairs=512, horizon=100, obs_dim=11, act_dim=3, n_bins=11)
        ref = get_reference(ds, 0, cfg, use_cache=False)
    rows = int(cfg.batch_size * (ds.len_chosen.mean() + ds.len_rejected.mean()))
    print(
        f"data: {ds.meta.get('task')}, obs_dim {ds.obs_dim}, act_dim {ds.act_dim}, K {ds.n_bins}, "
        f"~{rows} steps per minibatch of {cfg.batch_size} pairs; hidden {cfg.hidden}; {args.threads} thread(s)"
    )
    population_vs_sequential(ds, ref, cfg, args.P, lambda i: HandDPO(0.05 + 0.05 * i))
    logp_variants(ref.policy.spec, args.P, rows)
    compiled_vs_hand(ds, ref, cfg)
    matmul_share(ds, ref, cfg, args.P, lambda i: HandDPO(0.05 + 0.05 * i))
    evaluator = None
    if args.task:
        from symmpo.train.fitness import make_evaluator

        evaluator = make_evaluator(args.task, cfg)
    compiled_vs_eager_values(ds, ref, cfg, args.P, lambda i: HandDPO(0.05 + 0.05 * i), evaluator)
    if args.task:
        fitness_job(args.task, TrainConfig(), args.P)


if __name__ == "__main__":
    main()
