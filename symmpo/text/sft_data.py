"""Separate SFT data for the text suite's π_ref: responses of chosen behaviour levels on prompts of their own.

Why: cloning the chosen responses of the very pairs PO trains on leaves preference optimization little to add
(``results/explore-text-reference/``); in LLM pipelines, and in MuJoCo suite v3 (:mod:`symmpo.train.sft_data`),
the SFT demonstrations are not the preference data. Here they are ``n_pairs`` responses, as many as the
preference pairs, on as many distinct training-split prompts as the preference pool has (``prompts``), none of
which is a preference prompt of the same dataset seed: prompt ``c`` comes from the stream
``[seed, SFT_STREAM]`` (preference prompts are redrawn from it), response ``i`` answers prompt ``i % P`` with
level ``levels[(i // P) % len(levels)]`` (the levels alternate on each prompt) and owns the stream
``[seed, SFT_STREAM, 1 + i]``. Labels play no part, so every setting of one dataset seed shares these data
(and its π_ref). Cached like the datasets: ``text/sft/sort-<key>.npz|json``, content-hashed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import DataError
from symmpo.suite.datasets import cached, config_key, default_cache_dir, npz_bytes
from symmpo.text.behaviour import LEVELS, generate
from symmpo.text.datasets import TASK, TextDataConfig
from symmpo.text.task import distinct_prompts, draw_prompt, prompt_text, response_text, reward

FORMAT_VERSION = 1
SFT_STREAM = 5_000_003  # never a pool or pair stream of symmpo.text.datasets ([seed, 0], [seed, c, 1 + m], [seed, 10x])


def check_levels(levels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The level names in the suite's order, each once; an unknown name is a one-line DataError."""
    names = [lv.name for lv in LEVELS]
    unknown = [lv for lv in levels if lv not in names]
    if unknown:
        raise DataError(
            f"unknown behaviour level(s) {', '.join(map(repr, unknown))}; the sorting suite has {', '.join(names)}"
        )
    return tuple(n for n in names if n in levels)


def preference_prompts(data: TextDataConfig) -> set[tuple[int, ...]]:
    """The prompts of ``data``'s pool (drawn as :func:`symmpo.text.datasets.build_pool` draws them)."""
    rng = np.random.default_rng([data.seed, 0])
    return set(distinct_prompts(rng, data.spec, data.prompts, "train"))


def sft_config(data: TextDataConfig, levels: tuple[str, ...]) -> dict[str, Any]:
    """What the SFT data depend on: the preference pool (its prompts are excluded) and the levels."""
    chosen = check_levels(levels)
    return {
        "version": FORMAT_VERSION,
        "task": f"{TASK}-sft",
        "n": data.n_pairs,
        "levels": [asdict(lv) for lv in LEVELS if lv.name in chosen],
        "exclude_pool": data.pool_config(),
    }


def build_sft(data: TextDataConfig, levels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Prompts, responses, their levels (indices into ``LEVELS``) and true rewards (arrays; -1 pads)."""
    chosen = check_levels(levels)
    if not chosen:
        raise DataError("separate SFT data needs at least one behaviour level")
    spec, n, p_count = data.spec, data.n_pairs, data.prompts
    exclude = preference_prompts(data)
    rng = np.random.default_rng([data.seed, SFT_STREAM])
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < p_count:
        p = draw_prompt(rng, spec, "train")
        if p not in exclude:
            seen.setdefault(p)
    prompts = list(seen)
    index = [i for i, lv in enumerate(LEVELS) if lv.name in chosen]
    p_arr = np.full((p_count, spec.max_len), -1, dtype=np.int8)
    for c, p in enumerate(prompts):
        p_arr[c, : len(p)] = p
    r_arr = np.full((n, spec.max_response), -1, dtype=np.int8)
    r_len, r_lev = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    r_rew = np.zeros(n, dtype=np.float64)
    for i in range(n):
        c, lv = i % p_count, index[(i // p_count) % len(index)]
        y = generate(LEVELS[lv], prompts[c], np.random.default_rng([data.seed, SFT_STREAM, 1 + i]), spec)
        r_arr[i, : len(y)] = y
        r_len[i], r_lev[i], r_rew[i] = len(y), lv, reward(prompts[c], y)
    return {
        "prompt": p_arr,
        "prompt_len": np.array([len(p) for p in prompts], dtype=np.int64),
        "context": np.arange(n, dtype=np.int64) % p_count,
        "response": r_arr,
        "length": r_len,
        "level": r_lev,
        "reward": r_rew,
    }


@dataclass
class SFTData:
    """SFT rows as :func:`symmpo.text.lm.train_sft` reads them (prompt, chosen) and their content hash."""

    rows: list[dict[str, str]]
    reward: np.ndarray
    level: np.ndarray
    sha256: str

    def __len__(self) -> int:
        return len(self.rows)


def materialize(arrays: dict[str, np.ndarray], sha: str) -> SFTData:
    def tokens(row: np.ndarray) -> list[int]:
        return [int(t) for t in row if t >= 0]

    rows = [
        {
            "prompt": prompt_text(tokens(arrays["prompt"][c])),
            "chosen": response_text(tokens(arrays["response"][i])),
        }
        for i, c in enumerate(arrays["context"])
    ]
    return SFTData(rows=rows, reward=arrays["reward"], level=arrays["level"], sha256=sha)


def build_sft_data(data: TextDataConfig, levels: tuple[str, ...]) -> SFTData:
    """In memory (no cache); identical to :func:`load_sft_data`'s."""
    import hashlib

    arrays = build_sft(data, levels)
    return materialize(arrays, hashlib.sha256(npz_bytes(arrays)).hexdigest())


def load_sft_data(
    data: TextDataConfig, levels: tuple[str, ...], cache_dir: Path | str | None = None
) -> SFTData:
    """The cached SFT data of ``data``'s dataset seed and pool (built on first use; stale entries rebuilt)."""
    config = sft_config(data, levels)
    path = Path(cache_dir or default_cache_dir()) / "text" / "sft" / f"{TASK}-{config_key(config)}"
    arrays, sha = cached(path, config, True, lambda: build_sft(data, levels))
    return materialize(arrays, sha)
