"""The log-probabilities that occur in a fitness job: a sketch per trained member, for dead-term pruning.

Pruning (:mod:`symmpo.objective.prune`) judges a term of φ⁻¹ or ψ on the values of log P the loss actually sees:
the dataset's responses under π_ref (where every member starts; ψ's input) and under the member once trained.
Both are read here, where the trained policies exist, and leave the worker as one quantile sketch per member
(77 numbers), half the weight each: π_ref on the whole dataset (its log-probs are cached with it), the trained
member on ``SAMPLE_PAIRS`` evenly spaced pairs (one forward pass, about 2 % of a job's training compute).
Each member's sketch is in its own ``reduce``: summed log-probs, or per-step means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from symmpo.objective.prune import sketch
from symmpo.train.policy import PolicyPopulation, make_batch, response_logps
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
    out: list[list[float] | None] = []
    for i, obj in enumerate(objectives):
        if not alive[i]:
            out.append(None)
            continue
        mean = getattr(obj, "reduce", "sum") == "mean"
        a, b = (ref / ref_len, trained[i] / sub_len) if mean else (ref, trained[i])
        weights = np.concatenate([np.full(a.size, 0.5 / a.size), np.full(b.size, 0.5 / b.size)])
        out.append(sketch(np.concatenate([a, b]), weights))
    return out
