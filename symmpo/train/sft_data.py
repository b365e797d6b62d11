"""Separate SFT data for π_ref: every response of chosen behaviour levels, from a pool of its own contexts.

Why: in LLM pipelines the SFT model is trained on demonstrations that are not the preference data, and the
preference pairs then hold answers better and worse than it. Cloning the chosen responses of the very pairs PO
trains on (suite v2) leaves preference optimization little to add (``results/explore-validity/``). The SFT
pool is the suite's response pool built with dataset seed ``dataset seed + SFT_POOL_OFFSET``, so its contexts
(reset seeds ``10**6 * (1 + seed) + c``) are disjoint from every preference dataset's and every evaluation reset.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from symmpo.errors import DataError
from symmpo.suite.types import PreferenceDataset, Responses

SFT_POOL_OFFSET = 100


def sft_dataset(
    preference: PreferenceDataset, levels: tuple[str, ...], cache_dir: str | Path | None = None
) -> PreferenceDataset:
    """The SFT data that goes with ``preference``: all responses of ``levels`` (names, e.g. weak, medium) in the
    pool of seed ``preference's dataset seed + SFT_POOL_OFFSET``, built like the preference pool otherwise, as the
    chosen side of a dataset (the rejected side repeats it; behaviour cloning reads the chosen side only)."""
    from symmpo.suite.datasets import DatasetConfig, load_pool

    meta = preference.meta
    if not isinstance(meta.get("config"), dict) or "seed" not in meta:
        raise DataError("separate SFT data needs a suite dataset (its pool configuration); this one has none")
    # the preference pool's configuration (environment, horizon, number of contexts, prompts) on its own seed
    # (labels play no part in SFT data: no judged continuation to roll out)
    cfg = DatasetConfig(
        **{
            **meta["config"],
            "setting": "clean",
            "seed": int(meta["seed"]) + SFT_POOL_OFFSET,
            "label_horizon": None,
        }
    )
    pool, pool_sha = load_pool(cfg, cache_dir)
    unknown = [lv for lv in levels if lv not in pool.levels]
    if unknown:
        raise DataError(
            f"unknown behaviour level(s) {', '.join(unknown)}; {cfg.env} has {', '.join(pool.levels)}"
        )
    keep = np.isin(pool.level[0], [pool.levels.index(lv) for lv in levels])
    obs = pool.obs[:, keep].reshape(-1, *pool.obs.shape[2:])
    bins = pool.bins[:, keep].reshape(-1, *pool.bins.shape[2:]).astype(np.int64)
    length = pool.length[:, keep].reshape(-1)
    ret = pool.ret[:, keep].reshape(-1).astype(np.float32)
    sha = hashlib.sha256(json.dumps({"pool": pool_sha, "levels": list(levels)}).encode()).hexdigest()
    side = Responses(obs, bins, length, ret)
    return PreferenceDataset.from_sides(
        side,
        side,
        context_seed=np.repeat(pool.context_seed, int(keep.sum())),
        meta={
            "K": meta["K"],
            "env": cfg.env,
            "H": cfg.horizon,
            "seed": cfg.seed,
            "levels": list(levels),
            "sha256": sha,
        },
    )
