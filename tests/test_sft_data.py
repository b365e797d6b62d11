"""π_ref cloned from separate SFT data (TrainConfig.sft_levels): its own contexts, one policy per env and seed."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from symmpo.errors import DataError, SymmpoError
from symmpo.suite.datasets import DatasetConfig, build_dataset
from symmpo.train import TrainConfig
from symmpo.train.reference import get_reference
from symmpo.train.sft_data import SFT_POOL_OFFSET, sft_dataset
from symmpo.train.testing import synthetic_dataset

TINY = dict(env="hopper", n_pairs=8, horizon=10, seed=0, prompt_max=5)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    torch.set_num_threads(1)
    cache = tmp_path_factory.mktemp("cache")
    clean = build_dataset(DatasetConfig(setting="clean", **TINY))
    noisy = build_dataset(DatasetConfig(setting="noisy-0.4", **TINY))
    return cache, clean, noisy


def test_sft_data_is_its_own_pool_of_the_named_levels(datasets):
    cache, clean, _ = datasets
    sft = sft_dataset(clean, ("weak", "medium"), cache)
    # 2 contexts x 2 levels x 2 samples per level, none from the preference pool's contexts
    assert sft.n_pairs == 2 * 2 * 2
    assert not set(sft.context_seed) & set(clean.context_seed)
    assert sft.meta["seed"] == clean.meta["seed"] + SFT_POOL_OFFSET
    with pytest.raises(DataError, match="unknown behaviour level"):
        sft_dataset(clean, ("nope",), cache)
    with pytest.raises(DataError, match="suite dataset"):
        sft_dataset(synthetic_dataset(n_pairs=4), ("weak",), cache)


def test_one_reference_serves_every_setting(datasets):
    cache, clean, noisy = datasets
    cfg = TrainConfig.preset("tiny", sft_levels=("weak", "medium"))
    a = get_reference(clean, 0, cfg, cache_dir=cache)
    b = get_reference(noisy, 0, cfg, cache_dir=cache)
    for p, q in zip(a.policy.params, b.policy.params, strict=True):
        assert torch.equal(p, q)
    assert len(list((cache / "reference").glob("sft-*.pt"))) == 1
    # not the suite-v2 reference (cloned on the chosen responses), and its log-probs are of the pairs
    v2 = get_reference(clean, 0, TrainConfig.preset("tiny"), cache_dir=cache)
    assert not torch.equal(a.policy.params[0], v2.policy.params[0])
    assert a.logps_chosen.shape == (clean.n_pairs,)
    # cached: a second call loads the same numbers
    again = get_reference(clean, 0, cfg, cache_dir=cache)
    assert torch.equal(again.logps_chosen, a.logps_chosen)


def test_config_keeps_suite_v2_keys_and_checks_levels():
    v2 = TrainConfig()
    assert "sft_levels" not in v2.to_dict() and "sft_levels" not in v2.reference_key()
    v3 = dataclasses.replace(v2, sft_levels=("weak", "medium"))
    assert TrainConfig.from_dict(v3.to_dict()) == v3
    assert v3.reference_key()["sft_levels"] == ["weak", "medium"]
    with pytest.raises(SymmpoError, match="distinct"):
        TrainConfig(sft_levels=("weak", "weak"))
    with pytest.raises(SymmpoError, match="tuple"):
        TrainConfig(sft_levels=["weak"])  # type: ignore[arg-type]


def test_a_suite_v3_task_clones_its_reference_from_the_suites_sft_data(tmp_path):
    from symmpo.suite.datasets import load_task
    from symmpo.suite.suites import design

    torch.set_num_threads(1)
    d = design("v3", "hopper")
    ds = load_task("hopper-clean@v3", cache_dir=tmp_path, n_pairs=8, prompt_max=5)
    assert ds.horizon == d.horizon and ds.meta["suite"] == "v3" and ds.meta["task"] == "hopper-clean@v3"
    assert tuple(ds.meta["sft_levels"]) == d.sft_levels
    tiny = TrainConfig.preset("tiny")
    implicit = get_reference(ds, 0, tiny, cache_dir=tmp_path)
    explicit = get_reference(ds, 0, dataclasses.replace(tiny, sft_levels=d.sft_levels), cache_dir=tmp_path)
    assert torch.equal(implicit.policy.params[0], explicit.policy.params[0])
    assert len(list((tmp_path / "reference").glob("sft-*.pt"))) == 1
    # a v2 task keeps cloning the chosen responses
    assert "sft_levels" not in load_task("hopper-clean", cache_dir=tmp_path, n_pairs=8, prompt_max=5).meta
