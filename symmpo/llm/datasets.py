"""On-policy preference data, as LLM practitioners build it, with the suites' label pathologies; cached.

Two stages, deterministic from the config and seed (:mod:`symmpo.text.datasets` does the same for the tiny
sorting suite):

1. **Pool** (the expensive part: generation): P distinct *train*-split prompts of a task (stream
   ``[seed, 0]``); the instruct model samples K responses to each (ancestral sampling at ``temperature``,
   generation batch b drawing from the stream ``(seed, b)``), and the task's true reward scores each. Within
   a prompt the K responses are stored ranked by reward (ascending, sampling order breaking ties), so that
   rank plays the part of the suites' behaviour level: the lower ``K // 2`` ranks are the *poor* responses.
2. **Pairs** (cheap): only *informative* prompts (whose K rewards are not all equal) give pairs; pair i uses
   informative prompt ``i % P'`` and is drawn by the suites' :func:`symmpo.suite.pathologies.draw_pairs` (one
   response of the upper half against any other response of the prompt) and labelled by
   :func:`symmpo.suite.pathologies.label_pairs`, so every setting of one seed shares the draws:

   * ``clean``: the response with the higher true reward is chosen (a tie keeps the pair's first draw, an upper-half response);
   * ``noisy-EPS``: the same uniform draws flip labels with probability EPS (nested in EPS);
   * ``mixed-RHO``: exactly round(RHO N) pairs are replaced by pairs of two lower-half responses;
   * ``length``: whenever the two responses differ in length (tokens) the longer one is chosen, whatever its
     reward; equal lengths keep the clean label (a judge that favours long answers).

Cache layout (``$SYMMPO_CACHE``): ``llm/pools/<task>-<key>.npz|json`` and
``llm/tasks/<task>-<setting>-<key>.npz|json``; the key hashes the config (the GGUF file's SHA-256, the
generation settings and the device included), the JSON manifest records the config and the SHA-256 of the npz
bytes (the suites' writer: identical arrays give identical bytes).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import DataError
from symmpo.llm.files import GGUF_SHA256
from symmpo.llm.tasks import draw_keys, get_task
from symmpo.suite.datasets import cached, config_key, default_cache_dir, npz_bytes
from symmpo.suite.pathologies import pairs_for
from symmpo.text.datasets import TokenPairs, canonical_setting, pair_arrays, parse_setting

FORMAT_VERSION = 1
SETTINGS = ("clean", "noisy-0.2", "mixed-0.5", "length")


@dataclass(frozen=True)
class LLMDataConfig:
    """Everything an on-policy dataset depends on (model, prompts, sampling, pairs, pathology)."""

    task: str = "sort"
    setting: str = "clean"
    seed: int = 0
    n_prompts: int = 64  # train prompts in the pool
    samples: int = 4  # responses sampled per prompt (K)
    n_pairs: int | None = None  # default: n_prompts * samples // 2
    # 0.7: at 1.0 the 135M model's samples are mostly noise (sort: mean reward 0.11, best of 4 0.28, below its
    # greedy 0.33); at 0.7 the best of 4 (0.43) beats greedy, so chosen responses can teach it something
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 32
    batch_size: int = (
        16  # prompts per generation batch: sampling streams are per batch, so it is part of the key
    )
    device: str = "cpu"  # sampling on another device draws other numbers: part of the key too

    def __post_init__(self) -> None:
        get_task(self.task)
        parse_setting(self.setting)
        if self.n_prompts < 1 or self.samples < 2 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise DataError(
                "n_prompts, max_new_tokens and batch_size must be positive and samples at least 2"
            )
        if self.n_pairs is not None and self.n_pairs < 1:
            raise DataError(f"n_pairs must be positive, got {self.n_pairs}")
        if not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise DataError(f"need temperature > 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")

    @property
    def pairs(self) -> int:
        return self.n_pairs or max(1, self.n_prompts * self.samples // 2)

    def pool_config(self) -> dict[str, Any]:
        cfg = asdict(self)
        for k in ("setting", "n_pairs"):
            del cfg[k]
        return {"version": FORMAT_VERSION, "model_gguf_sha256": GGUF_SHA256, **cfg}

    def task_config(self) -> dict[str, Any]:
        cfg = asdict(self)
        cfg["setting"] = canonical_setting(self.setting)
        cfg["n_pairs"] = self.pairs
        cfg["pool"] = self.pool_config()
        return cfg

    @property
    def name(self) -> str:
        """``sort-mixed-0.5``: the dataset's task and setting."""
        return f"{self.task}-{canonical_setting(self.setting)}"


