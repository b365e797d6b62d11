"""Separate SFT data of the text suite: deterministic, cached behind a SHA-256 manifest, on prompts disjoint
from the preference pairs', of the chosen levels only; the option is off by default and leaves every
configuration's hash as it was."""

import dataclasses

import numpy as np
import pytest

from symmpo.errors import DataError, SymmpoError
from symmpo.text.behaviour import LEVELS
from symmpo.text.config import TextConfig
from symmpo.text.datasets import TextDataConfig, build_pool
from symmpo.text.sft_data import build_sft, build_sft_data, check_levels, load_sft_data, preference_prompts
from symmpo.text.task import role

DATA = TextDataConfig(setting="clean", seed=3, n_pairs=120)


def _prompts(arrays: dict[str, np.ndarray]) -> set[tuple[int, ...]]:
    return {
        tuple(int(t) for t in row[:n]) for row, n in zip(arrays["prompt"], arrays["prompt_len"], strict=True)
    }


def test_sft_data_is_deterministic_and_cached(tmp_path):
    a, b = build_sft_data(DATA, ("poor", "fair")), build_sft_data(DATA, ("poor", "fair"))
    assert a.rows == b.rows and a.sha256 == b.sha256 and len(a) == DATA.n_pairs
    cached = load_sft_data(DATA, ("poor", "fair"), tmp_path)
    assert cached.rows == a.rows and cached.sha256 == a.sha256
    assert len(list((tmp_path / "text" / "sft").glob("sort-*.npz"))) == 1
    again = load_sft_data(DATA, ("fair", "poor"), tmp_path)  # same levels in another order: same entry
    assert again.sha256 == a.sha256 and len(list((tmp_path / "text" / "sft").glob("sort-*.npz"))) == 1
    other = build_sft_data(dataclasses.replace(DATA, seed=4), ("poor", "fair"))
    assert other.rows != a.rows


def test_sft_prompts_are_training_prompts_disjoint_from_the_pairs():
    arrays = build_sft(DATA, ("fair",))
    sft = _prompts(arrays)
    pool = build_pool(DATA)
    pairs = {
        tuple(int(t) for t in row[:n]) for row, n in zip(pool["prompt"], pool["prompt_len"], strict=True)
    }
    assert preference_prompts(DATA) == pairs  # the excluded set is the pool's
    assert len(sft) == DATA.prompts and not sft & pairs
    assert {role(p) for p in sft} == {"train"}


def test_sft_levels_are_the_chosen_ones_and_alternate_on_each_prompt():
    names = [lv.name for lv in LEVELS]
    data = build_sft_data(DATA, ("poor", "good"))
    levels = [names[i] for i in data.level]
    assert set(levels) == {"poor", "good"} and levels.count("poor") == levels.count("good")
    arrays = build_sft(DATA, ("poor", "good"))
    for c in range(DATA.prompts):  # every prompt is answered by both levels
        assert {names[i] for i in arrays["level"][arrays["context"] == c]} == {"poor", "good"}
    good, poor = (
        data.reward[data.level == names.index("good")],
        data.reward[data.level == names.index("poor")],
    )
    assert good.mean() > poor.mean()


def test_bad_level_names_are_one_line_errors():
    with pytest.raises(DataError, match="unknown behaviour level.*'weak'.*random, poor, fair, good, expert"):
        check_levels(("poor", "weak"))
    with pytest.raises(SymmpoError) as err:
        TextConfig(sft_levels=("medium",))
    assert "\n" not in str(err.value) and "'medium'" in str(err.value)
    with pytest.raises(SymmpoError, match="list of level names"):
        TextConfig(sft_levels="poor")
    with pytest.raises(DataError, match="at least one"):
        build_sft(DATA, ())


def test_option_is_off_by_default_and_changes_the_hash_only_when_on():
    base = TextConfig.preset("default")
    assert base.sft_levels == () and "sft_levels" not in base.to_dict()
    assert TextConfig.from_dict(base.to_dict()) == base
    on = dataclasses.replace(base, sft_levels=("fair", "poor"))
    assert on.sft_levels == ("poor", "fair")  # canonical order
    assert on.to_dict()["sft_levels"] == ["poor", "fair"] and TextConfig.from_dict(on.to_dict()) == on
    assert on.hash() != base.hash()
    assert dataclasses.replace(on, sft_levels=()).hash() == base.hash()
    assert dataclasses.replace(base, sft_levels=["poor"]).sft_levels == ("poor",)
