"""`symmpo fidelity` on a tiny configuration, the policy-shift measure and `symmpo data levels --json`."""

from __future__ import annotations

import json

import pytest
import torch

from symmpo import Objective
from symmpo.cli import main
from symmpo.studies import fidelity
from symmpo.studies.members import BASELINES
from symmpo.suite.datasets import DatasetConfig, build_dataset
from symmpo.train import fitness as fitness_mod
from symmpo.train.config import TrainConfig
from symmpo.train.shift import held_out_states, policy_shift
from symmpo.train.trainer import train_population


@pytest.fixture()
def tiny_data(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    data = {
        s: build_dataset(DatasetConfig(env="hopper", setting="mixed-0.5", n_pairs=12, horizon=15, seed=s))
        for s in (0, 1, 3)
    }
    monkeypatch.setattr(
        fitness_mod,
        "load_dataset",
        lambda task, config, seed, cache_dir=None, progress=False: data[
            config.dataset_seed if config.dataset_seed is not None else 0
        ],
    )
    monkeypatch.setenv("SYMMPO_CACHE", str(tmp_path / "cache"))
    return data


def test_policy_shift_is_zero_for_the_reference_and_positive_after_training(tiny_data):
    config = TrainConfig.preset("tiny", steps=20, lr=1e-2)
    dataset, reference = fitness_mod.prepare("hopper-mixed-0.5", 0, config)
    states = held_out_states(tiny_data[1], n=64)
    assert states.shape == (64, 11)
    same = policy_shift(reference.policy.replicate(2), reference.policy, states)
    assert all(s["kl"] == pytest.approx(0.0, abs=1e-6) and s["greedy_changed"] == 0.0 for s in same)
    _, policy = train_population(
        [Objective.named("dpo", beta=1.0)], dataset, reference, config, 0, return_policy=True
    )
    moved = policy_shift(policy, reference.policy, states)[0]
    assert moved["kl"] > 1e-4
    assert 0.0 <= moved["greedy_changed_dim"] <= moved["greedy_changed"] <= 1.0


def test_fidelity_command_writes_spearman_with_ci(tiny_data, tmp_path, capsys):
    out = tmp_path / "fid"
    argv = [
        "fidelity",
        "--task",
        "hopper-mixed-0.5",
        "--samples",
        "2",
        "--settings",
        "6:3e-4",
        "--preset",
        "tiny",
    ]
    argv += [
        "--fitness-seeds",
        "2",
        "--fitness-episodes",
        "1",
        "--heldout-seeds",
        "2",
        "--heldout-episodes",
        "1",
    ]
    argv += ["--out", str(out)]
    assert main(argv) == 0
    res = json.loads((out / "fidelity.json").read_text())
    assert len(res["variants"]) == 2  # 1 and 2 fitness seeds x 1 episode count
    v = res["variants"][-1]
    assert v["n_objectives"] == len(BASELINES) + 2 + 1  # baselines (plain ones included), samples, sft
    assert -1.0 <= v["spearman"] <= 1.0 and len(v["ci"]) == 2
    assert v["core_seconds_per_candidate"] > 0 and "dpo" in v["shift"]
    # the search's view: the top quarter by fitness, and the fitness winner's regression to held out
    w = v["winner"]
    assert w["fitness"] == max(v["fitness_scores"].values())
    assert w["heldout"] == v["heldout_scores"][w["label"]]
    assert w["regression"] == pytest.approx(w["fitness"] - w["heldout"])
    assert w["shortfall_to_heldout_best"] >= 0 and w["heldout_rank"] >= 1
    assert v["top_quarter"]["n_objectives"] == max(3, v["n_objectives"] // 4)
    assert res["variants"][0]["core_seconds_per_candidate"] < v["core_seconds_per_candidate"]
    assert (out / "fidelity_vs_cost.png").stat().st_size > 0 and (out / "scatter.png").stat().st_size > 0
    raw = (out / "raw.json").read_text()
    assert main(argv) == 0  # resumed: nothing retrained
    assert (out / "raw.json").read_text() == raw
    assert "spearman" in capsys.readouterr().out

    # a second fitness dataset (seed 3) added to the finished study: only its fitness runs are trained
    before = json.loads(raw)
    assert main([*argv, "--fitness-datasets", "2"]) == 0
    after = json.loads((out / "raw.json").read_text())
    entry = after["steps=6,lr=0.0003"]
    assert entry["fitness"] == before["steps=6,lr=0.0003"]["fitness"]
    assert entry["heldout"] == before["steps=6,lr=0.0003"]["heldout"]
    assert list(entry["fitness_datasets"]) == ["3"]
    res = json.loads((out / "fidelity.json").read_text())
    assert [(v["fitness_datasets"], v["fitness_seeds"]) for v in res["variants"]] == [
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 2),
    ]
    one, two = res["variants"][1], res["variants"][3]
    other = fidelity.variant_scores(entry["fitness_datasets"]["3"], 2, 1, 1)
    for lab, x in two["fitness_scores"].items():
        assert x == pytest.approx((one["fitness_scores"][lab] + other["scores"][lab]) / 2)
    assert two["core_seconds_per_candidate"] > one["core_seconds_per_candidate"]
    assert two["heldout_scores"] == one["heldout_scores"]


def test_fidelity_refuses_a_bad_dataset_count(capsys):
    assert main(["fidelity", "--fitness-datasets", "9"]) == 2
    assert "--fitness-datasets must be 1..4" in capsys.readouterr().err


def test_data_levels_json_parses(capsys):
    assert main(["data", "levels", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["env"] for r in rows} >= {"hopper", "halfcheetah", "walker2d"}
    for r in rows:
        assert {"env", "level", "normalized_mean", "normalized_se", "episodes"} <= set(r)
        assert isinstance(r["normalized_mean"], float) and r["episodes"] >= 2
