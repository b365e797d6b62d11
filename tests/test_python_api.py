"""``symmpo.search(...)``: a search run from Python on the tiny preset, its hall of fame as objects; the strategy
registry that the commands and ``--resume`` share."""

from __future__ import annotations

import math

import pytest
import torch

import symmpo
import symmpo.search.loop  # importing a submodule must not unbind the callable
from symmpo.cli import main
from symmpo.errors import SymmpoError
from symmpo.objective import Objective
from symmpo.search.config import SearchConfig
from symmpo.search.rundir import RunDir, RunDirError
from symmpo.strategies import METHODS, method, method_of

torch.set_num_threads(1)


def test_search_from_python_returns_the_hall_of_fame(tmp_path):
    out = tmp_path / "run"
    found = symmpo.search("tiny", generations=1, population=3, rescore_seeds=[1000], out=out)
    hof = RunDir(out).read_hall_of_fame()
    assert len(found) == len(hof) >= 1
    best = found[0]
    assert isinstance(best.objective, Objective)
    assert best.fitness == hof[0]["search_fitness"]["mean"] and math.isfinite(best.fitness)
    assert best.heldout == hof[0]["fresh_fitness"]["mean"]
    assert best.latex() == best.objective.latex() and "\\" in best.latex()
    source = best.to_torch_source()
    namespace: dict = {}
    exec(compile(source, "<export>", "exec"), namespace)  # the export is self-contained Python
    assert callable(namespace["loss"])
    assert [f.rank for f in found] == list(range(1, len(found) + 1))
    assert RunDir(out).best(1).file == out / "objectives" / "hof_01.yaml"
    # the same run directory continues (nothing left to do) and reads back the same entries
    again = symmpo.search("tiny", out=out)
    assert [(f.fitness, f.formula) for f in again] == [(f.fitness, f.formula) for f in found]
    with pytest.raises(SymmpoError, match="gp run, not a neural one"):
        symmpo.search("tiny", strategy="neural", out=out)


def test_one_registry_names_every_strategy_and_the_command_that_resumes_it(tmp_path, capsys):
    tiny = SearchConfig.from_preset("tiny")
    assert (
        tiny.kind is None and method_of(tiny) is METHODS["gp"]
    )  # runs written before neural runs had no kind
    neural = METHODS["neural"].configure(tiny)
    assert neural.kind == "neural" and method_of(neural).command == "evolve-neural"
    with pytest.raises(SymmpoError, match="unknown search strategy 'cma'; known: gp, neural"):
        method("cma")
    run = RunDir.create(tmp_path / "n", neural)
    assert main(["evolve", "--resume", str(run.path)]) == 2  # started by evolve-neural: it says so
    assert f"symmpo evolve-neural --resume {run.path}" in capsys.readouterr().err


def test_best_names_what_is_missing(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(RunDirError, match="no hall_of_fame.yaml"):
        run.best()
    (tmp_path / "hall_of_fame.yaml").write_text("hall_of_fame:\n- {rank: 1}\n")
    with pytest.raises(RunDirError, match="rank must be in 1..1"):
        run.best(2)
    with pytest.raises(RunDirError, match="not been re-scored"):
        run.best(1)
