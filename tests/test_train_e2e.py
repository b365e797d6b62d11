"""End to end on real (tiny) MuJoCo data: suite dataset → BC reference → PO population → greedy evaluation,
and the `symmpo train` / `symmpo bench` commands (resumable) on the tiny preset."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from symmpo import Objective
from symmpo.cli import main
from symmpo.files import read_jsonl
from symmpo.suite.datasets import DatasetConfig, build_dataset
from symmpo.train import TrainConfig, train_population
from symmpo.train import fitness as fitness_mod
from symmpo.train.fitness import evaluate_reference, make_evaluator
from symmpo.train.reference import get_reference
from symmpo.train.testing import NaNAfter

CFG = TrainConfig.preset("tiny")


@pytest.fixture(scope="module")
def tiny_data():
    torch.set_num_threads(1)
    return {
        s: build_dataset(DatasetConfig(env="hopper", setting=s, n_pairs=12, horizon=15, seed=0))
        for s in ("clean", "noisy-0.2")
    }


@pytest.fixture()
def patched(tiny_data, monkeypatch, tmp_path):
    """Commands load the tiny datasets instead of building the full ones; caches go to tmp."""
    monkeypatch.setattr(
        fitness_mod,
        "load_dataset",
        lambda task, config, seed, cache_dir=None, progress=False: tiny_data[task.split("-", 1)[1]],
    )
    monkeypatch.setenv("SYMMPO_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_population_on_mujoco(tiny_data, tmp_path):
    ds = tiny_data["clean"]
    ref = get_reference(ds, 0, CFG, cache_dir=tmp_path)
    ev = make_evaluator("hopper-clean", CFG)
    objs = [Objective.named(n) for n in ("dpo", "ipo", "simpo", "orpo")] + [NaNAfter(0.5)]
    res = train_population(objs, ds, ref, CFG, seed=0, evaluator=ev)
    assert [r.name for r in res] == ["dpo", "ipo", "simpo", "orpo", "nan_after"]
    for r in res[:4]:
        assert r.alive and math.isfinite(r.score) and len(r.returns) == CFG.eval_episodes
    assert res[4].score == -math.inf and "non-finite" in res[4].reason
    sft = evaluate_reference(ref, ev)
    assert math.isfinite(sft.score)
    again = train_population(objs[:1], ds, ref, CFG, seed=0, evaluator=ev)
    assert again[0].score == pytest.approx(res[0].score, abs=1e-6)


def test_train_command(patched, capsys):
    out = patched / "train"
    rc = main(
        [
            "train",
            "--objective",
            "dpo",
            "--task",
            "hopper-clean",
            "--seeds",
            "2",
            "--preset",
            "tiny",
            "--param",
            "beta=0.2",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "dpo on hopper-clean: normalized score" in text and "±" in text
    record = json.loads((out / "record.json").read_text())
    assert len(record["seeds"]) == 2 and record["objective_spec"]["beta"] == 0.2
    assert (out / "learning_curve.png").stat().st_size > 0


def test_bench_resumable(patched, monkeypatch, capsys):
    out = patched / "bench"
    args = [
        "bench",
        "--preset",
        "tiny",
        "--envs",
        "hopper",
        "--settings",
        "clean",
        "noisy-0.2",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--no-progress",
        # one of each kind (every baseline trains in tests/test_objective_plain.py): beta, lam, no scale
        # parameter (learning rate alone), a plain baseline outside MPO; SLiC is an alias
        "--baselines",
        "dpo",
        "orpo",
        "sft_chosen",
        "nca",
        "SLiC",
    ]
    assert main([*args, "--sweep"]) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    names = {"dpo", "orpo", "sft_chosen", "nca", "hinge"}
    n = len(names) + 1  # rows per (task, seed): the baselines and sft
    # tuned per column on the fitness split; the best baseline (SFT included) chosen there, not on the table
    assert set(sweep["params"]) == {"hopper-clean", "hopper-noisy-0.2"}
    assert set(sweep["params"]["hopper-noisy-0.2"]) == names
    assert sweep["best_baseline"]["hopper-clean"] in names | {"sft"}
    assert sweep["seeds"] == [0, 1]
    assert {r["seed"] for r in read_jsonl(out / "sweep.jsonl")} == {0, 1}
    assert main(args) == 0
    rows = read_jsonl(out / "bench.jsonl")
    assert len(rows) == 2 * 2 * n  # tasks x seeds x (baselines + sft)
    assert {r["seed"] for r in rows} == {1000, 1001}  # the table is held out from the sweep
    st = json.loads((out / "stats.json").read_text())
    assert st["config"]["dataset_seed"] == 1 and st["config"]["eval_reset_offset"] == 50000
    cell = st["tasks"]["hopper-clean"]
    assert set(cell["objectives"]) == {"sft", *names}
    assert cell["best_baseline"] == sweep["best_baseline"]["hopper-clean"]
    assert cell["best_baseline_from"] == "fitness"
    assert all(c["paired_sd"] >= 0 and 0 <= c["prob_improvement"] <= 1 for c in cell["comparisons"])
    assert all(c["verdict"] in ("beats", "ties", "loses") for c in cell["comparisons"])
    assert st["n_comparisons"] == sum(len(st["tasks"][t]["comparisons"]) for t in st["tasks"])
    table = (out / "table.md").read_text()
    assert (
        "| sft |" in table and "**" in table and (out / "table.csv").exists() and (out / "table.png").exists()
    )
    assert "Plain baselines, outside the MPO family" in table and "| nca |" in table

    # an interrupted bench: drop the last cell's rows (and tear the last line) -> only that cell is redone
    lines = (out / "bench.jsonl").read_text().splitlines()
    (out / "bench.jsonl").write_text("\n".join(lines[:-n]) + "\n" + lines[-n][:20])
    calls = []
    real = fitness_mod.get_reference
    monkeypatch.setattr(
        fitness_mod,
        "get_reference",
        lambda ds, seed, *a, **k: calls.append((ds.meta["setting"], seed)) or real(ds, seed, *a, **k),
    )
    assert main(args) == 0
    assert calls == [("noisy-0.2", 1001)]
    assert len(read_jsonl(out / "bench.jsonl")) == 4 * n


def test_train_command_objective_file(patched, capsys):
    path = patched / "my_loss.yaml"
    Objective.named("cdpo", beta=0.3).save(path)
    out = patched / "train_file"
    rc = main(
        [
            "train",
            "--objective",
            str(path),
            "--task",
            "hopper-clean",
            "--seeds",
            "1",
            "--preset",
            "tiny",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "my_loss on hopper-clean" in capsys.readouterr().out
    assert json.loads((out / "record.json").read_text())["objective_spec"]["beta"] == 0.3
    assert main(["train", "--objective", str(path), "--task", "hopper-clean", "--param", "eps=0.2"]) == 2


def test_train_command_with_separate_sft_data(patched, capsys):
    """--sft-levels: π_ref cloned from a separate pool of the named levels (cached once, by that data)."""
    out = patched / "train-sft"
    argv = ["train", "--objective", "dpo", "--task", "hopper-clean", "--seeds", "1", "--preset", "tiny"]
    assert main([*argv, "--sft-levels", "weak", "medium", "--out", str(out), "--no-progress"]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["config"]["sft_levels"] == ["weak", "medium"]
    assert len(list((patched / "cache" / "reference").glob("sft-*.pt"))) == 1
    assert main([*argv, "--sft-levels", "nope", "--out", str(out), "--no-progress"]) == 2
    assert "unknown behaviour level" in capsys.readouterr().err


def test_tuning_columns_and_the_transfer_environment(tmp_path):
    """Walker2d is never tuned on: its columns read Hopper's choices, and a sweep over it is refused."""
    from symmpo.errors import SymmpoError
    from symmpo.studies import bench, mujoco

    assert mujoco.tuned_on("walker2d-noisy-0.2") == "hopper-noisy-0.2"
    assert mujoco.tuned_on("halfcheetah-clean") == "halfcheetah-clean"
    assert mujoco.sweep_tasks(["hopper"], ["clean", "mixed-0.5"]) == ["hopper-clean", "hopper-mixed-0.5"]
    with pytest.raises(SymmpoError, match="transfer environment"):
        mujoco.sweep_tasks(["hopper", "walker2d"], ["clean"])
    cfg = TrainConfig.preset("tiny")
    choice = {"dpo": {"params": {"beta": 0.3}, "lr": 1e-4}}
    sweep = {
        "config": mujoco.config_hash(mujoco.fitness_config(cfg)),
        "seeds": [0, 1],
        "params": {"hopper-clean": choice},
        "best_baseline": {"hopper-clean": "dpo"},
    }
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    params, seeds = bench.chosen_params(tmp_path, cfg, require=True)
    assert params("walker2d-clean") == choice and seeds == [0, 1]
    assert bench.chosen_best(tmp_path, cfg, ["walker2d-clean", "hopper-clean", "hopper-bt"]) == {
        "walker2d-clean": "dpo",
        "hopper-clean": "dpo",
    }
    with pytest.raises(SymmpoError, match="no hopper-bt"):
        params("hopper-bt")
    # a suite-v2 sweep (one choice per environment, on clean data) still serves every column of it
    (tmp_path / "sweep.json").write_text(json.dumps({**sweep, "params": {"hopper": choice}}))
    params, _ = bench.chosen_params(tmp_path, cfg, require=True)
    assert params("hopper-mixed-0.5") == choice and params("walker2d-bt") == choice
    # a sweep over two datasets (`symmpo bench --sweep --dataset-seeds 0 3`) serves only that configuration
    multi = dataclasses.replace(cfg, dataset_seeds=(0, 3))
    (tmp_path / "sweep.json").write_text(
        json.dumps({**sweep, "config": mujoco.config_hash(mujoco.fitness_config(multi))})
    )
    assert bench.read_sweep(tmp_path, cfg) is None and bench.read_sweep(tmp_path, multi) is not None
    assert bench.datasets_of(mujoco.fitness_config(multi)).startswith("dataset seeds [0, 3]")
    assert mujoco.heldout_config(multi) == mujoco.heldout_config(cfg)  # the table's rows are unchanged


