"""`symmpo evolve` refuses bad input in one line (exit status 2) and loses nothing."""

from __future__ import annotations

from symmpo.cli import main
from symmpo.commands.evolve import report
from symmpo.search.config import SearchConfig
from symmpo.search.rundir import RunDir


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse rejects unknown choices itself
        code = int(exc.code)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_unknown_preset(capsys):
    code, text = run_cli(["evolve", "--preset", "enormous"], capsys)
    assert code == 2 and "invalid choice" in text


def test_unknown_grammar_creates_no_run(tmp_path, capsys):
    code, text = run_cli(
        ["evolve", "--grammar", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "run")], capsys
    )
    assert code == 2 and "none.yaml" in text
    assert not (tmp_path / "run").exists()


def test_resume_of_a_missing_or_foreign_directory(tmp_path, capsys):
    code, text = run_cli(["evolve", "--resume", str(tmp_path / "nope")], capsys)
    assert code == 2 and "does not exist" in text
    (tmp_path / "junk").mkdir()
    code, text = run_cli(["evolve", "--resume", str(tmp_path / "junk")], capsys)
    assert code == 2 and "not a symmpo run directory" in text


def test_resume_refuses_a_changed_configuration(tmp_path, capsys):
    RunDir.create(tmp_path / "r", SearchConfig.from_preset("tiny"))
    code, text = run_cli(["evolve", "--resume", str(tmp_path / "r"), "--population", "9"], capsys)
    assert code == 2 and "only --generations" in text


def test_existing_run_directory_is_not_overwritten(tmp_path, capsys):
    RunDir.create(tmp_path / "r", SearchConfig.from_preset("tiny"))
    code, text = run_cli(["evolve", "--preset", "tiny", "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "already holds a run" in text


def test_bad_numbers(capsys):
    code, text = run_cli(["evolve", "--generations", "0"], capsys)
    assert code == 2 and "--generations" in text
    code, text = run_cli(["evolve", "--seeds", "1000"], capsys)
    assert code == 2 and "fresh" in text


def test_report_puts_best_next_to_dpo():
    hof = [
        {
            "rank": 1,
            "size": 9,
            "formula": "phi_inv=log(p)",
            "latex": r"\ell = x",
            "search_fitness": {"mean": 50.0},
            "fresh_fitness": {"mean": 41.25, "se": 2.5},
        },
        {
            "rank": 2,
            "size": 7,
            "formula": "phi_inv=log(p) + p",
            "latex": r"\ell = y",
            "search_fitness": {"mean": 49.0},
            "fresh_fitness": {"mean": 44.0, "se": 1.0},
        },
    ]
    text = report(
        hof,
        {"mean": 40.0, "se": 1.5, "seeds": [1000, 1001]},
        SearchConfig.from_preset("tiny"),
        60.0,
    )
    best_line = next(line for line in text.splitlines() if "best discovered" in line)
    # the search's choice (rank 1 by fitness), with its held-out score; never the best held-out re-score,
    # which would report a number chosen on the same seeds it claims (winner's curse)
    assert "41.2 ± 2.5" in best_line and "rank 1" in best_line
    assert "40.0 ± 1.5" in next(line for line in text.splitlines() if "DPO" in line)
    assert r"LaTeX:   \ell = x" in text


def test_dataset_seeds_reach_the_fitness_and_a_heldout_one_is_refused(tmp_path, capsys):
    import argparse

    from symmpo.commands._runs import new_config

    args = argparse.Namespace(preset="tiny", dataset_seeds=[0, 3], fidelity_rungs=None, promote=None)
    for key in ("tasks", "generations", "population", "seeds", "rescore_seeds", "allow_heldout_env", "seed"):
        setattr(args, key, None)
    config = new_config(args)
    assert config.train.dataset_seeds == (0, 3) and config.train_section.preset == "tiny"
    assert config.heldout_train.dataset_seeds == ()
    argv = ["evolve", "--preset", "tiny", "--seeds", "0", "1", "--dataset-seeds", "1", "3"]
    code, text = run_cli([*argv, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "dataset seed [1]" in text and not (tmp_path / "run").exists()
