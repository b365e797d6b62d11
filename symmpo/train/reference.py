"""The reference policy π_ref: behaviour cloning on the chosen responses (or on separate SFT data,
``TrainConfig.sft_levels``), cached on disk.

A search trains thousands of candidates against the same π_ref, so it is trained once per
(dataset sha256, seed, reference config) and its log-probabilities of every dataset response are stored with
it: the PO trainer never runs the reference network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from symmpo.suite.types import SIDES, PreferenceDataset
from symmpo.train.config import TrainConfig
from symmpo.train.policy import (
    PackedResponses,
    PairBatch,
    PolicyPopulation,
    PolicySpec,
    make_batch,
    obs_normalizer,
    response_logps,
)


def default_cache_dir() -> Path:
    """``$SYMMPO_CACHE`` or the suite's default cache directory (the suite owns the location)."""
    from symmpo.suite.datasets import default_cache_dir as suite_default

    return Path(suite_default())


@dataclass
class Reference:
    """π_ref (a population of one), its log-probs of the whole dataset, and the packed dataset itself."""

    policy: PolicyPopulation
    logps_chosen: Tensor  # float32 [N], summed over steps and action dims
    logps_rejected: Tensor  # float32 [N]
    chosen: PackedResponses
    rejected: PackedResponses
    key: str
    bc_loss: float  # final behaviour-cloning NLL per step (a sanity number for reports)


def _key(dataset: PreferenceDataset, seed: int, config: TrainConfig) -> str:
    sha = dataset.meta.get("sha256")
    if not sha:  # synthetic datasets in tests carry no hash: hash the arrays themselves
        h = hashlib.sha256()
        for a in (array for s in SIDES for array in dataset.side(s)[:3]):  # obs, act, length
            h.update(np.ascontiguousarray(a).tobytes())
        sha = h.hexdigest()
    blob = json.dumps({"sha256": sha, "seed": seed, **config.reference_key()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def spec_of(dataset: PreferenceDataset, config: TrainConfig) -> PolicySpec:
    return PolicySpec(dataset.obs_dim, dataset.act_dim, dataset.n_bins, tuple(config.hidden))


def train_bc(dataset: PreferenceDataset, seed: int, config: TrainConfig) -> tuple[PolicyPopulation, float]:
    """Behaviour cloning: Adam on the mean per-step NLL of the chosen responses' actions."""
    mean, std = obs_normalizer(dataset)
    gen = torch.Generator().manual_seed(seed)
    policy = PolicyPopulation.init(spec_of(dataset, config), 1, mean, std, gen)
    chosen = PackedResponses.build(dataset.side("chosen"), mean, std)
    for p in policy.params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(policy.params, lr=config.bc_lr)
    rng = np.random.default_rng(seed)
    n_rows = chosen.obs.shape[0]
    last = float("nan")
    for _ in range(config.bc_steps):
        rows = torch.from_numpy(rng.integers(0, n_rows, size=min(config.bc_batch_steps, n_rows)))
        loss = -policy.step_logps(chosen.obs[rows], chosen.act[rows]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last = float(loss.detach())
    for p in policy.params:
        p.requires_grad_(False)
    return policy, last


def sft_reference(
    dataset: PreferenceDataset, seed: int, config: TrainConfig, cache_dir: str | Path | None, use_cache: bool
) -> tuple[PolicyPopulation, float]:
    """π_ref cloned from the separate SFT data of ``dataset`` (``config.sft_levels``), cached by that data.

    One π_ref serves every setting of an environment and seed (the SFT data does not depend on the pairs), as
    one SFT model serves every preference dataset built on it.
    """
    from symmpo.train.sft_data import sft_dataset

    sft = sft_dataset(dataset, config.sft_levels, cache_dir)
    path = Path(cache_dir or default_cache_dir()) / "reference" / f"sft-{_key(sft, seed, config)}.pt"
    cached = _load(path, spec_of(sft, config)) if use_cache else None
    if cached is not None:
        return cached[0], float(cached[1]["bc_loss"])
    policy, bc_loss = train_bc(sft, seed, config)
    if use_cache:
        _save(path, {**policy.state_dict(), "bc_loss": bc_loss})
    return policy, bc_loss


def _load(path: Path, spec: PolicySpec) -> tuple[PolicyPopulation, dict] | None:
    """A cached π_ref and its whole state, or None when absent, truncated or foreign (then it is retrained)."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, weights_only=True)
        policy = PolicyPopulation.from_state_dict(spec, state)
        float(state["bc_loss"])
    except Exception:
        return None
    return policy, state


def _save(path: Path, state: dict) -> None:
    """Atomic: a concurrent reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def dataset_logps(
    policy: PolicyPopulation, chosen: PackedResponses, rejected: PackedResponses, chunk: int = 256
) -> tuple[Tensor, Tensor]:
    """Summed log-probs of every chosen and rejected response under member 0: two ``[N]``."""
    n = len(chosen.lengths)
    out_c, out_r = [], []
    for start in range(0, n, chunk):
        batch: PairBatch = make_batch(chosen, rejected, np.arange(start, min(n, start + chunk)))
        c, r = response_logps(policy, batch)
        out_c.append(c[0])
        out_r.append(r[0])
    return torch.cat(out_c), torch.cat(out_r)


def get_reference(
    dataset: PreferenceDataset,
    seed: int,
    config: TrainConfig,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> Reference:
    """Load π_ref from the cache or train it (and store it). Safe to call from many processes.

    Where ``config`` names no SFT levels, those of the dataset's suite apply (``meta["sft_levels"]``).
    """
    if not config.sft_levels and dataset.meta.get("sft_levels"):
        config = dataclasses.replace(config, sft_levels=tuple(dataset.meta["sft_levels"]))
    key = _key(dataset, seed, config)
    path = Path(cache_dir or default_cache_dir()) / "reference" / f"{key}.pt"
    cached = _load(path, spec_of(dataset, config)) if use_cache else None
    state = None
    if cached is not None:
        policy, state = cached
        bc_loss = float(state["bc_loss"])
    else:
        policy, bc_loss = (
            sft_reference(dataset, seed, config, cache_dir, use_cache)
            if config.sft_levels
            else train_bc(dataset, seed, config)
        )
    mean, std = policy.obs_mean.numpy(), policy.obs_std.numpy()
    chosen, rejected = (PackedResponses.build(dataset.side(s), mean, std) for s in SIDES)
    if state is not None and state["logps_chosen"].shape[0] == dataset.n_pairs:
        logps_chosen, logps_rejected = state["logps_chosen"], state["logps_rejected"]
    else:
        logps_chosen, logps_rejected = dataset_logps(policy, chosen, rejected)
        if use_cache:
            _save(
                path,
                {
                    **policy.state_dict(),
                    "logps_chosen": logps_chosen,
                    "logps_rejected": logps_rejected,
                    "bc_loss": bc_loss,
                },
            )
    return Reference(policy, logps_chosen, logps_rejected, chosen, rejected, key, bc_loss)
