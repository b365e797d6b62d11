"""The held-out protocol refuses every overlap with the fitness, in code and on the command line."""

from __future__ import annotations

import pytest

from symmpo import protocol
from symmpo.cli import main
from symmpo.errors import SymmpoError
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


def test_a_fitness_over_several_datasets_cycles_them_and_the_rescore_leaves_them():
    cfg = TrainConfig.preset("default", dataset_seeds=(0, 3))
    assert [cfg.dataset_seed_of(s) for s in (0, 1, 2, 3)] == [0, 3, 0, 3]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    # absent from the dict when unused, so stored configurations and their hashes stay what they were
    assert "dataset_seeds" not in TrainConfig.preset("default").to_dict()
    assert protocol.Split.of(cfg, (0, 1)).dataset_seeds == {0, 3}
    assert protocol.Split.of(cfg, (0,)).dataset_seeds == {0}
    with pytest.raises(SymmpoError, match="dataset_seeds must be distinct"):
        TrainConfig(dataset_seeds=(3, 3))
    with pytest.raises(SymmpoError, match="dataset_seeds"):
        TrainConfig(dataset_seeds=(-1,))


def test_the_search_config_takes_dataset_seeds_and_checks_them():
    base = SearchConfig.from_preset("tiny").override(seeds=[0, 1], rescore_seeds=[1000, 1001])

    def with_seeds(seeds):
        return base.override(train={"preset": "tiny", "overrides": {"dataset_seeds": seeds}})

    cfg = with_seeds([0, 3])
    assert cfg.train.dataset_seeds == (0, 3)
    assert cfg.fitness_split.dataset_seeds == {0, 3}
    assert (
        cfg.heldout_train.dataset_seeds == ()
        and cfg.heldout_train.dataset_seed == protocol.HELDOUT_DATASET_SEED
    )
    assert SearchConfig.from_mapping(cfg.to_mapping()) == cfg
    with pytest.raises(protocol.ProtocolError, match="dataset seed \\[1\\]"):
        with_seeds([0, 1])  # seed 1 would train on the held-out dataset
    with pytest.raises(SymmpoError, match="dataset_seeds must be distinct"):
        with_seeds([3, 3])
