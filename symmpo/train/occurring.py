"""The log-probabilities that occur in a fitness job: a sketch per trained member, for dead-term pruning.

Pruning (:mod:`symmpo.objective.prune`) judges a term of φ⁻¹ or ψ on the values of log P the loss actually sees:
the dataset's responses under π_ref (where every member starts; ψ's input) and under the member once trained.
Both are read here, where the trained policies exist, and leave the worker as one quantile sketch per member
(77 numbers), half the weight each: π_ref on the whole dataset (its log-probs are cached with it), the trained
member on ``SAMPLE_PAIRS`` evenly spaced pairs (one forward pass, about 2 % of a job's training compute).
Each member's sketch is in its own ``reduce``: summed log-probs, or per-step means. A granularity=token member's
sketch is of what its φ⁻¹ and ψ read, the per-token log-probs (one action dimension of one step), whatever its
reduce: π_ref's and the trained member's on the same ``SAMPLE_PAIRS`` pairs (π_ref's per-token log-probs are not
cached; one forward pass of a single policy), half the weight each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from symmpo.objective.prune import sketch
from symmpo.train.policy import PolicyPopulation, make_batch, response_logps, response_token_logps
from symmpo.train.reference import Reference

SAMPLE_PAIRS = 512


def occurring_sketches(
    policy: PolicyPopulation, reference: Reference, objectives: Sequence[Any], alive: Sequence[bool]
) -> list[list[float] | None]:
    """Per member: the sketch of log P (its reduce) over the dataset under π_ref and under the trained member;
    None for a member whose run died (it never enters a hall of fame)."""
    n = len(reference.chosen.lengths)
    idx = np.unique(np.linspace(0, n - 1, min(n, SAMPLE_PAIRS)).round().astype(np.int64))
    with torch.no_grad():
        pc, pr = response_logps(policy, make_batch(reference.chosen, reference.rejected, idx))
    trained = torch.cat([pc, pr], dim=1).double().numpy()  # [P, 2k]
    sub_len = np.concatenate([reference.chosen.lengths[idx], reference.rejected.lengths[idx]]).clip(min=1)
    ref = torch.cat([reference.logps_chosen, reference.logps_rejected]).double().numpy()
    ref_len = np.concatenate([reference.chosen.lengths, reference.rejected.lengths]).clip(min=1)
    tokens = _token_values(policy, reference, idx) if any(_token(o) for o in objectives) else None
    out: list[list[float] | None] = []
    for i, obj in enumerate(objectives):
        if not alive[i]:
            out.append(None)
            continue
        if tokens is not None and _token(obj):
            a, b = tokens[0], tokens[1][i]
            weights = np.concatenate([np.full(a.size, 0.5 / a.size), np.full(b.size, 0.5 / b.size)])
            out.append(sketch(np.concatenate([a, b]), weights))
            continue
        mean = getattr(obj, "reduce", "sum") == "mean"
        a, b = (ref / ref_len, trained[i] / sub_len) if mean else (ref, trained[i])
        weights = np.concatenate([np.full(a.size, 0.5 / a.size), np.full(b.size, 0.5 / b.size)])
        out.append(sketch(np.concatenate([a, b]), weights))
    return out


def _token(obj: Any) -> bool:
    return getattr(obj, "granularity", "sequence") == "token"


def _token_values(
    policy: PolicyPopulation, reference: Reference, idx: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(π_ref's per-token log-probs, each member's) over the real tokens of pairs ``idx``, chosen and rejected."""
    batch = make_batch(reference.chosen, reference.rejected, idx)
    with torch.no_grad():
        ref = response_token_logps(reference.policy, batch)
        pol = response_token_logps(policy, batch)

    def real(t: Any, member: int) -> np.ndarray:
        parts = []
        for x, lens in ((t.chosen, t.len_chosen), (t.rejected, t.len_rejected)):
            mask = torch.arange(x.shape[-1]) < lens.unsqueeze(-1)
            parts.append(x[member][mask].double().numpy())
        return np.concatenate(parts)

    return real(ref, 0), [real(pol, i) for i in range(policy.size)]
