"""The typed search configuration: checked once where it enters, written back exactly as the dicts were."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from symmpo import protocol
from symmpo.errors import SymmpoError
from symmpo.files import dump_yaml
from symmpo.search.config import SearchConfig
from symmpo.search.gp import GPConfig
from symmpo.search.multifidelity import Fidelity
from symmpo.search.presets import CLAIM_SEEDS, PRESETS, preset_mapping
from symmpo.search.rundir import RunDir, RunDirError
from symmpo.train.config import TrainConfig

OLD_RUNS = Path(__file__).parent / "data" / "old_runs"


def _neural() -> SearchConfig:
    from symmpo.neural.es import neural_config

    tiny = SearchConfig.from_preset("tiny").override(seeds=[0, 1], fidelity={"rungs": [1, 2], "promote": 0.5})
    return neural_config(tiny, phi_hidden=[4], g_hidden=[3], sigma0=0.2)


def _mappings() -> dict[str, dict]:
    """Configurations as plain data, as presets, old run directories and today's commands write them."""
    out = {f"preset {name}": preset_mapping(name) for name in PRESETS}
    for kind in ("symbolic", "neural"):
        out[f"old run {kind}"] = yaml.safe_load((OLD_RUNS / kind / "config.yaml").read_text())
    out["neural with fidelity"] = _neural().to_mapping()
    from symmpo.neural.es import neural_config

    out["neural with an imitation weight"] = neural_config(
        SearchConfig.from_preset("tiny"), sft=True
    ).to_mapping()
    grammar = SearchConfig.from_preset("default").override(grammar="ta_mirror", grammar_name="ta_mirror")
    out["gp with grammar_name"] = grammar.to_mapping()
    out["gp overrides"] = {**preset_mapping("tiny"), "gp": {"tournament": 5, "p_hoist": 0.0}}
    return out


@pytest.mark.parametrize("name", sorted(_mappings()))
def test_mapping_to_config_to_mapping_is_the_same_data_in_the_same_order(name):
    data = _mappings()[name]
    config = SearchConfig.from_mapping(data)
    again = config.to_mapping()
    assert again == data and list(again) == list(data)
    assert dump_yaml(again) == dump_yaml(data)  # config.yaml byte for byte
    assert SearchConfig.from_mapping(again) == config


def test_a_run_directory_reads_back_the_configuration_it_was_given(tmp_path):
    config = _neural()
    run = RunDir.create(tmp_path / "r", config)
    assert run.read_config() == config
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text()) == config.to_mapping()


def test_the_configuration_is_typed_and_frozen():
    config = SearchConfig.from_preset("tiny")
    assert config.seeds == (0,) and config.rescore_seeds == (1000, 1001) and config.cmaes.popsize == 3
    assert config.train == TrainConfig.preset("tiny", config.tasks)
    assert config.gp == GPConfig() and config.reference.objective().name == "dpo"
    assert config.reference.get("beta") == 0.1 and config.fidelity is None and config.kind is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.generations = 5  # type: ignore[misc]
    longer = config.override(generations=7, seeds=(3, 4), fidelity={"rungs": [1, 2], "promote": 0.5})
    assert longer.generations == 7 and longer.seeds == (3, 4) and longer.fidelity == Fidelity((1, 2), 0.5)
    assert config.generations == 3 and config.seeds == (0,)  # the original is untouched
    assert config.override(generations=None) == config  # None: not given


def test_the_splits_are_values_that_apply_themselves():
    config = SearchConfig.from_preset("tiny").override(heldout={"eval_episodes": 3})
    fit, held = config.fitness_split, config.heldout_split
    assert fit == protocol.Split(0, (0,), 0, config.train.eval_episodes)
    assert held == protocol.Split(
        protocol.HELDOUT_DATASET_SEED, (1000, 1001), protocol.HELDOUT_RESET_OFFSET, 3
    )
    assert fit.apply(config.train) == config.train
    assert config.heldout_train == dataclasses.replace(
        config.train, dataset_seed=1, eval_reset_offset=protocol.HELDOUT_RESET_OFFSET, eval_episodes=3
    )
    assert protocol.Split.of(config.heldout_train, config.rescore_seeds) == held


