"""Small fixtures for tests and benchmarks of the trainer: a random preference dataset and hand-written losses.

The random dataset exercises every code path of the trainer (ragged lengths, several action dimensions)
without needing MuJoCo; the hand-written losses are independent of the symbolic core, so a trainer bug and an
objective bug cannot hide each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from symmpo.objective.types import LossArgs
from symmpo.suite.types import PreferenceDataset, Responses


def synthetic_dataset(
    n_pairs: int = 64, horizon: int = 12, obs_dim: int = 6, act_dim: int = 3, n_bins: int = 5, seed: int = 0
) -> PreferenceDataset:
    """Random pairs with ragged lengths; chosen actions lean towards a fixed linear rule so BC learns something."""
    rng = np.random.default_rng(seed)
    proj = rng.normal(size=(obs_dim, act_dim))

    def side(good: bool):
        obs = rng.normal(size=(n_pairs, horizon, obs_dim)).astype(np.float32)
        rule = np.clip(np.round((obs @ proj) + (n_bins - 1) / 2), 0, n_bins - 1).astype(np.int64)
        noise = rng.integers(0, n_bins, size=rule.shape)
        act = np.where(rng.random(rule.shape) < (0.8 if good else 0.2), rule, noise)
        lens = rng.integers(1, horizon + 1, size=n_pairs).astype(np.int64)
        pad = np.arange(horizon)[None, :] >= lens[:, None]
        obs[pad] = 0.0
        act[pad] = 0
        return obs, act, lens

    chosen, rejected = side(True), side(False)
    ret_chosen, ret_rejected = rng.normal(1.0, 0.1, n_pairs), rng.normal(0.0, 0.1, n_pairs)
    return PreferenceDataset.from_sides(
        Responses(*chosen, ret_chosen.astype(np.float32)),
        Responses(*rejected, ret_rejected.astype(np.float32)),
        context_seed=np.arange(n_pairs, dtype=np.int64),
        meta={"task": "synthetic", "K": n_bins, "H": horizon, "setting": "clean", "seed": seed},
    )


class HandDPO:
    """DPO exactly as TRL writes it (sigmoid loss), with an optional SFT term: no symbolic machinery."""

    def __init__(self, beta: float = 0.1, sft_weight: float = 0.0, name: str = "hand_dpo"):
        self.beta, self.sft_weight, self.name = beta, sft_weight, name

    def loss(self, *args: Any, **kwargs: Any) -> Tensor:
        a = LossArgs(*args, **kwargs)
        logits = (a.policy_chosen_logps - a.reference_chosen_logps) - (
            a.policy_rejected_logps - a.reference_rejected_logps
        )
        out = -F.logsigmoid(self.beta * logits)
        if self.sft_weight:
            out = out - self.sft_weight * a.policy_chosen_logps / a.chosen_lengths
        return out


class HandIPO:
    """IPO (length-normalized log-ratios, squared margin loss) — a second, differently shaped loss."""

    def __init__(self, beta: float = 0.1, name: str = "hand_ipo"):
        self.beta, self.name = beta, name

    def loss(self, *args: Any, **kwargs: Any) -> Tensor:
        a = LossArgs(*args, **kwargs)
        z = (a.policy_chosen_logps - a.reference_chosen_logps) / a.chosen_lengths - (
            a.policy_rejected_logps - a.reference_rejected_logps
        ) / a.rejected_lengths
        return (z - 1 / (2 * self.beta)) ** 2


class NaNAfter:
    """A loss that turns NaN once training progress passes ``at`` (exercises the non-finite guard)."""

    def __init__(self, at: float = 0.5, name: str = "nan_after"):
        self.at, self.name, self.inner = at, name, HandDPO()

    def loss(self, *args, progress: float = 0.0, **kw) -> Tensor:
        out = self.inner.loss(*args, progress=progress, **kw)
        return out * torch.tensor(float("nan")) if progress >= self.at else out


class InfGrad:
    """Finite loss, infinite gradient (sqrt at 0): the guard must look at gradients too."""

    name = "inf_grad"

    def loss(self, policy_chosen_logps: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return torch.sqrt((policy_chosen_logps - policy_chosen_logps.detach()) ** 2 * 0)


class Raises:
    """An objective whose call raises: recorded as the reason, never propagated."""

    name = "raises"

    def loss(self, *args, **kw) -> Tensor:
        raise ValueError("bad candidate")


class Constant:
    """A loss that does not depend on the policy at all: trains nothing, must not crash."""

    name = "constant"

    def loss(self, policy_chosen_logps, *args, **kw) -> Tensor:
        return torch.zeros_like(policy_chosen_logps.detach())
