"""``symmpo transfer llm`` without the model: the table's cells, resumption, the held-out check and the report
(the PO runs are replaced by a fake with known scores; tests/test_llm_model.py runs a real one)."""

from __future__ import annotations

import json

import pytest

from symmpo import protocol
from symmpo.cli import main
from symmpo.errors import SymmpoError
from symmpo.files import read_jsonl
from symmpo.llm import po
from symmpo.llm.po import LLMConfig
from symmpo.studies import llm as study
from symmpo.studies.members import resolve_objectives, sweep_members

SEEDS = [1000, 1001, 1002]
GAIN = {"dpo": 20.0, "simpo": 0.5, "mine": 1.0}
WOBBLE = {"dpo": 0.1, "simpo": 0.3, "mine": 0.2}  # per seed, so paired differences vary


@pytest.fixture
def fake_runs(monkeypatch):
    calls = {"base": 0, "run": [], "reference": []}

    def base(cfg, cache_dir=None):
        calls["base"] += 1
        return {"score": 30.0, "eval_seconds": 1.0, "alive": True, "reason": ""}

    def run(objective, setting, seed, cfg, lr=None, cache_dir=None):
        calls["run"].append((objective.name, setting, seed))
        wobble = (seed - 1000) ** 2 * WOBBLE[objective.name]
        return {
            "dataset": f"data-{setting}",
            "score": 30.0 + GAIN[objective.name] + wobble,
            "train_seconds": 2.0,
            "steps": 16,
            "exact": 0.1,
            "finished": 0.9,
            "answer_tokens": 6.0,
            "alive": True,
            "reason": "",
        }

    monkeypatch.setattr(po, "evaluate_base", base)
    monkeypatch.setattr(po, "run", run)
    monkeypatch.setattr(study, "_dataset", lambda cfg, setting, cache_dir: f"data-{setting}")
    monkeypatch.setattr(
        study, "_reference", lambda cfg, setting, cache_dir: calls["reference"].append(setting)
    )
    return calls


