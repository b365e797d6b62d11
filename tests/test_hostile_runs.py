"""Issue 22's reproducers: run directories are untrusted, command-line values are bounded before any work,
the checker holds for every tau and every scale, and every tree entering Objective is validated.

Searches here train nothing: ``train_objectives`` is replaced by a deterministic score per objective, so a
tiny run and its tampered resumes take seconds. Every failure must be exit status 2 with one stderr line.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symmpo import Objective
from symmpo.cli import main
from symmpo.errors import FormulaError, ObjectiveError, SymmpoError
from symmpo.search.config import REQUIRED
from symmpo.symbolic.expr import Const, Node, Var
from symmpo.symbolic.parser import parse
from symmpo.symbolic.safeyaml import load_text
from symmpo.symbolic.tree_checks import check_formula

ROOT = Path(__file__).resolve().parents[1]


def _fake_train(executor, objectives, tasks, seeds, train, chunk, *, job_fn=None, load=None, on_job=None):
    """A score per objective from its digest: the search's bookkeeping runs, no policy is trained."""
    out = []
    for o in objectives:
        h = zlib.crc32(json.dumps(o, sort_keys=True, default=str).encode()) % 1000 / 10
        out.append({"scores": {f"{t}/{s}": h for t in tasks for s in seeds}, "reasons": []})
    return out


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    import symmpo.search.loop as loop

    monkeypatch.setattr(loop, "train_objectives", _fake_train)


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code)
    return code, capsys.readouterr().err


