"""Preference datasets with dialled-in pathologies, built from one response pool per environment.

Two stages, both deterministic from their config and seed:

1. **Pool** (the expensive part, cached per env): C contexts. Context c resets the simulator with seed
   ``10**6 * (1 + seed) + c`` and, with probability ``prompt_prob``, runs a *prompt* of 1..``prompt_max`` steps
   with the strongest behaviour policy, so contexts cover the late-episode states a 1000-step evaluation visits.
   From the context's exact physics state, every behaviour level rolls out ``samples_per_level`` sampled
   responses of up to H steps (a fall ends one early). Every response owns its random stream, so the pool does
   not depend on batching.
2. **Task** (cheap): pairs and labels drawn from the pool. All settings of one seed share the same pair draws,
   so they differ only in the pathology: ``clean`` (label = higher return), ``noisy-eps`` (the same uniform draws
   flip labels with probability eps, so noisy-0.1's flips are a subset of noisy-0.2's), ``mixed-rho`` (exactly
   round(rho N) pairs replaced by pairs of two poor responses, nested in rho), ``bt`` (label sampled by
   Bradley-Terry on returns with temperature T).

Cache layout (``$SYMMPO_CACHE``, default ``~/.cache/symmpo``): ``pools/<env>-<key>.npz|json`` and
``tasks/<task>-<key>.npz|json``; the key hashes the config (and the shipped policies' fingerprint), the JSON
manifest records the config and the SHA-256 of the npz bytes. npz files are written with fixed zip timestamps,
so the same config gives identical bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import warnings
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import DataError
from symmpo.suite.behaviour import BehaviourPolicy, assets_fingerprint, list_levels, load_behaviour
from symmpo.suite.cache import default_cache_dir
from symmpo.suite.pathologies import pairs_for, setting_name
from symmpo.suite.sim import batch_sim
from symmpo.suite.tasks import N_BINS, from_bins, get_env_spec, parse_setting, parse_task
from symmpo.suite.types import PreferenceDataset

FORMAT_VERSION = 1
CONTEXT_SEED_BASE = 10**6  # evaluation seeds stay below 10**5, behaviour measurement seeds at 5 * 10**5
DEFAULT_N_PAIRS = 2000
DEFAULT_HORIZON = 100


@dataclass(frozen=True)
class DatasetConfig:
    """Everything a dataset depends on; the trainer and tests build tiny ones on the fly."""

    env: str
    setting: str = "clean"
    n_pairs: int = DEFAULT_N_PAIRS
    horizon: int = DEFAULT_HORIZON
    seed: int = 0
    n_contexts: int | None = None  # default ceil(n_pairs / 4): each context serves four pairs
    prompt_max: int = 900  # longest prompt; 900 + H = 1000 covers the whole evaluation episode
    prompt_prob: float = 0.75  # the other contexts start at reset, where every evaluation starts
    samples_per_level: int = 2
    poor_levels: int = 2  # the weakest levels are "poor" (random, weak): mixed-rho pairs two of them
    bt_temperature: float | None = None  # default: 5% of D4RL's (expert - random) return, scaled to H steps
    # scale of the behaviour policies' sampling noise in responses (1 = as trained, suite v2; < 1: responses
    # closer to each level's greedy behaviour, so a pair differs by the levels' behaviour more than by noise)
    noise_scale: float = 1.0
    # steps over which a response is *judged* (None = horizon): after its H steps, the strongest level continues
    # greedily (deterministic, not part of the response) and its reward counts toward the label, so a label says
    # what the response's actions lead to (a fall it sets up, a speed it builds), not only their first H rewards
    label_horizon: int | None = None

    def __post_init__(self) -> None:
        get_env_spec(self.env)
        parse_setting(self.setting)
        if self.n_pairs < 1 or self.horizon < 1:
            raise DataError(f"n_pairs and horizon must be positive, got {self.n_pairs}, {self.horizon}")
        if not 0.0 <= self.noise_scale <= 10.0:
            raise DataError(f"noise_scale must be in [0, 10], got {self.noise_scale}")
        if self.label_horizon is not None and not self.horizon <= self.label_horizon <= 10_000:
            raise DataError(
                f"label_horizon must be in [horizon={self.horizon}, 10000], got {self.label_horizon}"
            )

    @property
    def contexts(self) -> int:
        return self.n_contexts or max(1, math.ceil(self.n_pairs / 4))

    @property
    def temperature(self) -> float:
        if self.bt_temperature is not None:
            return float(self.bt_temperature)
        spec = get_env_spec(self.env)
        return 0.05 * (spec.ref_expert - spec.ref_random) * self.horizon / 1000.0

    def pool_config(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "env": self.env,
            "horizon": self.horizon,
            "seed": self.seed,
            "n_contexts": self.contexts,
            "prompt_max": self.prompt_max,
            "prompt_prob": self.prompt_prob,
            "samples_per_level": self.samples_per_level,
            "n_bins": N_BINS,
            "levels": list_levels(self.env),
            "policies_sha256": assets_fingerprint(self.env),
            # left out at 1 so that suite-v2 pools keep their cache keys
            **({"noise_scale": self.noise_scale} if self.noise_scale != 1.0 else {}),
            **({"label_horizon": self.label_horizon} if self.label_horizon is not None else {}),
        }

    def task_config(self) -> dict[str, Any]:
        cfg = asdict(self)
        if self.noise_scale == 1.0:  # suite-v2 task files keep their cache keys
            del cfg["noise_scale"]
        if self.label_horizon is None:
            del cfg["label_horizon"]
        cfg["setting"] = _canonical_setting(self.setting)
        cfg["pool"] = self.pool_config()
        return cfg


def _canonical_setting(setting: str) -> str:
    return setting_name(*parse_setting(setting))


def config_key(cfg: dict[str, Any]) -> str:
    """A short stable hash of a config (JSON, sorted keys): the cache entry's name."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------- pool