def test_cells_on_two_workers_give_the_rows_one_gives(tiny_data, patched):
    """``--workers``: the cells of a study fan out to a process pool; every row is the same as in one process
    (only the seconds differ), so resuming on another number of workers mixes nothing."""
    from symmpo.search.executors import LocalExecutor
    from symmpo.studies.members import Member
    from symmpo.studies.mujoco import run_populations

    members = [Member("dpo", "dpo", {"beta": 0.1}), Member("orpo[lr=0.001]", "orpo", {"lam": 0.1}, 1e-3)]
    tasks, seeds = ["hopper-clean", "hopper-noisy-0.2"], [0, 1]

    def rows(out, executor=None):
        run_populations(
            out, "sweep", tasks, seeds, members, CFG, with_sft=True, progress=False, executor=executor
        )
        timing = {"train_seconds", "eval_seconds"}
        # compared as JSON text: a one-episode s.e. is NaN, equal here though NaN != NaN
        return {
            (r["task"], r["seed"], r["label"]): json.dumps(
                {k: v for k, v in r.items() if k not in timing}, sort_keys=True
            )
            for r in read_jsonl(out / "sweep.jsonl")
        }

    one = rows(patched / "one")
    # fork: the workers inherit this test's tiny datasets (spawned ones would build the full suite's)
    two = rows(patched / "two", LocalExecutor(2, start_method="fork"))
    assert len(one) == len(tasks) * len(seeds) * (len(members) + 1)
    assert two == one
