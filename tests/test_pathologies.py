"""The one pathology registry: every suite parses and labels its settings there, so a new pathology is one entry."""

from __future__ import annotations

import numpy as np
import pytest

from symmpo.errors import DataError
from symmpo.suite import pathologies
from symmpo.suite.datasets import derive_pairs as mujoco_pairs
from symmpo.suite.datasets import task_config
from symmpo.suite.tasks import parse_setting as mujoco_setting
from symmpo.text.datasets import TextDataConfig
from symmpo.text.datasets import derive_pairs as text_pairs
from symmpo.text.datasets import parse_setting as text_setting


def test_each_suite_offers_exactly_its_registered_pathologies() -> None:
    for name, p in pathologies.PATHOLOGIES.items():
        setting = name if p.bounds is None else f"{name}-{p.bounds[0]}"
        for suite, parse in (("mujoco", mujoco_setting), ("text", text_setting)):
            if suite in p.suites:
                assert parse(setting)[0] == name
            else:
                with pytest.raises(DataError, match="setting"):
                    parse(setting)


def _pool(c: int = 30, m: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {"reward": rng.normal(size=(c, m)), "length": rng.integers(1, 9, (c, m))}


def test_a_new_pathology_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering a "shorter wins" judge makes it a valid text setting whose labels follow its rule."""

    def shorter(facts: pathologies.PairFacts, _: float | None, u: np.ndarray) -> np.ndarray:
        return np.where(facts.len_a != facts.len_b, facts.len_a < facts.len_b, facts.a_better)

    entry = pathologies.Pathology("short", ("text",), "short", prefer=shorter)
    monkeypatch.setitem(pathologies.PATHOLOGIES, "short", entry)
    pool = _pool()
    pairs = text_pairs(pool, TextDataConfig(setting="short", n_pairs=200))
    c, yc, yr = pairs["context"], pairs["chosen"], pairs["rejected"]
    lc, lr = pool["length"][c, yc], pool["length"][c, yr]
    assert np.all(lc[lc != lr] < lr[lc != lr])
    clean = text_pairs(pool, TextDataConfig(setting="clean", n_pairs=200))
    assert np.array_equal(np.sort(clean["chosen"] + clean["rejected"]), np.sort(yc + yr))  # same draws


def test_noisy_flips_are_nested_and_shared_across_suites() -> None:
    pool = _pool()
    flips = [
        text_pairs(pool, TextDataConfig(setting=f"noisy-{e}", n_pairs=400))["flipped"] for e in (0.1, 0.3)
    ]
    assert flips[0].sum() < flips[1].sum() and not np.any(flips[0] & ~flips[1])
    from symmpo.suite.datasets import ResponsePool

    c, m = pool["reward"].shape
    zeros = np.zeros((c, m, 1, 1))
    mj = ResponsePool(zeros, zeros.astype(np.int8), pool["length"], pool["reward"], np.zeros((c, m), np.int64),
                      np.arange(c), np.ones(c, np.int64), ["x"] * 5)  # fmt: skip
    cfg = task_config("hopper-noisy-0.1", n_pairs=400)
    text = text_pairs(pool, TextDataConfig(setting="noisy-0.1", n_pairs=400))
    assert np.array_equal(mujoco_pairs(mj, cfg)["flipped"], text["flipped"])
