"""How far preference optimization moved a policy from π_ref, on states it was not trained on.

A loss that leaves the greedy policy unchanged cannot be ranked by its return: every such loss scores exactly
π_ref's score. So every fitness configuration is reported with two distances, measured on the states of a
held-out dataset (another dataset seed: contexts and responses the training never saw):

* ``kl``: mean over states of KL(π_θ(·|s) ‖ π_ref(·|s)), summed over the action dimensions (nats);
* ``greedy_changed``: the fraction of states where the greedy action (any dimension) differs from π_ref's;
  ``greedy_changed_dim``: the same per action dimension.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from symmpo.suite.types import PreferenceDataset
from symmpo.train.policy import PolicyPopulation, real_observations


def held_out_states(dataset: PreferenceDataset, n: int = 4096, seed: int = 0) -> np.ndarray:
    """Up to ``n`` raw observations drawn (fixed seed) from every real step of both sides of ``dataset``."""
    rows = real_observations(dataset)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
    return np.ascontiguousarray(rows[np.sort(idx)], dtype=np.float32)


@torch.no_grad()
def policy_shift(
    policy: PolicyPopulation, reference: PolicyPopulation, states: np.ndarray
) -> list[dict[str, Any]]:
    """Per member of ``policy``: ``kl``, ``greedy_changed``, ``greedy_changed_dim`` against ``reference`` (P=1)."""
    x_ref = reference.normalize(torch.as_tensor(states))
    ref_logp = torch.log_softmax(reference.logits(x_ref)[0], dim=-1)  # [M, A, K]
    x = policy.normalize(torch.as_tensor(states))
    logp = torch.log_softmax(policy.logits(x), dim=-1)  # [P, M, A, K]
    kl = (logp.exp() * (logp - ref_logp)).sum(-1).sum(-1)  # [P, M]
    changed = logp.argmax(-1) != ref_logp.argmax(-1)  # [P, M, A]
    return [
        {
            "kl": float(kl[i].mean()),
            "greedy_changed": float(changed[i].any(-1).float().mean()),
            "greedy_changed_dim": float(changed[i].float().mean()),
        }
        for i in range(policy.size)
    ]