def _edited(**changes) -> dict:
    data = preset_mapping("tiny")
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data[section] = {**data[section], field: value}
        else:
            data[section] = value
    return data


BAD = {
    "unknown key": (_edited(surprise=1), "unknown configuration key 'surprise'"),
    "missing key": ({k: v for k, v in preset_mapping("tiny").items() if k != "chunk"}, "has no 'chunk'"),
    "unknown train key": (_edited(train__overides={}), "train has no key 'overides'"),
    "unknown cmaes key": (_edited(cmaes__sigma=1.0), "cmaes has no key 'sigma'"),
    "unknown heldout key": (_edited(heldout__seed=3), "heldout has no key 'seed'"),
    "unknown gp key": (_edited(gp={"elitsm": 1}), "gp has no key 'elitsm'"),
    "unknown trainer field": (_edited(train__overrides={"stepz": 3}), "train.overrides has no key 'stepz'"),
    "generations text": (_edited(generations="ten"), "generations \\(--generations\\) must be an integer"),
    "seeds text": (_edited(seeds="0"), "seeds \\(--seeds\\) must be a list"),
    "population 1": (_edited(population=1), "population \\(--population\\) must be an integer in \\[2,"),
    "rescore_top above hall_of_fame": (
        _edited(rescore_top=9),
        "rescore_top must be an integer in \\[1, 4\\]",
    ),
    "cmaes.enabled 1": (_edited(cmaes__enabled=1), "cmaes.enabled must be true or false"),
    "allow_heldout_env text": (_edited(allow_heldout_env="yes"), "allow_heldout_env must be true or false"),
    "heldout episodes 0": (_edited(heldout__eval_episodes=0), "heldout.eval_episodes must be an integer"),
    "reference param a mapping": (_edited(reference__beta={"x": 1}), "reference.beta must be a number"),
    "reference beta text": (_edited(reference__beta="1:30"), "must be a number"),
    "unknown reference loss": (_edited(reference={"name": "dpoo"}), "dpoo"),
    "trainer lr": (_edited(train__overrides={"lr": -1}), "train configuration: lr must be in \\(0, 10\\]"),
    "gp weights all zero": (
        _edited(gp={"p_crossover": 0, "p_subtree": 0, "p_point": 0, "p_hoist": 0, "p_jitter": 0}),
        "gp configuration: at least one variation operator",
    ),
    "gp weight negative": (_edited(gp={"p_point": -1}), "gp.p_point must be in \\[0, 1e\\+06\\]"),
    "fidelity rungs": (_edited(fidelity={"rungs": [1, 2], "promote": 0.3}), "end at the number of fitness"),
    "neural widths": (_edited(kind="neural", neural={"phi_hidden": []}), "neural.phi_hidden must be a list"),
    "rescore overlaps": (_edited(rescore_seeds=[0, 1000]), "rescore seeds must be fresh"),
    "heldout overlaps": (_edited(heldout__dataset_seed=0), "not held out: it shares dataset seed \\[0\\]"),
    "not a mapping": ([1, 2], "the configuration must be a mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_configuration_is_refused_in_one_line_naming_the_field(case):
    data, message = BAD[case]
    with pytest.raises(SymmpoError, match=message) as err:
        SearchConfig.from_mapping(data)
    assert "\n" not in str(err.value)


def test_overrides_and_run_directories_go_through_the_same_checks(tmp_path):
    config = SearchConfig.from_preset("tiny")
    with pytest.raises(SymmpoError, match="unknown configuration key 'popsize'"):
        config.override(popsize=3)
    with pytest.raises(SymmpoError, match="population"):
        config.override(population=0)
    run = RunDir.create(tmp_path / "r", config)
    (tmp_path / "r" / "config.yaml").write_text(dump_yaml(_edited(cmaes__sigma0=-1.0)))
    with pytest.raises(RunDirError, match="config.yaml: cmaes.sigma0 must be in \\(0, 100\\]"):
        run.read_config()


STUDY_V3 = sorted(name for name in PRESETS if name.startswith("v3-"))


@pytest.mark.parametrize("name", STUDY_V3)
def test_the_v3_study_presets_measure_what_the_fidelity_study_validated(name):
    """2 datasets x 3 seeds at 10 episodes (results/fidelity/v3/: rho >= 0.8 on three columns), >= 1,500
    two-seed-equivalent candidate evaluations (issue 19), and the end-of-run re-score on the claim protocol's 20 held-out seeds."""
    config = SearchConfig.from_preset(name)
    assert all(t.endswith("@v3") for t in config.tasks) and config.train.steps == 1000
    per_dataset = [config.train.dataset_seed_of(s) for s in config.seeds]
    assert sorted(per_dataset) == [0, 0, 0, 3, 3, 3]  # three trainings on each of two fitness datasets
    assert config.train.eval_episodes == 10 and config.train.lr == 3e-4  # the fidelity study's setting
    # bred candidates overstate what trains (re-asked elites, duplicates, invalid genomes train nothing): search 1
    # trained 459 of 32 x 16 bred, 28.7 per generation; the preset must reach 1,500 at that measured rate
    trained_per_generation = 459 / 16
    assert trained_per_generation * config.generations * len(config.seeds) * len(config.tasks) / 2 >= 1500
    assert config.rescore_seeds == tuple(CLAIM_SEEDS) and config.rescore_top >= 3
    assert config.heldout_split == protocol.Split(
        protocol.HELDOUT_DATASET_SEED, tuple(CLAIM_SEEDS), protocol.HELDOUT_RESET_OFFSET, 10
    )
    assert config.grammar == ("ta_mirror" if "-ta-" in name else "mirror")


def _tiny_run_of(name: str) -> SearchConfig:
    """Preset ``name`` at test size: the tiny trainer with the preset's fitness overrides (dataset cycle,
    episodes), 3 candidates, 1 generation, one re-score seed; tasks, fitness seeds, grammar and the held-out split
    are the preset's own."""
    from symmpo.search.space import ObjectiveSpace

    config = SearchConfig.from_preset(name)
    train = {"preset": "tiny", "overrides": dict(config.train_section.overrides)}
    config = config.override(
        train=train, population=3, generations=1, rescore_seeds=[1000], hall_of_fame=2, rescore_top=1
    )
    return config.override(grammar_name=ObjectiveSpace.from_config(config).grammar_name)  # as evolve does


@pytest.mark.parametrize("name", STUDY_V3)
def test_a_tiny_version_of_each_v3_study_preset_runs_a_generation_end_to_end(name, tmp_path, monkeypatch):
    """The real job path (dataset, π_ref, trainer, pruning, re-score), on 8-pair datasets of the preset's own
    tasks in a fresh cache (a full v3 dataset takes minutes to build): every task trains on both fitness datasets
    and is re-scored on the held-out one."""
    import symmpo.train.fitness as fitness
    from symmpo.search.executors import InlineExecutor
    from symmpo.strategies import open_search
    from symmpo.suite.datasets import load_task

    monkeypatch.setenv("SYMMPO_CACHE", str(tmp_path / "cache"))
    used: set[tuple[str, int, int]] = set()

    def small(task, config, seed, cache_dir=None, progress=False):
        used.add((task, seed, config.dataset_seed_of(seed)))
        return load_task(
            task, cache_dir=cache_dir, seed=config.dataset_seed_of(seed), n_pairs=8, prompt_max=5
        )

    monkeypatch.setattr(fitness, "load_dataset", small)
    config = _tiny_run_of(name)
    run = RunDir.create(tmp_path / "run", config)
    result = open_search(config, run, InlineExecutor(), progress=False).run()
    assert run.read_config() == config and config.preset == name
    fitness_side = {(t, s, d) for t, s, d in used if s in config.seeds}
    assert fitness_side == {
        (t, s, config.train.dataset_seed_of(s)) for t in config.tasks for s in config.seeds
    }
    assert {d for _, _, d in fitness_side} == {0, 3}
    assert {(t, s, d) for t, s, d in used if s not in config.seeds} == {
        (t, 1000, protocol.HELDOUT_DATASET_SEED) for t in config.tasks
    }
    best = result.hall_of_fame[0]
    assert best["search_fitness"]["seeds"] == list(config.seeds) and "fresh_fitness" in best
    assert best["search_fitness"]["tasks"] == list(config.tasks)
