"""The held-out protocol refuses every overlap with the fitness, in code and on the command line."""

from __future__ import annotations

import pytest

from symmpo import protocol
from symmpo.cli import main
from symmpo.errors import SymmpoError
from symmpo.search.presets import apply_overrides, fitness_train_config, preset_config
from symmpo.train.config import TrainConfig, heldout_train


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


def test_heldout_train_moves_data_and_resets():
    base = TrainConfig.preset("default").to_dict()
    held = heldout_train(base)
    assert held["dataset_seed"] == protocol.HELDOUT_DATASET_SEED
    assert held["eval_reset_offset"] == protocol.HELDOUT_RESET_OFFSET
    assert held["eval_episodes"] == protocol.HELDOUT_EPISODES
    assert {
        k: v for k, v in held.items() if k not in ("dataset_seed", "eval_reset_offset", "eval_episodes")
    } == {k: v for k, v in base.items() if k not in ("dataset_seed", "eval_reset_offset", "eval_episodes")}


def test_search_config_refuses_overlapping_rescore_and_heldout_env():
    cfg = preset_config("tiny")
    with pytest.raises(protocol.ProtocolError, match="dataset seed \\[0\\]"):
        apply_overrides({**cfg, "heldout": {"dataset_seed": 0, "reset_offset": 50_000, "eval_episodes": 2}})
    with pytest.raises(protocol.ProtocolError, match="evaluation resets"):
        apply_overrides({**cfg, "heldout": {"dataset_seed": 1, "reset_offset": 0, "eval_episodes": 2}})
    with pytest.raises(protocol.ProtocolError, match="walker2d is held out"):
        apply_overrides(cfg, tasks=["walker2d-clean"])
    assert apply_overrides(cfg, tasks=["walker2d-clean"], allow_heldout_env=True)["tasks"] == [
        "walker2d-clean"
    ]


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
    fit = protocol.split_of(cfg.to_dict(), (0, 1))
    assert fit.dataset_seeds == {0, 3}
    held = heldout_train(cfg.to_dict())
    assert "dataset_seeds" not in held and held["dataset_seed"] == protocol.HELDOUT_DATASET_SEED
    protocol.check_run_heldout(cfg.to_dict(), (0, 1), held, range(1000, 1005))
    # a cycle through the held-out dataset is refused
    bad = TrainConfig.preset("default", dataset_seeds=(0, protocol.HELDOUT_DATASET_SEED)).to_dict()
    with pytest.raises(protocol.ProtocolError, match="dataset seed \\[1\\]"):
        protocol.check_run_heldout(bad, (0, 1), heldout_train(bad), range(1000, 1005))
    with pytest.raises(SymmpoError, match="dataset_seeds must be distinct"):
        TrainConfig(dataset_seeds=(3, 3))
    with pytest.raises(SymmpoError, match="dataset_seeds"):
        TrainConfig(dataset_seeds=(-1,))


def test_the_search_config_takes_dataset_seeds_and_checks_them():
    from symmpo.search.presets import heldout_train_config

    cfg = preset_config("tiny")

    def with_seeds(seeds):
        return {
            **cfg,
            "train": {
                **cfg["train"],
                "overrides": {**cfg["train"].get("overrides", {}), "dataset_seeds": seeds},
            },
        }

    assert fitness_train_config(with_seeds([0, 3]))["dataset_seeds"] == [0, 3]
    assert "dataset_seeds" not in heldout_train_config(with_seeds([0, 3]))
    with pytest.raises(protocol.ProtocolError, match="dataset seed \\[1\\]"):
        heldout_train_config(with_seeds([1, 3]))  # seed 0 trains on dataset 1
    with pytest.raises(SymmpoError, match="dataset_seeds must be distinct"):
        fitness_train_config(with_seeds([3, 3]))
