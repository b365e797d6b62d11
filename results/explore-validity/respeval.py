"""Response-level evaluation: a policy's 100-step responses at held-out contexts, as an LLM is judged by its
answers to held-out prompts. Contexts are built like the dataset's (expert prompt of random length, or reset),
from reset seeds the datasets never use; the score is 100 (R - R_random) / (R_expert - R_random), with the two
anchors the sampled random and expert behaviour levels on the same contexts."""

from __future__ import annotations

import numpy as np
import torch

from symmpo.suite import datasets as D
from symmpo.suite.behaviour import list_levels, load_behaviour


class Member:
    def __init__(self, pop, i: int, mode: str):
        self.pop, self.i, self.mode = pop, i, mode
        self.act_dim, self.n_bins = pop.spec.act_dim, pop.spec.n_bins

    @torch.no_grad()
    def act(self, obs, noise=None, uniform=None, random_bins=None):
        x = self.pop.normalize(torch.as_tensor(obs, dtype=torch.float32))
        lg = self.pop.select([self.i]).logits(x)[0]
        if self.mode == "greedy":
            return lg.argmax(-1).numpy()
        if self.mode == "mean":
            return (lg.softmax(-1) * torch.arange(self.n_bins)).sum(-1).numpy()
        from scipy.special import ndtr

        p = lg.softmax(-1).numpy()
        u = ndtr(noise)[..., None]
        return np.minimum((p.cumsum(-1) < u).sum(-1), self.n_bins - 1)


def contexts(env: str, n: int, offset: int, horizon: int = 100):
    cfg = D.DatasetConfig(env=env, seed=0, horizon=horizon, samples_per_level=1)
    expert = load_behaviour(env, list_levels(env)[-1])
    seeds = np.arange(offset, offset + n, dtype=np.int64)
    states, plen = D._run_prompts(env, expert, cfg, np.arange(n), seeds)
    return cfg, states, seeds


def rollout(env, policies, cfg, states, samples: int = 1, seed_base: int = 0):
    """Returns [n_contexts, len(policies) * samples]."""
    from dataclasses import replace

    n = len(states)
    cfg = replace(cfg, samples_per_level=samples, seed=seed_base)
    spec = D.get_env_spec(env)
    m = len(policies) * samples
    out = {
        "obs": np.zeros((n, m, cfg.horizon, spec.obs_dim), dtype=np.float32),
        "bins": np.zeros((n, m, cfg.horizon, spec.act_dim), dtype=np.int8),
        "length": np.zeros((n, m), dtype=np.int64),
        "ret": np.zeros((n, m), dtype=np.float64),
    }
    D._run_responses(env, policies, cfg, np.arange(n), states, out, 0)
    return out["ret"], out["length"]


def anchors(env, cfg, states):
    lv = list_levels(env)
    ret, _ = rollout(env, [load_behaviour(env, lv[0]), load_behaviour(env, lv[-1])], cfg, states, samples=2)
    return float(ret[:, :2].mean()), float(ret[:, 2:].mean())


def score(env, pop, mode, cfg, states, anchor):
    r0, r1 = anchor
    ret, length = rollout(env, [Member(pop, i, mode) for i in range(pop.size)], cfg, states)
    return 100 * (ret.mean(0) - r0) / (r1 - r0), ret, length
