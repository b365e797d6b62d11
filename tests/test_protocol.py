"""The held-out protocol refuses every overlap with the fitness, in code and on the command line."""

from __future__ import annotations

import pytest

from symmpo import protocol
from symmpo.cli import main
from symmpo.search.config import SearchConfig
from symmpo.train.config import TrainConfig


def split(ds=0, seeds=(0, 1), offset=0, episodes=5):
    return protocol.Split(ds, tuple(seeds), offset, episodes)


def test_disjoint_splits_pass_and_every_overlap_is_named():
    fit = split()
    protocol.check_heldout(fit, split(ds=1, seeds=(1000,), offset=50_000, episodes=10))
    assert protocol.overlaps(fit, split(ds=0, seeds=(1000,), offset=50_000)) == [
        "dataset seed [0] (the same preference pairs)"
    ]
    assert protocol.overlaps(fit, split(ds=1, seeds=(1, 1000), offset=50_000)) == ["training seeds [1]"]
    assert protocol.overlaps(fit, split(ds=1, seeds=(1000,), offset=3, episodes=10)) == [
        "evaluation resets [3, 5)"
    ]
    # resets [0, 5) and [5, 15) touch but do not overlap
    assert protocol.overlaps(fit, split(ds=1, seeds=(1000,), offset=5, episodes=10)) == []
    with pytest.raises(protocol.ProtocolError, match="not held out.*training seeds \\[1\\]"):
        protocol.check_heldout(fit, split(ds=1, seeds=(1,), offset=50_000))


def test_dataset_seed_following_the_training_seed_is_an_overlap_too():
    fit = split(ds=None, seeds=(0, 1))  # dataset seed = training seed
    assert "dataset seed [1] (the same preference pairs)" in protocol.overlaps(
        fit, split(ds=1, seeds=(1000,), offset=50_000)
    )


def test_the_heldout_split_moves_data_and_resets_and_nothing_else():
    config = SearchConfig.from_preset("default")
    split = config.heldout_split
    assert split.train_seeds == config.rescore_seeds
    base = TrainConfig.preset("default").to_dict()
    held = split.apply(TrainConfig.preset("default")).to_dict()
    assert held == config.heldout_train.to_dict()
    assert config.fitness_split.apply(config.train) == config.train
    assert held["dataset_seed"] == protocol.HELDOUT_DATASET_SEED
    assert held["eval_reset_offset"] == protocol.HELDOUT_RESET_OFFSET
    assert held["eval_episodes"] == protocol.HELDOUT_EPISODES
    assert {
        k: v for k, v in held.items() if k not in ("dataset_seed", "eval_reset_offset", "eval_episodes")
    } == {k: v for k, v in base.items() if k not in ("dataset_seed", "eval_reset_offset", "eval_episodes")}


def test_search_config_refuses_overlapping_rescore_and_heldout_env():
    cfg = SearchConfig.from_preset("tiny")
    with pytest.raises(protocol.ProtocolError, match="dataset seed \\[0\\]"):
        cfg.override(heldout={"dataset_seed": 0, "reset_offset": 50_000, "eval_episodes": 2})
    with pytest.raises(protocol.ProtocolError, match="evaluation resets"):
        cfg.override(heldout={"dataset_seed": 1, "reset_offset": 0, "eval_episodes": 2})
    with pytest.raises(protocol.ProtocolError, match="walker2d is held out"):
        cfg.override(tasks=["walker2d-clean"])
    assert cfg.override(tasks=["walker2d-clean"], allow_heldout_env=True).tasks == ("walker2d-clean",)


def test_evolve_command_refuses_walker_without_the_flag(tmp_path, capsys):
    argv = [
        "evolve",
        "--preset",
        "tiny",
        "--task",
        "walker2d-mixed-0.5",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    assert main(argv) == 2
    assert "held out for transfer" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