def _refused(argv: list[str], capsys) -> str:
    code, err = _cli(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A finished tiny run (fake training), copied by each test before tampering."""
    import symmpo.search.loop as loop

    saved = loop.train_objectives
    loop.train_objectives = _fake_train
    try:
        run = tmp_path_factory.mktemp("base") / "R"
        assert (
            main(["evolve", "--preset", "tiny", "--out", str(run), "--no-progress", "--executor", "inline"])
            == 0
        )
    finally:
        loop.train_objectives = saved
    return run


def _copy(base: Path, tmp: Path) -> Path:
    run = tmp / "T"
    shutil.copytree(base, run)
    return run


def _resume(run: Path) -> list[str]:
    return ["evolve", "--resume", str(run), "--generations", "4", "--no-progress", "--executor", "inline"]


# ----- 1. writes stay inside the run directory --------------------------------------------------------------
@pytest.mark.parametrize("name", ["evaluations.jsonl", "hall_of_fame.yaml", "checkpoint.json", "config.yaml"])
def test_a_symlinked_run_file_is_refused_and_its_target_untouched(base_run, tmp_path, capsys, name):
    run = _copy(base_run, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text((run / name).read_text())  # a target the resume could parse, so only the link is wrong
    before = victim.read_bytes()
    (run / name).unlink()
    (run / name).symlink_to(victim)
    err = _refused(_resume(run), capsys)
    assert "symbolic link" in err
    assert victim.read_bytes() == before


@pytest.mark.parametrize("folder", ["objectives", "plots"])
def test_a_symlinked_output_folder_is_refused(base_run, tmp_path, capsys, folder):
    run = _copy(base_run, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(run / folder)
    (run / folder).symlink_to(elsewhere)
    assert "symbolic link" in _refused(_resume(run), capsys)
    assert list(elsewhere.iterdir()) == []


def test_an_untampered_resume_still_works(base_run, tmp_path, capsys):
    run = _copy(base_run, tmp_path)
    code, err = _cli(_resume(run), capsys)
    assert code == 0, err
    assert json.loads((run / "checkpoint.json").read_text())["state"]["generation"] == 4


# ----- 2. run-directory files validated before use ----------------------------------------------------------
def _edit_config(run: Path, **changes) -> None:
    config = yaml.safe_load((run / "config.yaml").read_text())
    config.update(changes)
    (run / "config.yaml").write_text(yaml.safe_dump(config))


def _edit_checkpoint(run: Path, edit) -> None:
    payload = json.loads((run / "checkpoint.json").read_text())
    edit(payload)
    (run / "checkpoint.json").write_text(json.dumps(payload))


TAMPERS = {
    "population -5": lambda r: _edit_config(r, population=-5),
    "generations -3": lambda r: _edit_config(r, generations=-3),
    "seeds a string": lambda r: _edit_config(r, seeds="0"),
    "unknown key": lambda r: _edit_config(r, surprise=1),
    "config deep": lambda r: (r / "config.yaml").write_text("a: " + "[" * 3000 + "]" * 3000),
    "config duplicate key": lambda r: (r / "config.yaml").write_text(
        (r / "config.yaml").read_text() + "seed: 3\n"
    ),
    "beta sexagesimal": lambda r: (r / "config.yaml").write_text(
        (r / "config.yaml").read_text().replace("beta: 0.1", "beta: 1:30")
    ),
    "config missing": lambda r: (r / "config.yaml").unlink(),
    "evaluations_bytes -1": lambda r: _edit_checkpoint(r, lambda p: p.update(evaluations_bytes=-1)),
    "evaluations_bytes huge": lambda r: _edit_checkpoint(r, lambda p: p.update(evaluations_bytes=10**12)),
    "state missing": lambda r: _edit_checkpoint(r, lambda p: p.pop("state")),
    "population missing": lambda r: _edit_checkpoint(r, lambda p: p["state"].pop("population")),
    "rng wrong type": lambda r: _edit_checkpoint(r, lambda p: p["state"].update(rng=5)),
    "rng state garbage": lambda r: _edit_checkpoint(r, lambda p: p["state"]["rng"].update(state="x")),
    "hall of fame garbage": lambda r: _edit_checkpoint(r, lambda p: p["state"].update(hall_of_fame=[[1]])),
    "checkpoint deep": lambda r: (r / "checkpoint.json").write_text("[" * 100_000),
    "checkpoint a fifo": lambda r: ((r / "checkpoint.json").unlink(), os.mkfifo(r / "checkpoint.json")),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_tampered_resumes_end_in_one_line(base_run, tmp_path, capsys, case):
    run = _copy(base_run, tmp_path)
    TAMPERS[case](run)
    _refused(_resume(run), capsys)


def test_a_grammar_that_is_a_fifo_is_refused_without_hanging(base_run, tmp_path, capsys):
    run = _copy(base_run, tmp_path)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    _edit_config(run, grammar=str(fifo))
    assert "not a regular file" in _refused(_resume(run), capsys)
    assert "not a regular file" in _refused(["grammar", "check", str(fifo)], capsys)


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
CONFIG_KEYS = [*REQUIRED, "grammar", "heldout", "gp"]
STATE_KEYS = [
    "generation",
    "rng",
    "cache",
    "history",
    "final",
    "population",
    "hall_of_fame",
    "cmaes",
    "tuned",
]


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    where=st.sampled_from(["config", "state"]), key=st.sampled_from(CONFIG_KEYS + STATE_KEYS), value=JSONISH
)
def test_property_any_tampered_field_ends_in_success_or_one_line(
    base_run, tmp_path_factory, capsys, where, key, value
):
    tmp = tmp_path_factory.mktemp("prop")
    run = _copy(base_run, tmp)
    victim = tmp / "victim.txt"
    victim.write_text("keep")
    (run / "plots" / "fitness.png").unlink()
    (run / "plots" / "fitness.png").symlink_to(victim) if key == "chunk" else None  # also a planted link
    if where == "config":
        _edit_config(run, **{key: value})
    else:
        _edit_checkpoint(run, lambda p: p["state"].update({key: value}))
    code, err = _cli(_resume(run), capsys)
    assert code in (0, 2), err
    assert "Traceback" not in err, err
    if code == 2:
        assert err.count("\n") == 1, err
    assert victim.read_text() == "keep"
    assert sorted(p.name for p in tmp.iterdir()) == ["T", "victim.txt"]  # nothing written beside the run


# ----- 5. command-line values bounded before work --------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["evolve", "--seeds", "-1"],
        ["evolve", "--search-seed", "-1"],
        ["evolve", "--rescore-seeds", "-5"],
        ["evolve", "--generations", "1000000000000"],
        ["evolve", "--population", "1"],
        ["evolve", "--workers", "10000"],
        ["train", "--objective", "dpo", "--task", "hopper-mixed-0.5", "--steps", "0"],
        ["train", "--objective", "dpo", "--task", "hopper-mixed-0.5", "--lr", "-1"],
        ["train", "--objective", "dpo", "--task", "hopper-mixed-0.5", "--seeds", "0"],
        ["train", "--objective", "dpo", "--task", "hopper-mixed-0.5", "--eval-episodes", "0"],
        ["train", "--objective", "cdpo", "--task", "hopper-mixed-0.5", "--param", "eps=0.5"],
        ["train", "--objective", "cdpo", "--task", "hopper-mixed-0.5", "--param", "eps=0.9"],
    ],
)
def test_out_of_range_values_are_refused_at_once(capsys, argv):
    _refused(argv, capsys)


def test_output_and_cache_paths_are_checked_up_front(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "not a folder" in _refused(["evolve", "--preset", "tiny", "--out", str(a_file)], capsys)
    argv = ["train", "--objective", "dpo", "--task", "hopper-mixed-0.5", "--cache-dir", str(a_file)]
    assert "not a folder" in _refused(argv, capsys)


def test_more_workers_than_cores_needs_oversubscribe(tmp_path, capsys):
    many = str((os.cpu_count() or 1) + 1)
    assert "--oversubscribe" in _refused(["evolve", "--preset", "tiny", "--workers", many], capsys)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    option=st.sampled_from(["--generations", "--population", "--seeds", "--rescore-seeds", "--search-seed"]),
    value=st.integers(-(10**13), 10**13) | st.text(max_size=6),
)
def test_property_command_line_values_are_accepted_or_refused_in_one_line(
    tmp_path_factory, monkeypatch, capsys, option, value
):
    """A value either opens a run (its configuration then passes the same validation) or is refused in one
    line; no search runs here (``drive`` is replaced)."""
    import symmpo.commands._runs as runs

    monkeypatch.setattr(runs, "drive", lambda args, command, run_dir, body: 0)
    out = tmp_path_factory.mktemp("cli") / "run"
    argv = ["evolve", "--preset", "tiny", "--out", str(out), f"{option}={value}"]
    code, err = _cli(argv, capsys)
    assert code in (0, 2), err
    if code == 2:
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert not (out / "config.yaml").exists()


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.run(
        f"{sys.executable} -m symmpo.cli show dpo | head -c 20",
        shell=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert len(proc.stdout) == 20 and "Traceback" not in proc.stderr and "Error" not in proc.stderr, (
        proc.stderr
    )


def test_yaml_duplicate_keys_and_sexagesimal_numbers_are_refused():
    with pytest.raises(SymmpoError, match="duplicate key"):
        load_text("beta: 0.1\nbeta: 0.2\n", "x")
    assert load_text("beta: 1:30\n", "x") == {"beta": "1:30"}  # text, so a number field refuses it
    with pytest.raises(ObjectiveError, match="must be a number"):
        Objective.named("dpo", beta="1:30")


# ----- 3. the checker: every tau, every scale, folded constants ------------------------------------------------
@pytest.mark.parametrize(
    "formula,component",
    [
        ("log(p) - 3*p*sin(6.2832*tau)**2", "phi_inv"),  # decreasing only away from tau in {0, 1/2, 1}
        ("logsigmoid(z) - 1e-12*z", "g"),  # decreasing for z > 27.6, far below the values' rounding
        ("log(p) - 1.000000001*p", "phi_inv"),  # decreasing for p > 1 - 1e-9
        ("logsigmoid(z*(1 - 3*sin(6.2832*tau)**2))", "g"),
        ("1e-20*(tau - 0.5)", "w_sft"),  # negative below 1/2, at a scale far below 1
    ],
)
def test_checker_rejects_decreases_at_any_tau_and_scale(formula, component):
    v = check_formula(formula, component)
    assert v.status == "invalid", v.summary()
    assert all(p.witness for p in v.failures()), v.summary()


@pytest.mark.parametrize("formula", ["log(p)*(1 + tau)", "log(p) + tau*p", "log(p) - p"])
def test_checker_still_accepts_valid_tau_components(formula):
    assert check_formula(formula, "phi_inv").valid


@pytest.mark.parametrize(
    "formula,match",
    [
        ("log(p) + 2**1000", "outside"),
        ("log(p) + exp(100)", "outside"),
        ("log(p) + sqrt(-1)", "undefined"),
        ("log(p) + \u0661", "unexpected character"),
        ("log(p) + \u0968.5", "unexpected character"),
    ],
)
def test_folded_constants_obey_literal_limits_and_digits_are_ascii(formula, match):
    with pytest.raises(FormulaError, match=match):
        parse(formula, {"p", "tau"})
    assert "symmpo check: error" in _subprocess_check(formula)


def _subprocess_check(formula: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "symmpo.cli", "check", formula, "--component", "phi_inv"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


# ----- 4. trees built in Python pass the same validation -------------------------------------------------------
def _chain(n: int):
    t = Var("p")
    for _ in range(n):
        t = Node("neg", (t,))
    return t


@pytest.mark.parametrize(
    "components,match",
    [
        ({"phi_inv": Var("z")}, "variable 'z'"),
        ({"phi_inv": Node("log", ())}, "takes 1 argument"),
        ({"phi_inv": Node("nope", (Var("p"),))}, "unknown operator"),
        ({"phi_inv": _chain(2000)}, "deeper than"),
        ({"g": Node("mul", (Const(1e13), Var("z")))}, "outside"),
        ({"phi_inv": Node("add", (Node("log", (Var("p"),)), Const(math.nan)))}, "not finite"),
        ({"w_po": Const(-1.0)}, "non-negative"),
        ({"phi_inv": Node("log", (Var("p"), "x"))}, "takes 1 argument"),
        ({"phi_inv": Node("log", ("x",))}, "not a tree node"),
    ],
)
def test_python_built_trees_end_in_one_symmpo_error(components, match):
    with pytest.raises(SymmpoError, match=match):
        Objective.from_components(**components)
