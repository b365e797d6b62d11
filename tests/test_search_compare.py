"""`symmpo compare`: discovered objectives train next to the swept baselines on held-out seeds; resumable."""

from __future__ import annotations

import json

import pytest
import torch

from symmpo import Objective
from symmpo.cli import main
from symmpo.files import dump_yaml, read_jsonl
from symmpo.search.config import SearchConfig
from symmpo.studies import members, mujoco
from symmpo.suite.datasets import DatasetConfig, build_dataset
from symmpo.train import fitness as fitness_mod
from symmpo.train.config import TrainConfig


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    data = build_dataset(DatasetConfig(env="hopper", setting="mixed-0.5", n_pairs=12, horizon=15, seed=0))
    monkeypatch.setattr(
        fitness_mod, "load_dataset", lambda task, config, seed, cache_dir=None, progress=False: data
    )
    monkeypatch.setenv("SYMMPO_CACHE", str(tmp_path / "cache"))
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    chosen = {"dpo": {"params": {"beta": 0.5}, "lr": 3e-4}, "ipo": {"params": {"beta": 0.02}, "lr": None}}
    sweep = {
        "config": mujoco.config_hash(mujoco.fitness_config(TrainConfig.preset("tiny"))),
        "seeds": [0, 1, 2],
        "params": {"hopper-mixed-0.5": chosen},
        "best_baseline": {"hopper-mixed-0.5": "ipo"},
    }
    (bench_dir / "sweep.json").write_text(json.dumps(sweep))
    found = tmp_path / "found.yaml"
    Objective.from_components(phi_inv="log(p) + 0.5*p**2", g="logsigmoid(z)", beta=0.2).save(found)
    return tmp_path, bench_dir, found


