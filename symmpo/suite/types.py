"""The preference-dataset contract shared by the suite (which builds it) and the trainer (which reads it).

Responses are padded to the horizon ``H``; step ``t`` of response ``i`` is real iff ``t < len[i]``.
Actions are bin indices in ``[0, K)`` per action dimension (the discretized action space), so a
response's log-probability under a factorized categorical policy is a true log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

SIDES = ("chosen", "rejected")


class Responses(NamedTuple):
    """One side of a dataset's N pairs (the chosen or the rejected responses)."""

    obs: np.ndarray  # float32 [N, H, obs_dim]
    act: np.ndarray  # int64   [N, H, act_dim], bins in [0, K)
    length: np.ndarray  # int64   [N], 1..H
    ret: np.ndarray  # float32 [N], true return


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

    @classmethod
    def from_sides(
        cls,
        chosen: Responses,
        rejected: Responses,
        context_seed: np.ndarray,
        meta: dict[str, Any],
        flipped: np.ndarray | None = None,
        poor_pair: np.ndarray | None = None,
    ) -> PreferenceDataset:
        """A dataset from its two sides; no label is flipped and no pair is poor unless said."""
        n = len(chosen.length)
        return cls(
            *chosen[:3],
            *rejected[:3],
            chosen.ret,
            rejected.ret,
            np.zeros(n, dtype=bool) if flipped is None else flipped,
            np.zeros(n, dtype=bool) if poor_pair is None else poor_pair,
            context_seed,
            meta,
        )

    def side(self, name: str) -> Responses:
        """The chosen or the rejected responses (``name`` in ``SIDES``)."""
        return Responses(*(getattr(self, f"{field}_{name}") for field in ("obs", "act", "len", "ret")))

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
