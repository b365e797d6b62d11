"""Preference datasets: determinism, label pathologies at their dialled-in rates, cache integrity."""

import json
import warnings

import numpy as np
import pytest
import torch

from symmpo.errors import DataError
from symmpo.suite.datasets import (
    CONTEXT_SEED_BASE,
    DatasetConfig,
    ResponsePool,
    build_dataset,
    derive_pairs,
    load_dataset,
    load_task,
)

TINY = dict(env="hopper", n_pairs=16, horizon=20, seed=0, prompt_max=40)
FIELDS = [
    "obs_chosen",
    "act_chosen",
    "len_chosen",
    "obs_rejected",
    "act_rejected",
    "len_rejected",
    "ret_chosen",
    "ret_rejected",
    "flipped",
    "poor_pair",
    "context_seed",
]

torch.set_num_threads(1)  # the suite runs single-threaded (shared 2-core machines)


def _equal(a, b):
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS)


@pytest.fixture(scope="module")
def tiny():
    return build_dataset(DatasetConfig(**TINY, setting="noisy-0.2"))


def test_shapes_and_shared_context(tiny):
    ds = tiny
    assert ds.obs_chosen.shape == (16, 20, 11) and ds.act_chosen.shape == (16, 20, 3)
    assert ds.act_chosen.dtype == np.int64 and ds.act_chosen.min() >= 0 and ds.act_chosen.max() < ds.n_bins
    assert ((1 <= ds.len_chosen) & (ds.len_chosen <= 20)).all()
    np.testing.assert_array_equal(ds.obs_chosen[:, 0], ds.obs_rejected[:, 0])  # same start state
    for i in range(ds.n_pairs):  # padding after the end
        assert not ds.obs_chosen[i, ds.len_chosen[i] :].any()
    assert (ds.context_seed >= CONTEXT_SEED_BASE).all()  # disjoint from evaluation seeds (< 10**5)
    assert ds.meta["task"] == "hopper-noisy-0.2" and ds.meta["K"] == 11 and ds.meta["H"] == 20


def test_same_seed_identical_bytes(tiny, tmp_path):
    again = build_dataset(DatasetConfig(**TINY, setting="noisy-0.2"))
    assert _equal(tiny, again) and tiny.meta["sha256"] == again.meta["sha256"]
    a = load_dataset(DatasetConfig(**TINY, setting="noisy-0.2"), cache_dir=tmp_path / "a")
    b = load_dataset(DatasetConfig(**TINY, setting="noisy-0.2"), cache_dir=tmp_path / "b")
    assert _equal(a, tiny) and _equal(a, b)
    for sub in ("pools", "tasks"):
        fa = sorted((tmp_path / "a" / sub).iterdir())
        fb = sorted((tmp_path / "b" / sub).iterdir())
        assert [f.name for f in fa] == [f.name for f in fb]
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(fa, fb, strict=True))
    other = build_dataset(DatasetConfig(**{**TINY, "seed": 1}, setting="noisy-0.2"))
    assert not np.array_equal(other.obs_chosen, tiny.obs_chosen)