def compare_argv(found, bench_dir, out, *extra: str) -> list[str]:
    """``symmpo compare`` of the fixture's file on one held-out task, two held-out seeds, tiny training."""
    return [
        "compare",
        f"mine={found}",
        "--tasks",
        "hopper-mixed-0.5",
        "--seeds",
        "1000",
        "1001",
        "--preset",
        "tiny",
        "--bench-dir",
        str(bench_dir),
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_compare_trains_discovered_with_baselines_and_resumes(setup):
    tmp, bench_dir, found = setup
    argv = compare_argv(found, bench_dir, tmp / "study")
    assert main(argv) == 0
    rows = read_jsonl(tmp / "study" / "compare.jsonl")
    assert sorted({r["label"] for r in rows}) == ["dpo", "ipo", "mine", "sft"]
    assert sorted({r["seed"] for r in rows}) == [1000, 1001]
    assert [r["params"] for r in rows if r["label"] == "dpo"][0] == {"beta": 0.5}
    report = (tmp / "study" / "compare.md").read_text()
    assert "| mine |" in report and "| mine | hopper-mixed-0.5 |" in report
    st = json.loads((tmp / "study" / "stats.json").read_text())
    cell = st["tasks"]["hopper-mixed-0.5"]
    assert cell["objectives"]["mine"]["seeds"] == [1000, 1001]
    # against DPO and against the best baseline the sweep chose on fitness data (ipo), not the table's best
    assert {c["against"] for c in cell["comparisons"] if c["objective"] == "mine"} == {"dpo", "ipo"}
    assert cell["best_baseline"] == "ipo" and cell["best_baseline_from"] == "fitness"
    assert all(c["objective"] == "mine" for c in cell["comparisons"])  # only the discovered one is judged
    # the discovery target (one column, two seeds: not met) and what the file is made of, with its LaTeX
    assert st["target"]["met_by"] == [] and "Target: **not met**." in report
    assert set(st["vs_sft"]["tasks"]) == {"hopper-mixed-0.5"} and "Against SFT-only" in report
    assert "| mine | `sequence, sum` | `yes` | `log(p) + p**2` | `= φ⁻¹` | `logsigmoid(z)` |" in report
    assert "$$ \\ell = " in report
    # a second run finds everything done and trains nothing new
    assert main(argv) == 0
    assert len(read_jsonl(tmp / "study" / "compare.jsonl")) == len(rows)
    # a study from before runs.jsonl keeps its first line, its objectives named once however often re-reported
    (tmp / "study" / "runs.jsonl").unlink()
    for _ in range(2):
        assert main([*argv, "--report"]) == 0
    first = (tmp / "study" / "compare.md").read_text().splitlines()[2]
    assert first.startswith("Produced by") and first.count(" Objectives: ") == 1
    # --references: the file is also tested against ipo, in the same Holm family (here ipo is the best baseline
    # too, so the family keeps one test per pair)
    assert main([*argv, "--report", "--references", "dpo", "IPO"]) == 0
    report = (tmp / "study" / "compare.md").read_text()
    assert "| objective | task | vs dpo | vs ipo | vs best baseline |" in report
    assert main([*argv, "--report", "--references", "nope"]) == 2


def test_compare_refuses_missing_objective_and_sweep(setup, capsys):
    tmp, bench_dir, found = setup
    assert main(["compare", str(tmp / "no-such-run"), "--bench-dir", str(bench_dir)]) == 2
    assert "no objective file" in capsys.readouterr().err
    assert main(["compare", f"x={found}", "--preset", "tiny", "--bench-dir", str(tmp)]) == 2
    assert "no sweep" in capsys.readouterr().err


def test_compare_refuses_overlap_with_the_run_and_the_sweep(setup, capsys):
    tmp, bench_dir, found = setup
    run = tmp / "run"
    (run / "objectives").mkdir(parents=True)
    config = SearchConfig.from_preset("tiny").override(seeds=[0, 7])
    (run / "config.yaml").write_text(dump_yaml(config.to_mapping()))
    hof = run / "objectives" / "hof_01.yaml"
    hof.write_text(found.read_text())
    (run / "hall_of_fame.yaml").write_text(dump_yaml({"hall_of_fame": [{"rank": 1}]}))
    base = ["compare", str(run), "--tasks", "hopper-mixed-0.5", "--preset", "tiny"]
    base += ["--bench-dir", str(bench_dir), "--out", str(tmp / "s"), "--no-progress"]
    assert main([*base, "--seeds", "7", "1001"]) == 2  # a fitness seed of the run
    err = capsys.readouterr().err
    assert "not held out" in err and "training seeds [7]" in err
    assert main([*base, "--seeds", "1001", "--dataset-seed", "0"]) == 2  # the fitness's preference pairs
    assert "dataset seed [0]" in capsys.readouterr().err
    assert main([*base, "--seeds", "1001", "--reset-offset", "0"]) == 2  # the fitness's evaluation resets
    assert "evaluation resets [0, " in capsys.readouterr().err
    assert main([*base, "--seeds", "2", "1001"]) == 2  # a sweep seed
    assert "training seeds [2]" in capsys.readouterr().err
    assert not (tmp / "s" / "compare.jsonl").exists()  # nothing was trained
    (run / "config.yaml").unlink()  # a run without its configuration: the protocol cannot be checked
    assert main([*base, "--seeds", "1001"]) == 2
    assert "without its config.yaml" in capsys.readouterr().err


def test_compare_judges_a_neural_network_held_out_from_its_run(setup, capsys):
    """A neural search's network is a member like a formula: its run's fitness split is refused, it trains on
    the held-out one, and the report names it without drawing it."""
    from symmpo.neural.components import NeuralArch, NeuralObjective

    tmp, bench_dir, _ = setup
    run = tmp / "neural-run"
    (run / "neural").mkdir(parents=True)
    config = SearchConfig.from_preset("tiny").override(seeds=[0, 7])
    (run / "config.yaml").write_text(dump_yaml(config.to_mapping()))
    arch = NeuralArch(sft=True)
    net = NeuralObjective(arch, arch.init(0), "net").save(run / "neural" / "hof_01.yaml")
    out = tmp / "study"
    assert main([*compare_argv(net, bench_dir, out), "--seeds", "7", "1001"]) == 2
    assert "training seeds [7]" in capsys.readouterr().err
    assert main(compare_argv(net, bench_dir, out)) == 0
    assert {r["label"] for r in read_jsonl(out / "compare.jsonl")} == {"dpo", "ipo", "mine", "sft"}
    assert "Not drawn (neural components, no closed form): mine." in (out / "compare.md").read_text()


def test_compare_tune_gives_discovered_files_the_baselines_grid(setup):
    """--tune: the file's beta x learning rate chosen on the column's fitness split (the sweep's seeds), then
    used on the held-out split; Walker2d would read Hopper's choice."""
    tmp, bench_dir, found = setup
    out = tmp / "tuned"
    argv = compare_argv(found, bench_dir, out, "--tune")
    assert main(argv) == 0
    tune = read_jsonl(out / "tune.jsonl")
    assert {r["seed"] for r in tune} == {0, 1, 2}  # the sweep's (fitness) seeds, never held-out ones
    assert len({r["label"] for r in tune}) == len(members.SWEEP_FACTORS) * len(members.SWEEP_LRS)
    rows = [r for r in read_jsonl(out / "compare.jsonl") if r["label"] == "mine"]
    assert {r["seed"] for r in rows} == {1000, 1001}
    chosen = {(r["params"]["beta_factor"], r["lr"]) for r in rows}
    assert len(chosen) == 1
    f, lr = chosen.pop()
    total = {lab: sum(r["score"] for r in tune if r["label"] == lab) for lab in {r["label"] for r in tune}}
    assert total[f"mine[beta×{f:g},lr={lr:g}]"] == max(total.values())  # the best on fitness data
    assert "mine beta×" in (out / "tune.md").read_text()


def test_compare_reads_and_tunes_on_a_sweep_over_several_datasets(setup, monkeypatch, capsys):
    """A sweep made with --dataset-seeds (the search's fitness: datasets 0 and 3) is found only with the same
    option, --tune then trains on those datasets, and the held-out side stays on dataset 1."""
    tmp, bench_dir, found = setup
    fit = mujoco.fitness_config(TrainConfig.preset("tiny"))
    sweep = json.loads((bench_dir / "sweep.json").read_text())
    multi = mujoco.config_hash(type(fit).from_dict({**fit.to_dict(), "dataset_seeds": [0, 3]}))
    (bench_dir / "sweep.json").write_text(json.dumps({**sweep, "config": multi}))
    out = tmp / "multi"
    assert main(compare_argv(found, bench_dir, out)) == 2  # a sweep over other data is not this one
    assert "no sweep" in capsys.readouterr().err
    seen: list[int] = []
    real = fitness_mod.load_dataset

    def load(task, config, seed, cache_dir=None, progress=False):
        seen.append(config.dataset_seed_of(seed))
        return real(task, config, seed, cache_dir)

    monkeypatch.setattr(fitness_mod, "load_dataset", load)
    assert main(compare_argv(found, bench_dir, out, "--tune", "--dataset-seeds", "0", "3")) == 0
    tune = read_jsonl(out / "tune.jsonl")
    assert {r["seed"] for r in tune} == {0, 1, 2} and set(seen) == {0, 3, 1}  # fitness 0, 3; held out 1
    assert {r["seed"] for r in read_jsonl(out / "compare.jsonl")} == {1000, 1001}
    assert "dataset seed 1," in (out / "compare.md").read_text()


def test_the_discovery_target_needs_two_fitness_columns_and_no_transfer_loss():
    """A discovered loss must beat the column's best baseline (p_Holm and P(improvement)) on two fitness-
    environment columns and lose on no Walker2d column."""
    import numpy as np

    from symmpo.studies.compare import target_check
    from symmpo.train.table_stats import table_stats

    tasks = ["hopper-mixed-0.5@v3", "hopper-noisy-0.2@v3", "walker2d-mixed-0.5@v3"]
    rng = np.random.default_rng(0)

    def st_for(walker_shift: float) -> dict:
        rows = []
        for t in tasks:
            for seed in range(1000, 1020):
                base = rng.normal(40, 5)
                shift = walker_shift if t.startswith("walker2d") else 10.0
                rows += [
                    {"task": t, "seed": seed, "label": "rpo", "score": base + rng.normal(0, 1)},
                    {"task": t, "seed": seed, "label": "won", "score": base + shift + rng.normal(0, 1)},
                    {"task": t, "seed": seed, "label": "tie", "score": base + rng.normal(0, 1)},
                ]
        best = dict.fromkeys(tasks, "rpo")
        return table_stats(
            rows, ["rpo", "won", "tie"], tasks, ["rpo"], judged=["won", "tie"], chosen_best=best
        )

    target = target_check(st_for(0.0), ["won", "tie"], tasks)
    assert target["met_by"] == ["won"]
    assert target["objectives"]["won"]["wins"] == tasks[:2]  # walker2d is a transfer column, never a win
    assert target["objectives"]["tie"] == {"wins": [], "transfer_losses": [], "met": False}
    lost = target_check(st_for(-10.0), ["won"], tasks)["objectives"]["won"]
    assert lost["transfer_losses"] == ["walker2d-mixed-0.5@v3"] and not lost["met"]


def test_against_sft_names_the_columns_where_no_objective_beats_imitation():
    """Every objective against SFT-only, Holm over that family: a transfer column where nothing beats SFT-only
    is named next to the target, whose verdict it does not change."""
    import numpy as np

    from symmpo.studies.compare import against_sft, sft_lines, target_check, target_lines
    from symmpo.train.table_stats import table_stats

    tasks = ["hopper-mixed-0.5@v3", "walker2d-mixed-0.5@v3"]
    rng = np.random.default_rng(1)
    rows = []
    for t in tasks:
        po_gain = 10.0 if t.startswith("hopper") else -10.0  # PO helps on Hopper, hurts on Walker2d
        for seed in range(1000, 1020):
            base = rng.normal(40, 5)
            rows += [
                {"task": t, "seed": seed, "label": "sft", "score": base + rng.normal(0, 1)},
                {"task": t, "seed": seed, "label": "dpo", "score": base + po_gain + rng.normal(0, 1)},
                {"task": t, "seed": seed, "label": "mine", "score": base + rng.normal(0, 1)},
            ]
    labels = ["sft", "dpo", "mine"]
    vs = against_sft(rows, labels, tasks)
    assert vs["n_comparisons"] == 4  # dpo and mine on each column; SFT is not tested against itself
    assert vs["tasks"][tasks[0]] == {"n": 2, "beats": ["dpo"], "loses": [], "po_helps": True}
    assert vs["tasks"][tasks[1]] == {"n": 2, "beats": [], "loses": ["dpo"], "po_helps": False}
    st = table_stats(
        rows, labels, tasks, ["sft", "dpo"], judged=["mine"], chosen_best=dict.fromkeys(tasks, "dpo")
    )
    target = target_check(st, ["mine"], tasks, vs)
    assert target["transfer_without_po_gain"] == [tasks[1]]
    assert target["objectives"]["mine"]["transfer_losses"] == []  # "ties" dpo there, which is below SFT
    assert any("a weak check" in line for line in target_lines(target))
    assert target_check(st, ["mine"], tasks)["transfer_without_po_gain"] == []  # not asked: nothing named
    assert "- walker2d-mixed-0.5@v3: 0 of 2 beat SFT-only (none); 1 lose to it (dpo)" in sft_lines(vs)


def test_the_report_reads_a_baseline_at_its_current_choice_only():
    """After a re-sweep moves a baseline's choice, compare.jsonl holds its rows at both settings under one
    label; the report keeps those of the current choice (and every row of SFT and of discovered files)."""
    from symmpo.studies.sweep import of_choices

    def r(label: str, params: dict, lr: float | None, task: str = "hopper-mixed-0.5") -> dict:
        return {"task": task, "seed": 1000, "label": label, "params": params, "lr": lr}

    rows = [
        r("rpo", {"beta": 0.1, "rpo_alpha": 1.0}, 1e-4),  # the old choice
        r("rpo", {"beta": 0.1, "rpo_alpha": 0.3}, 1e-4),  # the wider sweep's
        r("rpo", {"beta": 0.1, "rpo_alpha": 1.0}, 1e-4, "walker2d-mixed-0.5"),  # reads Hopper's: old
        r("sft", {}, None),
        r("mine", {"beta_factor": 3.0}, 1e-3),
    ]
    choice = {"rpo": {"params": {"beta": 0.1, "rpo_alpha": 0.3}, "lr": 1e-4}}
    kept = of_choices(rows, lambda task: choice)
    # Walker2d holds rpo at one (older) setting only: nothing to mix, kept (tables made under an older rule)
    assert kept == rows[1:]
