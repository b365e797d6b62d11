"""Probe: which half of DPO hurts? DPO, its chosen-only half (−log σ(β Δ_c)), its rejected-only half
(−log σ(−β Δ_r)) and continued SFT, from the same π_ref on the same minibatches; per-step log-prob change of
chosen, rejected and held-out expert actions, and the greedy score. Fitness split only (dataset seed 0)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from symmpo import Objective
from symmpo.suite import datasets as D
from symmpo.suite.evaluator import eval_seeds, evaluate
from symmpo.train.config import TrainConfig
from symmpo.train.fitness import prepare
from symmpo.train.policy import PackedResponses
from symmpo.train.trainer import train_population


class Half:
    def __init__(self, side: str, beta: float):
        self.side, self.beta, self.name = side, beta, f"dpo-{side}-only"

    def loss(self, pc, pr, rc, rr, lc=None, lr=None, progress=0.0):
        if self.side == "chosen":
            return -F.logsigmoid(self.beta * (pc - rc))
        return -F.logsigmoid(-self.beta * (pr - rr))


class SFT:
    name = "sft_chosen"

    def loss(self, pc, pr, rc, rr, lc=None, lr=None, progress=0.0):
        return -pc / lc.clamp(min=1).to(pc.dtype)


@torch.no_grad()
def step_logp(policy, packed):
    return policy.step_logps(packed.obs, packed.act)  # [P, rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="halfcheetah")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=300)
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = TrainConfig(steps=a.steps)
    ds, ref = prepare(f"{a.env}-clean", a.seed, cfg)
    objs = [Objective.named("dpo", beta=a.beta), Half("chosen", a.beta), Half("rejected", a.beta), SFT()]
    names = [getattr(o, "name", "dpo") for o in objs]
    _, pol = train_population(objs, ds, ref, cfg, a.seed, names=names, lrs=[a.lr] * 4, return_policy=True)
    pool, _ = D.load_pool(D.DatasetConfig(env=a.env, seed=100))  # held-out expert responses (other contexts)
    ex = pool.level[0] == len(pool.levels) - 1
    obs = pool.obs[:200, ex].reshape(-1, *pool.obs.shape[2:])
    act = pool.bins[:200, ex].reshape(-1, *pool.bins.shape[2:]).astype(np.int64)
    ln = pool.length[:200, ex].reshape(-1)
    m, s = ref.policy.obs_mean.numpy(), ref.policy.obs_std.numpy()
    expert = PackedResponses.build(obs, act, ln, m, s)
    out = {}
    for label, packed in (("chosen", ref.chosen), ("rejected", ref.rejected), ("expert", expert)):
        base = step_logp(ref.policy, packed)[0]
        new = step_logp(pol, packed)
        out[label] = {n: float((new[i] - base).mean()) for i, n in enumerate(names)}
    x = expert.obs
    with torch.no_grad():
        g0 = ref.policy.logits(x)[0].argmax(-1)
        g1 = pol.logits(x).argmax(-1)
        lp0 = ref.policy.logits(x)[0].log_softmax(-1)
        lp1 = pol.logits(x).log_softmax(-1)
        kl = (lp0.exp() * (lp0 - lp1)).sum(-1).sum(-1).mean(-1)
        dist = (g1 - g0).abs().float().mean((1, 2))
    out["greedy_changed_on_expert_states"] = {
        n: float((g1[i] != g0).any(-1).float().mean()) for i, n in enumerate(names)
    }
    out["mean_bin_distance_of_changed"] = {n: float(dist[i]) for i, n in enumerate(names)}
    out["kl_ref_to_policy_on_expert_states"] = {n: float(kl[i]) for i, n in enumerate(names)}
    es = eval_seeds(5)
    out["score"] = dict(
        zip(names, evaluate(a.env, pol.act_greedy, pol.size, es).normalized.mean(1).tolist(), strict=True)
    )
    out["score"]["sft (pi_ref)"] = float(evaluate(a.env, ref.policy.act_greedy, 1, es).normalized.mean())
    print(json.dumps({"args": vars(a), **out}, indent=1))


if __name__ == "__main__":
    main()