@dataclass
class ResponsePool:
    """All responses of all contexts: response m of context c comes from level ``m // samples_per_level``."""

    obs: np.ndarray  # float32 [C, M, H, obs_dim]
    bins: np.ndarray  # int8 [C, M, H, act_dim]
    length: np.ndarray  # int64 [C, M]
    ret: np.ndarray  # float64 [C, M]
    level: np.ndarray  # int64 [C, M], rank of the behaviour level (0 = weakest)
    context_seed: np.ndarray  # int64 [C]
    prompt_len: np.ndarray  # int64 [C]
    levels: list[str]

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            k: getattr(self, k)
            for k in ("obs", "bins", "length", "ret", "level", "context_seed", "prompt_len")
        }


def _run_prompts(
    env: str, expert: BehaviourPolicy, cfg: DatasetConfig, contexts: np.ndarray, seeds: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Roll each context's prompt; returns its physics state and realized prompt length."""
    sim = batch_sim(env, len(contexts))
    targets = np.zeros(len(contexts), dtype=np.int64)
    rngs = [np.random.default_rng([cfg.seed, int(c), 0]) for c in contexts]  # one stream per context
    for i, rng in enumerate(rngs):
        if rng.random() < cfg.prompt_prob:
            targets[i] = rng.integers(1, cfg.prompt_max + 1)
    t_max, a_dim = max(int(targets.max()), 1), expert.act_dim
    noise = np.zeros((len(contexts), t_max, a_dim), dtype=np.float32)
    uni = np.ones((len(contexts), t_max))
    rbins = np.zeros((len(contexts), t_max, a_dim), dtype=np.int64)
    for i, rng in enumerate(rngs):
        n = targets[i]
        noise[i, :n], uni[i, :n], rbins[i, :n] = (
            rng.standard_normal((n, a_dim)),
            rng.random(n),
            rng.integers(0, expert.n_bins, (n, a_dim)),
        )
    obs = sim.reset(np.arange(len(contexts)), seeds)
    history: list[list[np.ndarray]] = [[sim.get_state(i)] for i in range(len(contexts))]
    realized = targets.copy()
    active = targets > 0
    t = 0
    while active.any():
        idx = np.flatnonzero(active)
        bins = expert.act(obs[idx], noise[idx, t], uni[idx, t], rbins[idx, t])
        actions = from_bins(bins, expert.n_bins)
        o, _, terminated = sim.step(idx, actions)
        obs[idx] = o
        for j, i in enumerate(idx):
            history[i].append(sim.get_state(i))
            if terminated[j]:  # never start a context in a terminal state: back off to half the prompt
                realized[i] = (t + 1) // 2
                active[i] = False
            elif t + 1 >= targets[i]:
                active[i] = False
        t += 1
    return [history[i][realized[i]] for i in range(len(contexts))], realized


def _run_responses(
    env: str,
    policies: list[BehaviourPolicy],
    cfg: DatasetConfig,
    contexts: np.ndarray,
    states: list[np.ndarray],
    out: dict[str, np.ndarray],
    offset: int,
) -> None:
    """Roll all M responses of the given contexts (each from the context's saved state), writing into ``out``."""
    spec = get_env_spec(env)
    h, spl = cfg.horizon, cfg.samples_per_level
    m_total = len(policies) * spl
    jobs = [(i, m) for i in range(len(contexts)) for m in range(m_total)]
    sim = batch_sim(env, len(jobs))
    noise = np.empty((len(jobs), h, spec.act_dim), dtype=np.float32)
    uni = np.empty((len(jobs), h))
    rbins = np.empty((len(jobs), h, spec.act_dim), dtype=np.int64)
    for j, (i, m) in enumerate(jobs):
        sim.set_state(j, states[i])
        rng = np.random.default_rng([cfg.seed, int(contexts[i]), 1 + m])  # one stream per response
        noise[j], uni[j], rbins[j] = (
            rng.standard_normal((h, spec.act_dim)) * cfg.noise_scale,
            rng.random(h),
            rng.integers(0, N_BINS, (h, spec.act_dim)),
        )
    obs = sim.observe(np.arange(len(jobs)))
    ctx_of = np.array([i for i, _ in jobs])
    m_of = np.array([m for _, m in jobs])
    level_of = m_of // spl
    alive = np.ones(len(jobs), dtype=bool)
    ret = np.zeros(len(jobs), dtype=np.float64)
    for t in range(cfg.label_horizon or h):
        bins = np.zeros((len(jobs), spec.act_dim), dtype=np.int64)
        idx = np.flatnonzero(alive)
        if t >= h:  # the judged continuation: the strongest level, greedy, the same for every response
            bins[idx] = policies[-1].act(obs[idx])
        else:
            for lv, pol in enumerate(policies):
                idx = np.flatnonzero(alive & (level_of == lv))
                if len(idx):
                    bins[idx] = pol.act(obs[idx], noise[idx, t], uni[idx, t], rbins[idx, t])
            idx = np.flatnonzero(alive)
            rows = offset + ctx_of[idx]
            out["obs"][rows, m_of[idx], t] = obs[idx]
            out["bins"][rows, m_of[idx], t] = bins[idx]
            out["length"][rows, m_of[idx]] = t + 1
        o, r, terminated = sim.step(idx, from_bins(bins[idx]))
        obs[idx] = o
        ret[idx] += r
        alive[idx[terminated]] = False
        if not alive.any():
            break
    for j, (i, m) in enumerate(jobs):
        out["ret"][offset + i, m] = ret[j]


def build_pool(cfg: DatasetConfig, progress: bool = False, chunk: int = 64) -> ResponsePool:
    """Roll out the response pool of ``cfg`` (no caching)."""
    levels = list_levels(cfg.env)
    if len(levels) <= cfg.poor_levels:
        raise DataError(
            f"{cfg.env}: {len(levels)} behaviour levels shipped, need more than {cfg.poor_levels}; "
            f"export them: python -m symmpo.suite.export_behaviour --env {cfg.env}"
        )
    policies = [load_behaviour(cfg.env, lv) for lv in levels]
    spec = get_env_spec(cfg.env)
    c_total, m_total, h = cfg.contexts, len(levels) * cfg.samples_per_level, cfg.horizon
    out = {
        "obs": np.zeros((c_total, m_total, h, spec.obs_dim), dtype=np.float32),
        "bins": np.zeros((c_total, m_total, h, spec.act_dim), dtype=np.int8),
        "length": np.zeros((c_total, m_total), dtype=np.int64),
        "ret": np.zeros((c_total, m_total), dtype=np.float64),
    }
    context_seed = CONTEXT_SEED_BASE * (1 + cfg.seed) + np.arange(c_total, dtype=np.int64)
    prompt_len = np.zeros(c_total, dtype=np.int64)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=c_total, desc=f"{cfg.env} pool (H={h})", unit="ctx")
    for start in range(0, c_total, chunk):
        contexts = np.arange(start, min(start + chunk, c_total))
        states, prompt_len[contexts] = _run_prompts(
            cfg.env, policies[-1], cfg, contexts, context_seed[contexts]
        )
        _run_responses(cfg.env, policies, cfg, contexts, states, out, start)
        if bar is not None:
            bar.update(len(contexts))
    if bar is not None:
        bar.close()
    level = np.broadcast_to(np.arange(m_total) // cfg.samples_per_level, (c_total, m_total)).astype(np.int64)
    return ResponsePool(
        out["obs"], out["bins"], out["length"], out["ret"], level, context_seed, prompt_len, levels
    )


# ---------------------------------------------------------------------------------------------------- labels


def derive_pairs(pool: ResponsePool, cfg: DatasetConfig) -> dict[str, np.ndarray]:
    """Pair indices and labels for ``cfg.setting``: small arrays, the cached form of a task."""
    return pairs_for(
        parse_setting(cfg.setting),
        cfg.seed,
        cfg.n_pairs,
        pool.ret,
        pool.length,
        cfg.samples_per_level,
        cfg.poor_levels,
        temperature=cfg.temperature,
    )


def materialize(pool: ResponsePool, pairs: dict[str, np.ndarray], meta: dict[str, Any]) -> PreferenceDataset:
    c, yc, yr = pairs["context"], pairs["chosen"], pairs["rejected"]
    meta = dict(meta)
    meta["level_chosen"] = pool.level[c, yc]
    meta["level_rejected"] = pool.level[c, yr]
    meta["prompt_len"] = pool.prompt_len[c]
    return PreferenceDataset(
        obs_chosen=pool.obs[c, yc],
        act_chosen=pool.bins[c, yc].astype(np.int64),
        len_chosen=pool.length[c, yc],
        obs_rejected=pool.obs[c, yr],
        act_rejected=pool.bins[c, yr].astype(np.int64),
        len_rejected=pool.length[c, yr],
        ret_chosen=pool.ret[c, yc].astype(np.float32),
        ret_rejected=pool.ret[c, yr].astype(np.float32),
        flipped=pairs["flipped"].astype(bool),
        poor_pair=pairs["poor_pair"].astype(bool),
        context_seed=pool.context_seed[c],
        meta=meta,
    )


def _meta(cfg: DatasetConfig, pool: ResponsePool, pool_sha: str, pairs_sha: str) -> dict[str, Any]:
    spec = get_env_spec(cfg.env)
    setting = _canonical_setting(cfg.setting)
    return {
        "task": f"{cfg.env}-{setting}",
        "env": cfg.env,
        "env_id": spec.env_id,
        "K": N_BINS,
        "H": cfg.horizon,
        "setting": setting,
        "seed": cfg.seed,
        "n_pairs": cfg.n_pairs,
        "levels": pool.levels,
        "poor_levels": pool.levels[: cfg.poor_levels],
        "bt_temperature": cfg.temperature,
        "pool_sha256": pool_sha,
        "pairs_sha256": pairs_sha,
        "sha256": hashlib.sha256((pool_sha + pairs_sha).encode()).hexdigest(),
        "config": asdict(cfg),
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """npz with fixed zip timestamps: identical arrays give identical bytes (np.savez stamps the clock)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return buf.getvalue()


def build_dataset(cfg: DatasetConfig, progress: bool = False) -> PreferenceDataset:
    """Build a dataset in memory (no cache): what tests and quick experiments use."""
    pool = build_pool(cfg, progress=progress)
    pairs = derive_pairs(pool, cfg)
    pool_sha = hashlib.sha256(npz_bytes(pool.arrays())).hexdigest()
    pairs_sha = hashlib.sha256(npz_bytes(pairs)).hexdigest()
    return materialize(pool, pairs, _meta(cfg, pool, pool_sha, pairs_sha))


# ---------------------------------------------------------------------------------------------------- cache


def _suffixed(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)  # not with_suffix: "noisy-0.2-<key>" contains a dot


def _write_entry(path: Path, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> str:
    data = npz_bytes(arrays)
    sha = hashlib.sha256(data).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, payload in (
        (_suffixed(path, ".npz"), data),
        (
            _suffixed(path, ".json"),
            (json.dumps({"sha256": sha, "config": config}, indent=1, sort_keys=True) + "\n").encode(),
        ),
    ):
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        tmp.write_bytes(payload)
        os.replace(tmp, target)  # atomic: a killed build never leaves a half-written entry
    return sha


def _read_entry(path: Path, config: dict[str, Any]) -> tuple[dict[str, np.ndarray], str] | None:
    """Arrays and sha of a valid entry; None if absent; DataError if corrupted or stale."""
    npz, manifest = _suffixed(path, ".npz"), _suffixed(path, ".json")
    if not npz.exists() and not manifest.exists():
        return None
    try:
        info = json.loads(manifest.read_text())
        data = npz.read_bytes()
    except (OSError, ValueError) as err:
        raise DataError(f"corrupted cache entry {npz}: {err}") from None
    sha = hashlib.sha256(data).hexdigest()
    if info.get("sha256") != sha:
        raise DataError(
            f"corrupted cache entry {npz}: SHA-256 {sha[:12]}... != manifest {str(info.get('sha256'))[:12]}..."
        )
    if info.get("config") != json.loads(json.dumps(config)):
        raise DataError(f"stale cache entry {npz}: built from a different config")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}, sha


def cached(path: Path, config: dict[str, Any], build: bool, make) -> tuple[dict[str, np.ndarray], str]:
    """The cache entry at ``path`` built from ``config`` (arrays, sha256), else ``make()``'s arrays written
    there when ``build``; a stale or missing entry is a DataError otherwise."""
    try:
        entry = _read_entry(path, config)
    except DataError as err:
        if not build:
            raise DataError(f"{err}; rebuild with `symmpo data build` or delete it") from None
        warnings.warn(f"{err}; rebuilding", stacklevel=3)
        entry = None
    if entry is not None:
        return entry
    if not build:
        raise DataError(f"{path.name} is not built; run `symmpo data build`")
    arrays = make()
    return arrays, _write_entry(path, arrays, config)


def load_pool(
    cfg: DatasetConfig, cache_dir: Path | str | None = None, build: bool = True, progress: bool = False
) -> tuple[ResponsePool, str]:
    config = cfg.pool_config()
    path = Path(cache_dir or default_cache_dir()) / "pools" / f"{cfg.env}-{config_key(config)}"
    arrays, sha = cached(path, config, build, lambda: build_pool(cfg, progress=progress).arrays())
    return ResponsePool(levels=config["levels"], **arrays), sha


def load_dataset(
    cfg: DatasetConfig, cache_dir: Path | str | None = None, build: bool = True, progress: bool = False
) -> PreferenceDataset:
    """Cached counterpart of :func:`build_dataset` (identical arrays)."""
    pool, pool_sha = load_pool(cfg, cache_dir, build, progress)
    config = cfg.task_config()
    name = f"{cfg.env}-{_canonical_setting(cfg.setting)}"
    path = Path(cache_dir or default_cache_dir()) / "tasks" / f"{name}-{config_key(config)}"
    pairs, pairs_sha = cached(path, config, build, lambda: derive_pairs(pool, cfg))
    return materialize(pool, pairs, _meta(cfg, pool, pool_sha, pairs_sha))


def task_config(name: str, *, seed: int = 0, n_pairs: int | None = None, **overrides: Any) -> DatasetConfig:
    """The dataset configuration a task name selects: its environment, setting and suite's design."""
    from symmpo.suite.suites import design

    task = parse_task(name)
    d = design(task.suite, task.env)
    cfg = DatasetConfig(
        env=task.env,
        setting=task.setting,
        seed=seed,
        n_pairs=n_pairs or DEFAULT_N_PAIRS,
        horizon=d.horizon,
        label_horizon=d.label_horizon,
    )
    return replace(cfg, **overrides) if overrides else cfg


def load_task(
    name: str,
    *,
    cache_dir: Path | str | None = None,
    seed: int = 0,
    n_pairs: int | None = None,
    build: bool = True,
    progress: bool = False,
    **overrides: Any,
) -> PreferenceDataset:
    """The trainer's entry point: ``load_task("hopper-noisy-0.2")`` (built and cached on first use).

    The dataset's ``meta`` names its suite and, where the suite clones π_ref from separate SFT data, the
    behaviour levels of that data (``sft_levels``), which the reference reads when the training configuration
    names none.
    """
    from symmpo.suite.suites import design

    spec = parse_task(name)
    ds = load_dataset(task_config(name, seed=seed, n_pairs=n_pairs, **overrides), cache_dir, build, progress)
    levels = design(spec.suite, spec.env).sft_levels
    extra = {"task": spec.name, "suite": spec.suite, **({"sft_levels": list(levels)} if levels else {})}
    return replace(ds, meta={**ds.meta, **extra})
