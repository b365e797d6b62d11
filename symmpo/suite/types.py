"""The preference-dataset contract shared by the suite (which builds it) and the trainer (which reads it).

Responses are padded to the horizon ``H``; step ``t`` of response ``i`` is real iff ``t < len[i]``.
Actions are bin indices in ``[0, K)`` per action dimension (the discretized action space), so a
response's log-probability under a factorized categorical policy is a true log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PreferenceDataset:
    """Preference pairs ``(x, y+, y-)`` on one task; index 0..N-1 over pairs.

    Attributes ending in ``_chosen`` / ``_rejected`` describe y+ / y- as *labelled* (after any label
    noise), which is what a PO loss sees; ``flipped`` says where the label disagrees with true return.
    """

    obs_chosen: np.ndarray  # float32 [N, H, obs_dim]
    act_chosen: np.ndarray  # int64   [N, H, act_dim], bins in [0, K)
    len_chosen: np.ndarray  # int64   [N], 1..H
    obs_rejected: np.ndarray  # float32 [N, H, obs_dim]
    act_rejected: np.ndarray  # int64   [N, H, act_dim]
    len_rejected: np.ndarray  # int64   [N]
    ret_chosen: np.ndarray  # float32 [N], true return of the chosen response
    ret_rejected: np.ndarray  # float32 [N]
    flipped: np.ndarray  # bool [N], label disagrees with the true-return order
    poor_pair: np.ndarray  # bool [N], both responses come from poor policies (mixed-rho)
    context_seed: np.ndarray  # int64 [N], reset seed of the shared context
    meta: dict[str, Any] = field(default_factory=dict)  # task, env_id, K, H, setting, seed, sha256, ...

    @property
    def n_pairs(self) -> int:
        return int(self.len_chosen.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.obs_chosen.shape[1])

    @property
    def obs_dim(self) -> int:
        return int(self.obs_chosen.shape[2])

    @property
    def act_dim(self) -> int:
        return int(self.act_chosen.shape[2])

    @property
    def n_bins(self) -> int:
        return int(self.meta["K"])
