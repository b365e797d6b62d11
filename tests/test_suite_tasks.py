"""Task names, discretization and D4RL normalization."""

import numpy as np
import pytest

from symmpo.errors import DataError
from symmpo.suite.tasks import N_BINS, all_task_names, from_bins, normalized_score, parse_task, to_bins


def test_parse_task_names():
    t = parse_task("hopper-noisy-0.2")
    assert (t.env, t.kind, t.param, t.name) == ("hopper", "noisy", 0.2, "hopper-noisy-0.2")
    assert parse_task("halfcheetah-mixed-0.50").name == "halfcheetah-mixed-0.5"
    assert parse_task("walker2d-bt").kind == "bt"
    assert len(all_task_names()) == 27


@pytest.mark.parametrize(
    "bad", ["ant-clean", "hopper", "hopper-foo", "hopper-noisy-0.7", "hopper-mixed-x", "hopper-clean-1"]
)
def test_unknown_task_refused_with_valid_names(bad):
    with pytest.raises(DataError, match="unknown"):
        parse_task(bad)


def test_bins_roundtrip_and_normalization():
    bins = np.arange(N_BINS)
    np.testing.assert_array_equal(to_bins(from_bins(bins)), bins)
    assert from_bins(np.array([0, N_BINS // 2, N_BINS - 1])).tolist() == [-1.0, 0.0, 1.0]
    assert normalized_score("hopper", -20.272305) == pytest.approx(0.0)
    assert normalized_score("halfcheetah", 12135.0) == pytest.approx(100.0)


def test_suite_suffix_selects_the_dataset_design():
    from symmpo.suite.datasets import task_config
    from symmpo.suite.suites import SUITES

    assert parse_task("hopper-clean").suite == "v2"
    assert parse_task("hopper-clean@V2").name == "hopper-clean"  # the default suite has no suffix
    with pytest.raises(DataError, match="unknown suite"):
        parse_task("hopper-clean@v9")
    for suite, designs in SUITES.items():
        for env, d in designs.items():
            t = parse_task(f"{env}-noisy-0.2@{suite}")
            assert t.suite == suite and t.env == env
            cfg = task_config(t.name)
            assert (cfg.horizon, cfg.label_horizon, cfg.setting) == (d.horizon, d.label_horizon, "noisy-0.2")


def test_suite_steps_default_and_mixed_suites_refused():
    from symmpo.suite.suites import design
    from symmpo.suite.tasks import po_steps

    assert po_steps(["hopper-clean", "halfcheetah-noisy-0.2"]) is None  # v2: the presets decide
    assert po_steps(["hopper-clean@v3", "walker2d-mixed-0.5@v3"]) == design("v3", "hopper").po_steps
    with pytest.raises(DataError, match="one suite"):
        po_steps(["hopper-clean", "hopper-clean@v3"])


def test_a_search_on_suite_v3_trains_at_the_suites_steps():
    from symmpo.search.config import SearchConfig
    from symmpo.suite.suites import design

    default = SearchConfig.from_preset("default")
    v3 = default.override(tasks=["hopper-clean@v3"])
    assert v3.train.steps == design("v3", "hopper").po_steps
    mine = v3.override(train={"preset": "default", "overrides": {"steps": 7}})
    assert mine.train.steps == 7  # an explicit choice wins
    assert default.override(tasks=["hopper-clean"]).train.steps == 300
