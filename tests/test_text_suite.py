"""The text suite's data side: the true reward on hand-made answers, the prompt split, graded behaviour
levels, and datasets that are deterministic, cached behind a SHA-256 manifest and carry their pathologies."""

import json
import warnings

import numpy as np
import pytest

from symmpo.errors import DataError
from symmpo.text.behaviour import LEVELS, generate, measure_levels
from symmpo.text.datasets import (
    TextDataConfig,
    build_dataset,
    build_pool,
    derive_pairs,
    describe,
    load_dataset,
    parse_setting,
    setting_of,
    task_name,
)
from symmpo.text.task import TaskSpec, draw_prompt, eval_prompts, prompt_text, response_text, reward, role

SPEC = TaskSpec()


@pytest.mark.parametrize(
    "prompt, answer, expected",
    [
        ((3, 1, 2), "1 2 3", 1.0),  # exact
        ((5, 4, 3, 2, 1), "1 2 9 4 5", 0.8),  # one wrong digit of five
        ((5, 4, 3, 2, 1), "1 2 3 4", 0.8),  # one digit missing
        ((5, 4, 3, 2, 1), "1 2 3 4 5 5", 5 / 6),  # one extra digit: longer is never better
        ((3, 1, 2), "3 2 1", 1 / 3),  # reversed: only the middle digit in place
        ((3, 1, 2), "3 1 2", 1 / 3),  # the prompt copied: two edits
        ((7, 7), "7 = 7", 2 / 3),  # a non-digit token is just a wrong token
        ((3, 1, 2), "", 0.0),  # no answer
        ((3, 1, 2), "8 9 0", 0.0),  # nothing right
    ],
)
def test_reward_on_hand_made_answers(prompt, answer, expected):
    assert reward(prompt, answer.split()) == pytest.approx(expected)


def test_reward_accepts_ints_and_strings_alike():
    assert reward((2, 0, 1), [0, 1, 2]) == reward((2, 0, 1), ["0", "1", "2"]) == 1.0


def test_prompt_split_is_a_fixed_partition():
    rng = np.random.default_rng(0)
    fit, held = eval_prompts(SPEC, "fitness", 200), eval_prompts(SPEC, "heldout", 200)
    assert fit == eval_prompts(SPEC, "fitness", 200)  # fixed for a spec
    assert len(set(fit)) == 200 and not set(fit) & set(held)
    assert {role(p) for p in fit} == {"fitness"} and {role(p) for p in held} == {"heldout"}
    train = [draw_prompt(rng, SPEC) for _ in range(300)]
    assert {role(p) for p in train} == {"train"}
    shares = [role(tuple(int(d) for d in f"{i:04d}")) for i in range(10_000)]
    assert 0.75 < shares.count("train") / 10_000 < 0.85  # 80 / 10 / 10
    with pytest.raises(DataError, match="fitness' or 'heldout"):
        eval_prompts(SPEC, "train", 5)
    with pytest.raises(DataError, match="min_len"):
        TaskSpec(min_len=4, max_len=2)


def test_text_forms():
    assert prompt_text((3, 1)) == "3 1 ="
    assert response_text([1, 3]) == " 1 3"


def test_behaviour_levels_are_graded_and_bounded():
    rows = measure_levels(SPEC, n_prompts=300)
    rewards = [r["reward"] for r in rows]
    assert [r["level"] for r in rows] == [lv.name for lv in LEVELS]
    assert len(rows) >= 4
    assert all(b - a > 0.05 for a, b in zip(rewards, rewards[1:], strict=False))  # separated, increasing
    assert rewards[0] < 0.3 and rewards[-1] > 0.9  # near-random to near-perfect
    rng = np.random.default_rng(1)
    for level in LEVELS:
        for _ in range(50):
            y = generate(level, draw_prompt(rng, SPEC), rng, SPEC)
            assert len(y) <= SPEC.max_response and all(0 <= d <= 9 for d in y)


def test_settings_parse():
    assert parse_setting("length") == ("length", None)
    assert parse_setting("noisy-0.2") == ("noisy", 0.2)
    assert task_name("mixed-0.50") == "sort-mixed-0.5" and setting_of("sort-noisy-0.2") == "noisy-0.2"
    for bad in ("bt", "noisy-0.7", "mixed", "long"):
        with pytest.raises(DataError, match="unknown text setting"):
            parse_setting(bad)
    with pytest.raises(DataError, match="text tasks are"):
        setting_of("hopper-clean")


TINY = dict(n_pairs=80, seed=3)


def test_dataset_is_deterministic_and_seeded():
    a, b = build_dataset(TextDataConfig(**TINY)), build_dataset(TextDataConfig(**TINY))
    assert a.rows == b.rows and a.meta["sha256"] == b.meta["sha256"]
    assert np.array_equal(a.reward_chosen, b.reward_chosen)
    c = build_dataset(TextDataConfig(n_pairs=80, seed=4))
    assert c.meta["sha256"] != a.meta["sha256"] and c.rows != a.rows
    prompts = {tuple(int(d) for d in r["prompt"].split()[:-1]) for r in a.rows}
    assert {role(p) for p in prompts} == {"train"}  # no evaluation prompt can be trained on


def test_cache_matches_build_and_detects_corruption(tmp_path):
    cfg = TextDataConfig(setting="noisy-0.2", **TINY)
    built = build_dataset(cfg)
    cached = load_dataset(cfg, tmp_path)
    again = load_dataset(cfg, tmp_path)
    assert cached.rows == built.rows == again.rows and cached.meta["sha256"] == built.meta["sha256"]
    (npz,) = (tmp_path / "text" / "tasks").glob("*.npz")
    manifest = json.loads(npz.with_name(npz.name[:-4] + ".json").read_text())
    assert manifest["config"]["setting"] == "noisy-0.2" and len(manifest["sha256"]) == 64
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    npz.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = load_dataset(cfg, tmp_path)
    assert any("corrupted" in str(w.message) for w in caught)
    assert rebuilt.rows == built.rows


def test_settings_carry_their_pathologies():
    n = 2000
    pool = build_pool(TextDataConfig(n_pairs=n, seed=0))

    def pairs(setting):
        return derive_pairs(pool, TextDataConfig(setting=setting, n_pairs=n, seed=0))

    clean, noisy1, noisy2 = pairs("clean"), pairs("noisy-0.1"), pairs("noisy-0.3")
    assert not clean["flipped"].any() and not clean["poor_pair"].any()
    assert np.all(noisy1["flipped"] <= noisy2["flipped"])  # flips are nested in epsilon
    assert 0.25 < noisy2["flipped"].mean() < 0.35
    mixed = pairs("mixed-0.5")
    assert mixed["poor_pair"].sum() == n // 2
    levels = pool["level"][mixed["context"], mixed["chosen"]]
    assert np.all(levels[mixed["poor_pair"]] < 2)  # poor pairs hold two poor-level responses
    length = pairs("length")
    c, lc, lr = length["context"], length["chosen"], length["rejected"]
    len_c, len_r = pool["length"][c, lc], pool["length"][c, lr]
    assert np.all(len_c >= len_r)  # whenever lengths differ, the longer one is chosen
    same = len_c == len_r
    assert np.array_equal(length["chosen"][same], clean["chosen"][same])  # else the clean label
    stats = {
        s: describe(build_dataset(TextDataConfig(setting=s, n_pairs=n, seed=0))) for s in ("clean", "length")
    }
    assert stats["clean"]["chosen_worse"] == 0.0 and stats["length"]["chosen_worse"] > 0.2
    assert stats["length"]["length_gap"] > stats["clean"]["length_gap"] + 0.5