def build_pool(cfg: LLMDataConfig, model: Any = None, tokenizer: Any = None) -> dict[str, np.ndarray]:
    """Sample and score the pool (loads the model when not given); responses ranked by reward per prompt."""
    from symmpo.llm.chat import chat_prompt
    from symmpo.llm.generate import generate

    if model is None or tokenizer is None:
        from symmpo.llm.model import load_model, load_tokenizer

        tokenizer, model = load_tokenizer(), load_model(device=cfg.device)
    task = get_task(cfg.task)
    keys = draw_keys(task, "train", cfg.n_prompts, np.random.default_rng([cfg.seed, 0]))
    prompts = [chat_prompt(tokenizer, task.message(k)) for k in keys]
    outs = generate(
        model,
        tokenizer,
        prompts,
        max_new_tokens=cfg.max_new_tokens,
        sample=True,
        num_samples=cfg.samples,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
    )
    p, k = len(keys), cfg.samples
    reward = np.array(
        [[task.reward(key, g.text) for g in gens] for key, gens in zip(keys, outs, strict=True)]
    )
    order = np.lexsort((np.broadcast_to(np.arange(k), (p, k)), reward), axis=-1)  # by reward, then sampling
    tokens = np.full((p, k, cfg.max_new_tokens), -1, dtype=np.int32)
    length = np.zeros((p, k), dtype=np.int64)
    finished = np.zeros((p, k), dtype=bool)
    text = np.empty((p, k), dtype=object)
    for i, gens in enumerate(outs):
        for rank, m in enumerate(order[i]):
            g = gens[m]
            tokens[i, rank, : len(g.tokens)] = g.tokens
            length[i, rank], finished[i, rank], text[i, rank] = len(g.tokens), g.finished, g.text
    return {
        "key": np.array(keys, dtype=np.int64),
        "prompt": np.array(prompts, dtype=str),
        "text": text.astype(str),
        "tokens": tokens,
        "length": length,
        "finished": finished,
        "reward": np.take_along_axis(reward, order, axis=-1),
        "sample_index": order.astype(np.int64),
    }


def informative(pool: dict[str, np.ndarray]) -> np.ndarray:
    """Indices of the prompts whose sampled responses do not all score the same (the others teach nothing)."""
    r = pool["reward"]
    return np.flatnonzero(r.max(axis=1) > r.min(axis=1))


def derive_pairs(pool: dict[str, np.ndarray], cfg: LLMDataConfig) -> dict[str, np.ndarray]:
    """Pair indices (into the pool) and labels for ``cfg.setting``: the cached form of a dataset."""
    setting = parse_setting(cfg.setting)
    useful = informative(pool)
    if len(useful) == 0:
        raise DataError(
            f"{cfg.name}: every prompt's {cfg.samples} samples score the same; no pair is informative"
        )
    k = pool["reward"].shape[1]  # one response a level; the lower half are the poor ones
    return pairs_for(setting, cfg.seed, cfg.pairs, pool["reward"], pool["length"], 1, k // 2, rows=useful)


@dataclass
class LLMDataset(TokenPairs):
    """The language-model suite's pairs (``rows``: chat-rendered prompt, chosen, rejected)."""


def materialize(
    pool: dict[str, np.ndarray], pairs: dict[str, np.ndarray], meta: dict[str, Any]
) -> LLMDataset:
    c, yc, yr = pairs["context"], pairs["chosen"], pairs["rejected"]
    rows = [
        {
            "prompt": str(pool["prompt"][i]),
            "chosen": str(pool["text"][i, a]),
            "rejected": str(pool["text"][i, b]),
        }
        for i, a, b in zip(c, yc, yr, strict=True)
    ]
    return LLMDataset(rows=rows, meta=meta, **pair_arrays(pool, pairs))


def _meta(cfg: LLMDataConfig, pool: dict[str, np.ndarray], pool_sha: str, pairs_sha: str) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "seed": cfg.seed,
        "n_pairs": cfg.pairs,
        "informative_prompts": int(len(informative(pool))),
        "sample_reward": float(pool["reward"].mean()),
        "best_sample_reward": float(pool["reward"].max(axis=1).mean()),  # best of K, per prompt
        "pool_sha256": pool_sha,
        "pairs_sha256": pairs_sha,
        "sha256": hashlib.sha256((pool_sha + pairs_sha).encode()).hexdigest(),
        "config": cfg.task_config(),
    }


def build_dataset(cfg: LLMDataConfig, model: Any = None, tokenizer: Any = None) -> LLMDataset:
    """Build a dataset in memory (no cache); identical to :func:`load_dataset`'s."""
    pool = build_pool(cfg, model, tokenizer)
    pairs = derive_pairs(pool, cfg)
    pool_sha, pairs_sha = (hashlib.sha256(npz_bytes(x)).hexdigest() for x in (pool, pairs))
    return materialize(pool, pairs, _meta(cfg, pool, pool_sha, pairs_sha))


def load_dataset(
    cfg: LLMDataConfig, cache_dir: Path | str | None = None, model: Any = None, tokenizer: Any = None
) -> LLMDataset:
    """The cached dataset of ``cfg``: the pool is generated on first use (with ``model``/``tokenizer`` when
    given, else loaded), every setting of the same pool reuses it."""
    root = Path(cache_dir or default_cache_dir()) / "llm"
    pool_cfg = cfg.pool_config()
    pool, pool_sha = cached(
        root / "pools" / f"{cfg.task}-{config_key(pool_cfg)}",
        pool_cfg,
        True,
        lambda: build_pool(cfg, model, tokenizer),
    )
    task_cfg = cfg.task_config()
    pairs, pairs_sha = cached(
        root / "tasks" / f"{cfg.name}-{config_key(task_cfg)}", task_cfg, True, lambda: derive_pairs(pool, cfg)
    )
    return materialize(pool, pairs, _meta(cfg, pool, pool_sha, pairs_sha))


def describe(ds: LLMDataset) -> dict[str, float]:
    """What a setting does to the labels: the text suite's summary, plus the realized flips and poor pairs."""
    from symmpo.text.datasets import describe as describe_text

    return {
        **describe_text(ds),
        "flipped": float(np.mean(ds.flipped)),
        "poor_pairs": float(np.mean(ds.poor_pair)),
    }