def _fake_pool(c=500, m=10, seed=0):
    rng = np.random.default_rng(seed)
    level = np.broadcast_to(np.arange(m) // 2, (c, m)).astype(np.int64)
    ret = rng.normal(0, 30, (c, m)) + 50.0 * level
    z = np.zeros((c, m, 1, 1))
    return ResponsePool(
        z,
        z.astype(np.int8),
        np.ones((c, m), np.int64),
        ret,
        level,
        np.arange(c),
        np.zeros(c, np.int64),
        ["random", "weak", "medium", "good", "expert"],
    )


def _cfg(setting, n=4000):
    return DatasetConfig(env="hopper", setting=setting, n_pairs=n, n_contexts=500, horizon=1)


@pytest.mark.parametrize("eps", [0.1, 0.2, 0.3, 0.4])
def test_flip_rate_within_binomial_bounds(eps):
    pool, n = _fake_pool(), 4000
    pairs = derive_pairs(pool, _cfg(f"noisy-{eps}", n))
    sd = np.sqrt(eps * (1 - eps) / n)
    assert abs(pairs["flipped"].mean() - eps) < 4 * sd
    clean = derive_pairs(pool, _cfg("clean", n))
    assert not clean["flipped"].any()
    ret = pool.ret[clean["context"], clean["chosen"]] - pool.ret[clean["context"], clean["rejected"]]
    assert (ret >= 0).all()
    # the same pairs; flips nested in epsilon
    lower = derive_pairs(pool, _cfg("noisy-0.1", n))
    assert (lower["flipped"] <= pairs["flipped"]).all()


@pytest.mark.parametrize("rho", [0.25, 0.5, 0.75, 0.333])
def test_mixed_fraction_exact_and_poor(rho):
    pool, n = _fake_pool(), 1001
    pairs = derive_pairs(pool, _cfg(f"mixed-{rho}", n))
    assert pairs["poor_pair"].sum() == round(rho * n)
    pp = pairs["poor_pair"]
    lv_c = pool.level[pairs["context"], pairs["chosen"]]
    lv_r = pool.level[pairs["context"], pairs["rejected"]]
    assert (lv_c[pp] < 2).all() and (lv_r[pp] < 2).all()
    assert ((lv_c[~pp] >= 2) | (lv_r[~pp] >= 2)).all()  # ordinary pairs contain a good response
    assert (pairs["chosen"] != pairs["rejected"]).all() and not pairs["flipped"].any()


def test_bt_flip_rate_matches_model():
    pool, n = _fake_pool(), 4000
    cfg = _cfg("bt", n)
    pairs = derive_pairs(pool, cfg)
    gap = np.abs(pool.ret[pairs["context"], pairs["chosen"]] - pool.ret[pairs["context"], pairs["rejected"]])
    expected = (0.5 * (1 - np.tanh(gap / (2 * cfg.temperature)))).mean()
    assert abs(pairs["flipped"].mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / n)


def test_cache_corruption_detected_and_rebuilt(tmp_path):
    cfg = DatasetConfig(**TINY, setting="clean")
    good = load_dataset(cfg, cache_dir=tmp_path)
    npz = next((tmp_path / "pools").glob("*.npz"))
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupted"):
        load_dataset(cfg, cache_dir=tmp_path, build=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = load_dataset(cfg, cache_dir=tmp_path)
    assert any("corrupted" in str(w.message) for w in caught)
    assert _equal(good, rebuilt)
    manifest = next((tmp_path / "tasks").glob("*.json"))
    info = json.loads(manifest.read_text())
    info["config"]["n_pairs"] = 999
    manifest.write_text(json.dumps(info))
    with pytest.raises(DataError, match="stale"):
        load_dataset(cfg, cache_dir=tmp_path, build=False)


def test_unknown_task_and_unbuilt(tmp_path):
    with pytest.raises(DataError, match="unknown task"):
        load_task("hopper-typo", cache_dir=tmp_path)
    with pytest.raises(DataError, match="not built"):
        load_task("hopper-clean", cache_dir=tmp_path, build=False)


def test_noise_scale_shrinks_sampling_noise_and_keeps_v2_keys():
    from dataclasses import replace

    from symmpo.suite.datasets import DatasetConfig, build_pool

    base = DatasetConfig(env="hopper", n_pairs=4, horizon=8, seed=3, prompt_max=5)
    assert "noise_scale" not in base.pool_config() and "noise_scale" not in base.task_config()
    quiet = replace(base, noise_scale=0.0)
    assert quiet.pool_config()["noise_scale"] == 0.0
    pool = build_pool(quiet)
    # without noise the two samples of a level from one context are the same greedy response
    spl = quiet.samples_per_level
    for lv in range(2, len(pool.levels)):  # levels without epsilon-random steps
        a, b = pool.bins[:, lv * spl], pool.bins[:, lv * spl + 1]
        assert (a == b).all()
    with pytest.raises(DataError):
        DatasetConfig(env="hopper", noise_scale=-1.0)


def test_label_horizon_judges_the_continuation_and_keeps_v2_keys():
    from dataclasses import replace

    from symmpo.suite.datasets import DatasetConfig, build_pool

    base = DatasetConfig(env="halfcheetah", n_pairs=4, horizon=5, seed=3, prompt_max=5)
    assert "label_horizon" not in base.pool_config() and "label_horizon" not in base.task_config()
    judged = replace(base, label_horizon=12)
    assert judged.pool_config()["label_horizon"] == 12
    short, long = build_pool(base), build_pool(judged)
    # the responses themselves are the same H steps; only their returns include the continuation
    assert (short.bins == long.bins).all() and (short.length == long.length).all()
    assert short.obs.shape == long.obs.shape
    assert not np.allclose(short.ret, long.ret)
    with pytest.raises(DataError, match="label_horizon"):
        DatasetConfig(env="hopper", horizon=10, label_horizon=5)
