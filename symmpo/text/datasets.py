"""Text preference datasets with the MuJoCo suite's pathologies, plus a length bias; cached with a manifest.

Two stages, deterministic from the config and seed, as in :mod:`symmpo.suite.datasets`:

1. **Pool**: P distinct training-split prompts (stream ``[seed, 0]``); every behaviour level writes
   ``samples_per_level`` responses to each (response m of prompt p owns the stream ``[seed, p, 1 + m]``),
   and each response's true reward is stored with it.
2. **Pairs**: pair i uses prompt ``i % P``; one response of a good level (above the ``poor_levels``
   weakest) against any other response of the same prompt. All settings of one seed share these draws and
   differ only in their pathology:

   * ``clean``: the response with the higher true reward is chosen;
   * ``noisy-EPS``: the same uniform draws flip labels with probability EPS (nested in EPS);
   * ``mixed-RHO``: exactly round(RHO N) pairs are replaced by pairs of two poor-level responses (nested);
   * ``length``: whenever the two responses differ in length the *longer* one is chosen, whatever its
     reward; equal-length pairs keep the clean label. Chosen responses are systematically longer and no
     better (``describe`` measures both), the bias of a judge that favours long answers.

Cache layout (``$SYMMPO_CACHE``, default ``~/.cache/symmpo``): ``text/pools/sort-<key>.npz|json`` and
``text/tasks/sort-<setting>-<key>.npz|json``; the key hashes the config, the JSON manifest records the config
and the SHA-256 of the npz bytes, which are byte-identical for the same config (the MuJoCo suite's writer).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import DataError
from symmpo.suite import pathologies
from symmpo.suite.datasets import cached, config_key, default_cache_dir, npz_bytes
from symmpo.text.behaviour import LEVELS, generate
from symmpo.text.task import TaskSpec, distinct_prompts, prompt_text, response_text, reward

FORMAT_VERSION = 1
TASK = "sort"
SETTINGS = ("clean", "noisy-0.2", "mixed-0.5", "length")


def parse_setting(setting: str) -> tuple[str, float | None]:
    """``clean``, ``noisy-EPS``, ``mixed-RHO`` or ``length``: the text suite's settings of the pathology registry."""
    return pathologies.parse_setting(setting, "text", SETTINGS)


def canonical_setting(setting: str) -> str:
    return pathologies.setting_name(*parse_setting(setting))


def task_name(setting: str) -> str:
    """``sort-noisy-0.2``: the column name of a setting in the transfer table."""
    return f"{TASK}-{canonical_setting(setting)}"


def setting_of(task: str) -> str:
    head, sep, setting = task.partition("-")
    if head != TASK or not sep:
        raise DataError(
            f"unknown text task {task!r}; text tasks are {TASK}-SETTING, e.g. {task_name('clean')}"
        )
    return canonical_setting(setting)


@dataclass(frozen=True)
class TextDataConfig:
    """Everything a text dataset depends on."""

    setting: str = "clean"
    seed: int = 0
    n_pairs: int = 2000
    n_prompts: int | None = None  # default ceil(n_pairs / 4): each prompt serves four pairs
    samples_per_level: int = 2
    poor_levels: int = 2  # the weakest levels (random, poor): mixed-RHO pairs two of their responses
    spec: TaskSpec = field(default_factory=TaskSpec)

    def __post_init__(self) -> None:
        parse_setting(self.setting)
        if self.n_pairs < 1 or self.samples_per_level < 1:
            raise DataError(
                f"n_pairs and samples_per_level must be positive, got {self.n_pairs}, {self.samples_per_level}"
            )
        if not 1 <= self.poor_levels < len(LEVELS):
            raise DataError(f"poor_levels must be in [1, {len(LEVELS) - 1}], got {self.poor_levels}")

    @property
    def prompts(self) -> int:
        return self.n_prompts or max(1, math.ceil(self.n_pairs / 4))

    def pool_config(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "task": TASK,
            "seed": self.seed,
            "n_prompts": self.prompts,
            "samples_per_level": self.samples_per_level,
            "levels": [asdict(lv) for lv in LEVELS],
            "spec": asdict(self.spec),
        }

    def task_config(self) -> dict[str, Any]:
        cfg = asdict(self)
        cfg["setting"] = canonical_setting(self.setting)
        cfg["pool"] = self.pool_config()
        return cfg