def test_table_runs_every_cell_once_and_reports(tmp_path, fake_runs):
    cfg = LLMConfig().heldout()
    members = resolve_objectives(["dpo", "simpo"])
    study.run_table(tmp_path, cfg, ["clean", "mixed-0.5"], SEEDS, members, log=lambda s: None)
    rows = [json.loads(x) for x in (tmp_path / "transfer.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3 * 3 and fake_runs["base"] == 1  # greedy: one evaluation of the instruct model
    assert len(fake_runs["run"]) == 12
    assert fake_runs["reference"] == ["clean", "mixed-0.5"]  # built once per dataset, before the runs
    study.run_table(tmp_path, cfg, ["clean", "mixed-0.5"], SEEDS, members, log=lambda s: None)
    assert len(fake_runs["run"]) == 12  # resumed: nothing ran twice
    assert fake_runs["reference"] == ["clean", "mixed-0.5"]  # and no reference pass for nothing
    text = study.write_report(tmp_path, cfg, ["dpo", "simpo"], [], header="Produced by a test.")
    assert "| instruct |" in text and "| dpo |" in text and "sort-mixed-0.5" in text
    st = json.loads((tmp_path / "stats.json").read_text())
    clean = st["tasks"]["sort-clean"]["objectives"]
    assert clean["dpo"]["iqm"] == pytest.approx(50.1, abs=0.2) and clean["instruct"]["iqm"] == pytest.approx(
        30.0
    )
    verdicts = {
        (c["objective"], c["against"]): c["verdict"] for c in st["tasks"]["sort-clean"]["comparisons"]
    }
    assert verdicts[("dpo", "instruct")] == "beats"  # tested against the model without PO
    assert verdicts[("simpo", "dpo")] == "loses"  # and against the column's best baseline
    assert st["references"] == ["instruct", "dpo"]  # DPO too: the MuJoCo tables' reference
    assert "against `instruct` (no PO) and DPO and against the column's best baseline" in text
    # what the answers look like, and the format-only bar of the sort task (its unsorted echo)
    assert "| dpo | 10 % · 90 % · 6.0 | 10 % · 90 % · 6.0 |" in text
    assert "Shortcut: answering with the prompt's digits repeated unsorted" in text
    for name in ("table.md", "table.csv", "table.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_held_out_check():
    cfg = LLMConfig()
    with pytest.raises(protocol.ProtocolError, match="fitness"):
        study.check_heldout(cfg, SEEDS)
    with pytest.raises(protocol.ProtocolError, match="training seeds"):
        study.check_heldout(cfg.heldout(), [0, 1000])
    study.check_heldout(cfg.heldout(), SEEDS)


def test_config_hash_ignores_the_device_only():
    cfg = LLMConfig()
    assert cfg.hash() == LLMConfig(device="cuda").hash() != LLMConfig(lr=1e-4).hash()
    assert LLMConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.data_config("mixed-0.5").name == "sort-mixed-0.5"


def test_cli_refuses_one_seed_and_a_table_without_its_sweep(tmp_path, capsys):
    assert main(["transfer", "llm", "--seeds", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
    assert main(["transfer", "llm", "--out", str(tmp_path)]) == 2  # the baselines must be tuned first
    assert "no LLM sweep" in capsys.readouterr().err
    assert main(["transfer", "llm", "--sweep", "--no-sweep", "--out", str(tmp_path)]) == 2
    assert main(["transfer", "llm", "--no-sweep", "--workers", "4096", "--out", str(tmp_path)]) == 2
    assert "--oversubscribe" in capsys.readouterr().err  # more workers than cores, refused before any work
    assert not (tmp_path / "transfer.jsonl").exists()


def test_sweep_tunes_named_baselines_per_column_on_fitness(tmp_path, fake_runs, monkeypatch):
    """The sweep runs on the fitness split (dataset seed 0, fitness prompts, seeds 0..N-1), chooses each named
    baseline's scale x learning rate per column, and the held-out table then uses that choice; objective
    files keep their parameters and are never tuned."""
    from symmpo import Objective

    real_run = po.run  # the fixture's fake
    # the score depends on beta and the learning rate, so the choice is known: dpo best at beta 0.3, lr 3e-4
    monkeypatch.setattr(
        po,
        "run",
        lambda objective, setting, seed, cfg, lr=None, cache_dir=None: {
            **real_run(objective, setting, seed, cfg, lr, cache_dir),
            "score": 40.0 - abs(objective.beta - (0.03 if setting == "clean" else 0.3)) * 10 + lr * 1e4,
            "eval_split": cfg.eval_split,
        },
    )
    hof = tmp_path / "mine.yaml"
    Objective.named("dpo", beta=0.2).renamed("mine").save(hof)
    cfg = LLMConfig().heldout()
    members = resolve_objectives(["dpo", f"mine={hof}"])
    grid = sweep_members(["dpo"], (0.3, 1.0, 3.0), (1e-4, 3e-4))
    chosen = study.run_sweep(tmp_path, cfg, ["clean", "mixed-0.5"], [0, 1], grid, log=lambda s: None)
    sweep = [json.loads(x) for x in (tmp_path / "sweep.jsonl").read_text().splitlines()]
    assert {r["eval_split"] for r in sweep if r["label"] != study.BASE} == {"fitness"}
    assert {r["seed"] for r in sweep} == {0, 1} and {r["config"] for r in sweep} == {cfg.fitness().hash()}
    assert len([r for r in sweep if r["label"] != study.BASE]) == 2 * 2 * 3 * 2  # columns x seeds x grid
    assert chosen["sort-clean"]["dpo"] == {"params": {"beta": 0.03}, "lr": 3e-4}
    assert chosen["sort-mixed-0.5"]["dpo"] == {"params": {"beta": 0.3}, "lr": 3e-4}
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["best_baseline"] == {"sort-clean": "dpo", "sort-mixed-0.5": "dpo"}
    assert saved["edges"]["sort-clean"] == ["dpo"]  # the lowest beta and highest learning rate of the grid
    assert "On an edge of the grid: dpo." in (tmp_path / "sweep.md").read_text()

    tuned, sweep_seeds, best = study.chosen_members(tmp_path, cfg, members, require=True)
    assert sweep_seeds == [0, 1] and best["sort-clean"] == "dpo"
    with pytest.raises(protocol.ProtocolError, match="of the sweep"):
        study.check_heldout(cfg, [0, 1000], sweep_seeds)
    study.run_table(tmp_path, cfg, ["clean", "mixed-0.5"], SEEDS, tuned, log=lambda s: None)
    rows = [json.loads(x) for x in (tmp_path / "transfer.jsonl").read_text().splitlines()]
    assert {r["eval_split"] for r in rows if r["label"] != study.BASE} == {"heldout"}
    by = {(r["task"], r["label"]): (r["params"], r["lr"]) for r in rows}
    assert by["sort-clean", "dpo"] == ({"beta": 0.03}, 3e-4)
    assert by["sort-mixed-0.5", "dpo"] == ({"beta": 0.3}, 3e-4)
    assert by["sort-clean", "mine"] == ({}, cfg.lr)  # the file as written, at the configuration's rate
    text = study.write_report(tmp_path, cfg, ["dpo", "mine"], ["mine"], chosen_best=best)
    assert "choice on the fitness split" in text and "sort-clean: dpo beta=0.03, lr=0.0003." in text
    assert "**An exploration, not a claim:**" in text  # fewer than the 20 paired seeds of a claim
    st = json.loads((tmp_path / "stats.json").read_text())
    assert st["tasks"]["sort-clean"]["best_baseline_from"] == "fitness"
    # the validity target in its own Holm family: DPO (here also the fitness choice) against the model without PO
    v = st["validity"]
    assert v["best_po"] == "dpo" and v["reference"] == study.BASE
    assert {(c["task"], c["objective"], c["against"]) for c in v["tests"]} == {
        ("sort-clean", "dpo", study.BASE),
        ("sort-mixed-0.5", "dpo", study.BASE),
    }
    clean = next(c for c in v["tests"] if c["task"] == "sort-clean")
    assert ("**met**" in text) == (clean["diff"] > 0 and clean["p_holm"] < 0.05)
    other = LLMConfig(lr=1e-3).heldout()  # another configuration: its sweep is missing
    with pytest.raises(SymmpoError, match="no LLM sweep"):
        study.chosen_members(tmp_path, other, members, require=True)


def test_an_interrupt_keeps_the_finished_runs_and_a_rerun_resumes(tmp_path, fake_runs, monkeypatch, capsys):
    fake = po.run

    def stop_at_the_third(objective, setting, seed, cfg, lr=None, cache_dir=None):
        if len(fake_runs["run"]) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the third run
        return fake(objective, setting, seed, cfg, lr, cache_dir)

    monkeypatch.setattr(po, "run", stop_at_the_third)
    argv = ["transfer", "llm", "--no-sweep", "--objectives", "dpo", "simpo", "--settings", "clean"]
    argv += ["--seeds", "2", "--executor", "inline", "--out", str(tmp_path)]
    assert main(argv) == 130
    assert "rerun the same command to resume" in capsys.readouterr().out
    rows = [json.loads(x) for x in (tmp_path / "transfer.jsonl").read_text().splitlines()]
    labels = sorted(r["label"] for r in rows)
    assert labels == ["dpo", "instruct", "instruct", "simpo"]  # each stored as it ended
    monkeypatch.setattr(po, "run", fake)
    assert main(argv) == 0
    ran = [seed for _, _, seed in fake_runs["run"]]
    assert ran == [1000, 1000, 1001, 1001]  # the rerun ran only the two runs that were missing
    # both invocations are on record with their wall times; a --report adds none and keeps the list
    assert len(read_jsonl(tmp_path / "runs.jsonl")) == 2
    assert main([*argv, "--report"]) == 0
    header = (tmp_path / "table.md").read_text().splitlines()[2]
    assert header.startswith("Produced by: `symmpo ") and header.count(" min)") == 2
    assert len(read_jsonl(tmp_path / "runs.jsonl")) == 2


def test_a_retuned_baseline_is_listed_at_its_current_choice():
    """After a widened sweep the table re-runs a baseline at its new choice; its last rows are what counts."""
    old = {"task": "sort-clean", "label": "dpo", "params": {"beta": 0.1}, "lr": 3e-4, "path": None}
    new = {**old, "lr": 1e-3}
    text = study.tuning([old, new], {"sort-clean": "dpo"})
    assert "sort-clean: dpo beta=0.1, lr=0.001." in text and "lr=0.0003" not in text
