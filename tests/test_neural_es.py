"""ES over network weights: resume equals an uninterrupted run; the real path runs end to end on the tiny preset."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import yaml

from symmpo.cli import main
from symmpo.neural.components import FORMAT, NeuralObjective
from symmpo.neural.es import NeuralEvolution, load_best, neural_config
from symmpo.objective import Objective
from symmpo.search.config import SearchConfig
from symmpo.search.executors import InlineExecutor
from symmpo.search.jobs import FitnessJob
from symmpo.search.rundir import RunDir
from symmpo.symbolic.expr import constants

torch.set_num_threads(1)


def toy_job(job: FitnessJob) -> list[dict]:
    """Cheap deterministic fitness: neural vectors near 0.3 score high; the DPO reference scores 0."""
    out = []
    for d in job.objectives:
        if d.get("format") == FORMAT:
            theta = np.asarray(d["theta"])
            out.append({"score": float(-np.sum((theta[:6] - 0.3) ** 2)) + job.seed, "reason": None})
        else:
            out.append({"score": 0.0, "reason": None})
    return out


def toy_config(generations=4):
    config = SearchConfig.from_preset("tiny").override(generations=generations, population=5, seeds=[0, 1])
    return neural_config(config, phi_hidden=[4], g_hidden=[3])


def evolve(path, config, hook=None):
    run = RunDir.open(path) if (path / "config.yaml").exists() else RunDir.create(path, config)
    evo = NeuralEvolution(config, run, InlineExecutor(), job_fn=toy_job, progress=False, on_generation=hook)
    return evo.run(), evo


class Stop(Exception):
    pass


def test_resume_after_interrupt_equals_uninterrupted(tmp_path):
    config = toy_config()
    _, full = evolve(tmp_path / "full", config)

    def stop_after_2(gen, evo):
        if gen == 2:
            raise Stop

    with pytest.raises(Stop):
        evolve(tmp_path / "cut", config, hook=stop_after_2)
    RunDir(tmp_path / "cut").log_evaluations([{"generation": 2, "junk": True}])  # an unfinished generation
    _, resumed = evolve(tmp_path / "cut", config)

    for name in ("hall_of_fame.yaml", "neural/hof_01.yaml", "neural/hof_01.npz"):
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "cut" / name).read_bytes(), name
    assert full.cache == resumed.cache and full.history[-1]["best"] == resumed.history[-1]["best"]

    def strip(p):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(p).read_evaluations()]

    assert strip(tmp_path / "full") == strip(tmp_path / "cut")
    # the search made progress on the toy fitness, and the stored best is the recorded best
    hist = full.history
    assert hist[-1]["hof_best"] >= hist[0]["best"]
    best, entry = load_best(RunDir(tmp_path / "full"))
    assert entry["search_fitness"]["mean"] == pytest.approx(
        np.mean([toy_job(FitnessJob((best.to_dict(),), "t", s, {}))[0]["score"] for s in (0, 1)])
    )
    # many weights -> separable CMA-ES
    assert full.representation.arch.size > 20 and full.strategy.cma.separable is True


def test_resume_refuses_other_settings_and_symbolic_runs(tmp_path, capsys):
    config = toy_config(generations=1)
    evolve(tmp_path / "r", config)
    assert main(["evolve-neural", "--resume", str(tmp_path / "r"), "--psi", "free"]) == 2
    assert "only --generations" in capsys.readouterr().err
    sym = dataclasses.replace(config, kind=None)
    with pytest.raises(Exception, match="not a neural run"):
        NeuralEvolution(sym, RunDir(tmp_path / "r"), InlineExecutor(), job_fn=toy_job, progress=False)


def test_tiny_neural_run_then_distill_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "evolve-neural",
                "--preset",
                "tiny",
                "--generations",
                "1",
                "--population",
                "3",
                "--executor",
                "inline",
                "--out",
                str(run),
                "--no-progress",
                "--phi-hidden",
                "4",
                "--g-hidden",
                "4",
                "--sft",
            ]
        )
        == 0
    )
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["kind"] == "neural" and config["neural"]["phi_hidden"] == [4] and config["neural"]["sft"]
    hof = yaml.safe_load((run / "hall_of_fame.yaml").read_text())["hall_of_fame"]
    assert hof and "fresh_fitness" in hof[0] and hof[0]["w_sft"] > 0
    assert isinstance(NeuralObjective.load(run / hof[0]["file"]), NeuralObjective)
    assert (
        main(
            [
                "distill",
                str(run),
                "--executor",
                "inline",
                "--sr-population",
                "100",
                "--sr-generations",
                "10",
                "--refit-iterations",
                "1",
                "--refit-popsize",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "neural" in out and "distilled" in out
    distilled = Objective.load(run / "distill" / "distilled.yaml")
    assert distilled.is_symbolic and distilled.psi_tied
    # the learned imitation weight is carried over as a positive constant
    assert [c.kind for c in constants(distilled.components["w_sft"])] == ["positive"]
    report = yaml.safe_load((run / "distill" / "report.yaml").read_text())
    assert set(report["scores"]) == {"neural", "distilled_sr", "distilled", "dpo"}
    assert all(math.isfinite(s["mean"]) for s in report["scores"].values())
    for comp in ("phi_inv", "g"):
        chosen = report["components"][comp]["chosen"]
        assert chosen["valid"] and chosen["fidelity"]["r2"] > 0.9
    assert (run / "distill" / "components.png").stat().st_size > 0
    # printed formulas are pruned like the search's, on the log-probabilities of the distilled loss's trainings
    done = report["pruning"]["distilled"]
    assert done["terms"] >= 1 and len(done["trainings"]) == len(config["seeds"]) * len(config["tasks"])
    assert "Dead terms of distilled" in (run / "distill" / "report.md").read_text()
    # a second distillation with other settings goes to its own folder and leaves the first as it was
    first = (run / "distill" / "distilled.yaml").read_bytes()
    wide = ["distill", str(run), "--executor", "inline", "--sr-population", "100", "--sr-generations", "10"]
    wide += ["--refit-iterations", "0", "--z-max", "40", "--out-dir", "distill-z40"]
    assert main(wide) == 0
    assert (run / "distill" / "distilled.yaml").read_bytes() == first
    report = yaml.safe_load((run / "distill-z40" / "report.yaml").read_text())
    assert (
        report["settings"]["z_max"] == 40 and "[−40, 40]" in (run / "distill-z40" / "report.md").read_text()
    )
    for bad, why in ((["--out-dir", "../x"], "plain folder name"), (["--z-max", "0"], "must be positive")):
        assert main(["distill", str(run), *bad]) == 2
        assert why in capsys.readouterr().err


def test_resume_with_the_real_trainer_on_the_tiny_preset(tmp_path):
    """The same guarantee through real fitness jobs (tiny training), interrupted after generation 1 of 2."""
    config = neural_config(
        SearchConfig.from_preset("tiny").override(generations=2, population=3, rescore_seeds=[1000]),
        phi_hidden=[3],
        g_hidden=[3],
    )

    def make(path, hook=None):
        run = RunDir.open(path) if (path / "config.yaml").exists() else RunDir.create(path, config)
        return NeuralEvolution(config, run, InlineExecutor(), progress=False, on_generation=hook)

    make(tmp_path / "full").run()

    def stop(gen, evo):
        if gen == 1:
            raise Stop

    with pytest.raises(Stop):
        make(tmp_path / "cut", stop).run()
    make(tmp_path / "cut").run()
    for name in ("hall_of_fame.yaml", "neural/hof_01.npz"):
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "cut" / name).read_bytes(), name

    def state(p):  # everything but the timings (the log's byte length includes "seconds")
        s = json.loads((p / "checkpoint.json").read_text())["state"]
        for h in s["history"]:
            h.pop("seconds"), h.pop("evals_per_min")
        return s

    assert state(tmp_path / "full") == state(tmp_path / "cut")