def build_pool(cfg: TextDataConfig) -> dict[str, np.ndarray]:
    """Prompts, every level's responses and their true rewards (arrays; -1 pads)."""
    spec = cfg.spec
    prompts = distinct_prompts(np.random.default_rng([cfg.seed, 0]), spec, cfg.prompts, "train")
    m_total = len(LEVELS) * cfg.samples_per_level
    p_arr = np.full((len(prompts), spec.max_len), -1, dtype=np.int8)
    r_arr = np.full((len(prompts), m_total, spec.max_response), -1, dtype=np.int8)
    r_len = np.zeros((len(prompts), m_total), dtype=np.int64)
    r_rew = np.zeros((len(prompts), m_total), dtype=np.float64)
    for c, p in enumerate(prompts):
        p_arr[c, : len(p)] = p
        for m in range(m_total):
            y = generate(
                LEVELS[m // cfg.samples_per_level], p, np.random.default_rng([cfg.seed, c, 1 + m]), spec
            )
            r_arr[c, m, : len(y)] = y
            r_len[c, m] = len(y)
            r_rew[c, m] = reward(p, y)
    return {
        "prompt": p_arr,
        "prompt_len": np.array([len(p) for p in prompts], dtype=np.int64),
        "response": r_arr,
        "length": r_len,
        "reward": r_rew,
        "level": np.broadcast_to(np.arange(m_total) // cfg.samples_per_level, r_len.shape).astype(np.int64),
    }


def derive_pairs(pool: dict[str, np.ndarray], cfg: TextDataConfig) -> dict[str, np.ndarray]:
    """Pair indices and labels for ``cfg.setting`` (the cached form of a task)."""
    return pathologies.pairs_for(
        parse_setting(cfg.setting),
        cfg.seed,
        cfg.n_pairs,
        pool["reward"],
        pool["length"],
        cfg.samples_per_level,
        cfg.poor_levels,
    )


@dataclass
class TokenPairs:
    """Preference pairs as TRL reads them (``rows``: prompt, chosen, rejected text) and per-pair arrays for
    statistics: what the text and the language-model suites' datasets share."""

    rows: list[dict[str, str]]
    reward_chosen: np.ndarray
    reward_rejected: np.ndarray
    len_chosen: np.ndarray
    len_rejected: np.ndarray
    flipped: np.ndarray
    poor_pair: np.ndarray
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class TextDataset(TokenPairs):
    """The text suite's pairs, with the behaviour level of each response (for SFT and statistics)."""

    level_chosen: np.ndarray
    level_rejected: np.ndarray


def _tokens(row: np.ndarray) -> list[int]:
    return [int(t) for t in row if t >= 0]


def materialize(
    pool: dict[str, np.ndarray], pairs: dict[str, np.ndarray], meta: dict[str, Any]
) -> TextDataset:
    c, yc, yr = pairs["context"], pairs["chosen"], pairs["rejected"]
    rows = [
        {
            "prompt": prompt_text(_tokens(pool["prompt"][ci])),
            "chosen": response_text(_tokens(pool["response"][ci, a])),
            "rejected": response_text(_tokens(pool["response"][ci, b])),
        }
        for ci, a, b in zip(c, yc, yr, strict=True)
    ]
    return TextDataset(
        rows=rows,
        level_chosen=pool["level"][c, yc],
        level_rejected=pool["level"][c, yr],
        meta=meta,
        **pair_arrays(pool, pairs),
    )


def pair_arrays(pool: dict[str, np.ndarray], pairs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-pair arrays both token-level suites keep beside their rows: true rewards and lengths of the
    chosen and rejected responses, and the pathology's flags."""
    c, yc, yr = pairs["context"], pairs["chosen"], pairs["rejected"]
    return {
        "reward_chosen": pool["reward"][c, yc],
        "reward_rejected": pool["reward"][c, yr],
        "len_chosen": pool["length"][c, yc],
        "len_rejected": pool["length"][c, yr],
        "flipped": pairs["flipped"].astype(bool),
        "poor_pair": pairs["poor_pair"].astype(bool),
    }


def _meta(cfg: TextDataConfig, pool_sha: str, pairs_sha: str) -> dict[str, Any]:
    return {
        "task": task_name(cfg.setting),
        "setting": canonical_setting(cfg.setting),
        "seed": cfg.seed,
        "n_pairs": cfg.n_pairs,
        "levels": [lv.name for lv in LEVELS],
        "pool_sha256": pool_sha,
        "pairs_sha256": pairs_sha,
        "sha256": hashlib.sha256((pool_sha + pairs_sha).encode()).hexdigest(),
        "config": cfg.task_config(),
    }


def build_dataset(cfg: TextDataConfig) -> TextDataset:
    """Build a dataset in memory (no cache); identical to :func:`load_dataset`'s."""
    pool = build_pool(cfg)
    pairs = derive_pairs(pool, cfg)
    pool_sha, pairs_sha = (hashlib.sha256(npz_bytes(x)).hexdigest() for x in (pool, pairs))
    return materialize(pool, pairs, _meta(cfg, pool_sha, pairs_sha))


def load_dataset(cfg: TextDataConfig, cache_dir: Path | str | None = None) -> TextDataset:
    """The cached dataset of ``cfg`` (built on first use; a corrupted or stale entry is rebuilt)."""
    root = Path(cache_dir or default_cache_dir()) / "text"
    pool_cfg = cfg.pool_config()
    pool, pool_sha = cached(
        root / "pools" / f"{TASK}-{config_key(pool_cfg)}", pool_cfg, True, lambda: build_pool(cfg)
    )
    task_cfg = cfg.task_config()
    path = root / "tasks" / f"{task_name(cfg.setting)}-{config_key(task_cfg)}"
    pairs, pairs_sha = cached(path, task_cfg, True, lambda: derive_pairs(pool, cfg))
    return materialize(pool, pairs, _meta(cfg, pool_sha, pairs_sha))


def describe(ds: TokenPairs) -> dict[str, float]:
    """What a setting does to the labels: agreement with the true reward and the chosen-minus-rejected gaps."""
    rc, rr = ds.reward_chosen, ds.reward_rejected
    return {
        "pairs": len(ds),
        "chosen_better": float(np.mean(rc > rr)),
        "tied": float(np.mean(rc == rr)),
        "chosen_worse": float(np.mean(rc < rr)),
        "reward_chosen": float(rc.mean()),
        "reward_rejected": float(rr.mean()),
        "length_gap": float(np.mean(ds.len_chosen - ds.len_rejected)),
        "chosen_longer": float(np.mean(ds.len_chosen > ds.len_rejected)),
    }
