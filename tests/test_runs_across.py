"""``symmpo runs``: several searches side by side, read from their run directories (nothing trained).

The runs here train nothing either: ``train_objectives`` is replaced by a deterministic score per objective,
so a tiny search takes seconds and the table's numbers can be checked against the files they come from.
"""

from __future__ import annotations

import json
import math
import shutil
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from symmpo.cli import main
from symmpo.errors import SymmpoError
from symmpo.search.across import read_run, report_lines, table_lines


def _fake_train(executor, objectives, tasks, seeds, train, chunk, *, job_fn=None, load=None, on_job=None):
    """A score per objective from its digest, reported per (task, seed) job as the real trainer does."""
    scores = [zlib.crc32(json.dumps(o, sort_keys=True, default=str).encode()) % 1000 / 10 for o in objectives]
    for t in tasks:
        for s in seeds:
            if on_job is not None:
                on_job(
                    SimpleNamespace(task=t, seed=s), list(range(len(scores))), [{"score": h} for h in scores]
                )
    return [{"scores": {f"{t}/{s}": h for t in tasks for s in seeds}, "reasons": []} for h in scores]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two finished tiny searches with different search seeds."""
    import symmpo.search.loop as loop

    saved = loop.train_objectives
    loop.train_objectives = _fake_train
    root = tmp_path_factory.mktemp("runs")
    try:
        for name, seed in (("A", "0"), ("B", "1")):
            argv = ["evolve", "--preset", "tiny", "--search-seed", seed, "--out", str(root / name)]
            assert main([*argv, "--no-progress", "--executor", "inline"]) == 0
    finally:
        loop.train_objectives = saved
    return root / "A", root / "B"


def test_the_counts_are_the_evaluation_log_s_search_rows_without_dpo(runs):
    run = runs[0]
    rows = [json.loads(x) for x in (run / "evaluations.jsonl").read_text().splitlines() if x.strip()]
    search = [r for r in rows if r["phase"] == "search" and r["origin"] != "reference"]
    facts = read_run(run)
    assert facts.finished and facts.done == facts.generations
    assert facts.trainings == len(search) > 0
    assert facts.candidates == len({r["key"] for r in search})
    assert facts.trainings == facts.candidates * len(facts.tasks) * len({r["seed"] for r in search})


def test_the_re_scores_and_the_fitness_are_the_run_s_own(runs):
    import yaml

    run = runs[0]
    hof = yaml.safe_load((run / "hall_of_fame.yaml").read_text())
    checkpoint = json.loads((run / "checkpoint.json").read_text())["state"]
    facts = read_run(run)
    assert facts.heldout == (
        hof["hall_of_fame"][0]["fresh_fitness"]["mean"],
        hof["hall_of_fame"][0]["fresh_fitness"]["se"],
    )
    assert facts.reference_heldout == (hof["reference"]["mean"], hof["reference"]["se"])
    assert facts.best_fitness == checkpoint["history"][-1]["hof_best"]
    assert facts.heldout_top == max(
        e["fresh_fitness"]["mean"] for e in hof["hall_of_fame"] if "fresh_fitness" in e
    )
    assert math.isnan(facts.dead_share)  # fake training records no log-probabilities: nothing was judged


def test_the_dead_share_is_the_checkpoint_s_count(runs, tmp_path):
    run = tmp_path / "D"
    shutil.copytree(runs[0], run)
    path = run / "checkpoint.json"
    data = json.loads(path.read_text())
    data["state"]["pruning"] = {"candidates": 5, "terms": 8, "dead": 2}
    path.write_text(json.dumps(data))
    facts = read_run(run)
    assert facts.dead_share == 0.25
    assert "| 25 % |" in table_lines([facts])[2]


def test_the_report_has_a_row_per_run_and_the_leaders_features(runs):
    facts = [read_run(r, top=2) for r in runs]
    table = table_lines(facts)
    assert len(table) == 2 + len(runs)
    assert table[2].startswith("| A |") and table[3].startswith("| B |")
    assert "(running)" not in "\n".join(table)
    text = "\n".join(report_lines(facts))
    assert "| A rank 1 |" in text and "| B rank 2 |" in text  # the anatomy rows
    assert "| feature | most common | shared by |" in text


def test_a_run_still_going_is_marked_running(runs, tmp_path):
    run = tmp_path / "C"
    shutil.copytree(runs[0], run)
    path = run / "checkpoint.json"
    data = json.loads(path.read_text())
    data["state"]["final"] = None
    path.write_text(json.dumps(data))
    facts = read_run(run)
    assert not facts.finished
    assert "(running)" in table_lines([facts])[2]


def test_the_command_writes_the_page_and_the_plot(runs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["runs", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    page = (out / "runs.md").read_text()
    assert page in capsys.readouterr().out
    assert (out / "runs.png").stat().st_size > 0


def test_bad_runs_are_refused_in_one_line(runs, tmp_path, capsys):
    twin = tmp_path / "x" / "A"
    shutil.copytree(runs[0], twin)
    assert main(["runs", str(runs[0]), str(twin)]) == 2
    assert "share a folder name" in capsys.readouterr().err
    empty = tmp_path / "E"
    shutil.copytree(runs[0], empty)
    (empty / "checkpoint.json").unlink()
    with pytest.raises(SymmpoError, match="no generation has finished"):
        read_run(empty)
    assert main(["runs", str(tmp_path / "missing")]) == 2


def test_a_neural_run_is_shown_without_a_closed_form(tmp_path, monkeypatch):
    import symmpo.search.loop as loop

    monkeypatch.setattr(loop, "train_objectives", _fake_train)
    run = tmp_path / "N"
    argv = ["evolve-neural", "--preset", "tiny", "--generations", "1", "--population", "3", "--out", str(run)]
    assert main([*argv, "--no-progress", "--executor", "inline", "--phi-hidden", "2", "--g-hidden", "2"]) == 0
    facts = read_run(run)
    assert facts.kind == "neural" and facts.grammar == "networks" and facts.candidates > 0
    text = "\n".join(report_lines([facts]))
    assert "| N | hopper-mixed-0.5 | networks |" in text


def test_the_machines_a_run_ran_on_are_shown(runs, tmp_path):
    from symmpo.machine import fingerprint

    facts = read_run(runs[0])
    assert facts.machines == (fingerprint(),)  # recorded with every generation
    assert table_lines([facts])[2].endswith("| 1 |")
    run = tmp_path / "M"
    shutil.copytree(runs[0], run)
    path = run / "checkpoint.json"
    data = json.loads(path.read_text())
    data["state"]["history"][0]["machine"] = "Other CPU · AVX2 · torch 2.13.0+cpu"
    del data["state"]["history"][1]["machine"]  # a generation from before machines were recorded
    path.write_text(json.dumps(data))
    facts = read_run(run)
    assert table_lines([facts])[2].endswith("| 2 + unrecorded |")
    assert "M ran on Other CPU · AVX2" in "\n".join(report_lines([facts]))
