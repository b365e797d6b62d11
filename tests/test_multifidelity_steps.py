"""Successive halving whose first rung trains fewer PO steps (``fidelity.steps``), optionally at its own learning
rate (``fidelity.lr``), on the toy space of tests/test_search_loop.py: a cheap rung's scores are kept apart from
the run's own, promotion retrains as the run trains, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import argparse
import math

import pytest
import yaml

from symmpo.errors import SymmpoError
from symmpo.search.jobs import FitnessJob
from symmpo.search.multifidelity import Fidelity, rekey, score_key
from symmpo.search.rundir import RunDir
from tests.test_search_fidelity import SEEDS, Stop, noisy_job, run
from tests.test_search_loop import toy_config

FULL = 6  # the tiny preset's PO steps
CHEAP = 3
LR, FAST = 3e-4, 1e-3  # the tiny preset's learning rate, a cheap rung's
TASK = "hopper-mixed-0.5"


def stepped_job(job: FitnessJob) -> list[dict]:
    """The noisy toy fitness, shifted by a steps- and rate-dependent amount (so a cheap score is told from a full
    one)."""
    out = noisy_job(job)
    for rec in out:
        rec["score"] += 0.01 * job.train.steps + 100 * job.train.lr
    return out


def config(steps=(CHEAP, FULL), rungs=(1, 3), lr=None, **overrides):
    fidelity = {"rungs": list(rungs), "promote": 0.34}
    if steps is not None:
        fidelity["steps"] = list(steps)
    if lr is not None:
        fidelity["lr"] = list(lr)
    return toy_config(seeds=SEEDS, fidelity=fidelity, **{"generations": 4, **overrides})


def test_steps_are_checked():
    ok = config(steps=(CHEAP, FULL), rungs=(3, 3))  # same seeds, more steps: a rung of its own
    assert ok.fidelity.rungs == (3, 3) and ok.fidelity.tag(0) == str(CHEAP) and ok.fidelity.tag(1) is None
    assert ok.to_mapping()["fidelity"] == {"rungs": [3, 3], "promote": 0.34, "steps": [CHEAP, FULL]}
    with pytest.raises(SymmpoError, match="one PO step count per rung"):
        config(steps=(CHEAP,))
    with pytest.raises(SymmpoError, match="not decrease"):
        config(steps=(FULL, CHEAP))
    with pytest.raises(SymmpoError, match="not decrease"):
        config(steps=(FULL, FULL), rungs=(3, 3))  # a rung that raises nothing
    with pytest.raises(SymmpoError, match=r"end at the run's PO steps \(6\)"):
        config(steps=(CHEAP, 5))
    with pytest.raises(SymmpoError, match="each of fidelity.steps"):
        config(steps=(0, FULL))
    assert config(steps=None, rungs=(3, 3), lr=(FAST, LR)).fidelity.lr == (FAST, LR)  # a rate alone
    with pytest.raises(SymmpoError, match="one learning rate per rung"):
        config(lr=(FAST,))
    with pytest.raises(SymmpoError, match=r"fidelity.lr must end at the run's learning rate \(0.0003\)"):
        config(lr=(FAST, FAST))
    with pytest.raises(SymmpoError, match="each rung changing one"):
        config(steps=None, rungs=(3, 3), lr=(LR, LR))
    with pytest.raises(SymmpoError, match="each of fidelity.lr"):
        config(lr=(-1e-3, LR))


def test_expected_trainings_count_a_fresh_rung():
    assert Fidelity((1, 2), 0.25, (250, 1000)).bind(1000, LR).expected_trainings() == pytest.approx(1.5)
    assert Fidelity((1, 3), 0.33, (1000, 1000)).bind(1000, LR).expected_trainings() == pytest.approx(1.66)
    assert Fidelity((2, 2), 0.5, (250, 1000)).bind(1000, LR).expected_trainings() == pytest.approx(3)
    assert Fidelity((2, 2), 0.5, None, (FAST, LR)).bind(1000, LR).expected_trainings() == pytest.approx(3)


def test_a_rung_s_tag_names_what_it_changes():
    fid = Fidelity((1, 2, 2), 0.5, (250, 1000, 1000), (FAST, FAST, LR)).bind(1000, LR)
    assert [fid.tag(i) for i in range(3)] == ["250:0.001", "1000:0.001", None]
    assert [fid.overrides(i) for i in range(3)] == [{"steps": 250, "lr": FAST}, {"lr": FAST}, {}]
    assert Fidelity((1, 2), 0.5, (250, 1000)).bind(1000, LR).tag(0) == "250"
    assert fid == Fidelity((1, 2, 2), 0.5, (250, 1000, 1000), (FAST, FAST, LR))  # the binding is derived
    with pytest.raises(SymmpoError, match=r"fidelity.steps must end at the run's PO steps \(300\)"):
        Fidelity((1, 2), 0.5, (250, 1000)).bind(300, LR)


def test_rekey_keeps_a_cheap_rung_apart():
    res = {"scores": {"t/0": 1.0}, "occurring": {"t/0": [1]}, "reasons": ["t/0: non-finite loss"]}
    assert rekey(res, None) is res
    assert rekey(res, 250) == {
        "scores": {"t/0@250": 1.0},
        "occurring": {"t/0@250": [1]},
        "reasons": ["t/0@250: non-finite loss"],
    }
    assert score_key("t", 0) == "t/0" and score_key("t", 0, 250) == "t/0@250"


@pytest.mark.parametrize("lr", [None, (FAST, LR)], ids=["steps", "steps-and-lr"])
def test_a_cheap_first_rung_trains_fewer_steps_and_promotes_to_full(tmp_path, lr):
    cfg = config(lr=lr)
    tag = f"{CHEAP}" if lr is None else f"{CHEAP}:{FAST:g}"
    _, evo = run(tmp_path / "r", cfg, stepped_job)
    log = [r for r in RunDir(tmp_path / "r").read_evaluations() if r["phase"] == "search"]
    cheap = [r for r in log if r.get("steps") == CHEAP]
    full = [r for r in log if "steps" not in r and "lr" not in r]
    assert all(r.get("lr") == (None if lr is None else FAST) for r in cheap)
    assert cheap and full and len(cheap) + len(full) == len(log)
    assert {r["seed"] for r in cheap} == {0}  # rung 1: one seed, cheap
    ref = evo.reference.key
    # every candidate trained on the cheap rung; the promoted (and the reference) trained afresh on all seeds
    promoted = {r["key"] for r in full} - {ref}
    assert promoted and promoted < {r["key"] for r in cheap}
    for r in full:
        assert (r["key"], r["seed"]) not in {(x["key"], x["seed"]) for x in full if x is not r}
    for h in evo.history:
        first, second = h["per_rung"]
        assert second == Fidelity((1, 3), 0.34).promoted_count(first)
        gen = [r for r in log if r["generation"] == h["generation"]]
        assert h["seed_trainings"] == len(gen)
    for key, entry in evo.cache.items():
        scores = entry["scores"]
        assert f"{TASK}/0@{tag}" in scores
        if not all(math.isfinite(v) for v in scores.values()):
            continue
        if key in promoted or key == ref:  # the fitness is the flat one: the full-step seeds only
            full_scores = [scores[f"{TASK}/{s}"] for s in SEEDS]
            assert entry["fitness"] == pytest.approx(sum(full_scores) / len(SEEDS))
            assert scores[f"{TASK}/0"] != scores[f"{TASK}/0@{tag}"]
        else:
            assert set(scores) == {f"{TASK}/0@{tag}"}
            assert entry["fitness"] == scores[f"{TASK}/0@{tag}"]
    # the first generation promoted its best by the cheap score
    g0 = [r for r in cheap if r["generation"] == 0 and r["key"] != ref]
    best = sorted(g0, key=lambda r: -r["score"])[: evo.history[0]["per_rung"][1]]
    assert {r["key"] for r in best} == {r["key"] for r in full if r["generation"] == 0} - {ref}
    hof = yaml.safe_load((tmp_path / "r" / "hall_of_fame.yaml").read_text())["hall_of_fame"]
    rungs = [e["search_fitness"]["rung"] for e in hof]
    assert rungs == sorted(rungs, reverse=True) and rungs[0] == 2
    for e in hof:
        sf = e["search_fitness"]
        assert (sf["seeds"], sf["steps"]) == ((SEEDS, FULL) if sf["rung"] == 2 else ([0], CHEAP))
        assert sf.get("lr") == (None if lr is None else (LR if sf["rung"] == 2 else FAST))


def test_steps_at_the_run_s_own_are_the_plain_schedule(tmp_path):
    plain = toy_config(seeds=SEEDS, generations=3, fidelity={"rungs": [1, 3], "promote": 0.34})
    _, a = run(tmp_path / "plain", plain, stepped_job)
    _, b = run(tmp_path / "steps", config(steps=(FULL, FULL), generations=3), stepped_job)
    assert a.cache == b.cache
    assert all("steps" not in r for r in RunDir(tmp_path / "steps").read_evaluations())


def test_resume_between_cheap_and_full_rung_equals_uninterrupted(tmp_path):
    cfg = config()
    _, full = run(tmp_path / "full", cfg, stepped_job)
    seen = {"full_jobs": 0}

    def stop_in_a_later_generation(job: FitnessJob) -> list[dict]:
        if job.train.steps == FULL:
            seen["full_jobs"] += 1
            if seen["full_jobs"] == 8:  # past generation 0's full rung (reference + promoted on 3 seeds)
                raise Stop
        return stepped_job(job)

    with pytest.raises(Stop):
        run(tmp_path / "cut", cfg, stop_in_a_later_generation)
    cut = RunDir(tmp_path / "cut")
    lines = cut.read_evaluations()  # before load_checkpoint, which cuts the unfinished generation's lines
    generation = cut.load_checkpoint()["generation"]
    assert 1 <= generation < cfg.generations
    unfinished = [r for r in lines if r["generation"] == generation]
    assert unfinished and any(r.get("steps") == CHEAP for r in unfinished)  # cut after the cheap rung
    _, resumed = run(tmp_path / "cut", cfg, stepped_job)
    assert full.cache == resumed.cache
    assert (tmp_path / "full" / "hall_of_fame.yaml").read_text() == (
        tmp_path / "cut" / "hall_of_fame.yaml"
    ).read_text()

    def strip(path):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(path).read_evaluations()]

    assert strip(tmp_path / "full") == strip(tmp_path / "cut")


def test_command_line_sets_fidelity_steps():
    from symmpo.commands._runs import new_config

    args = {k: None for k in ("preset", "tasks", "generations", "population", "rescore_seeds", "seed")}
    args["allow_heldout_env"] = None
    args["tasks"] = ["hopper-mixed-0.5@v3"]  # a suite v3 task: 1000 PO steps
    ns = argparse.Namespace(
        **args,
        seeds=[0, 1],
        fidelity_rungs=[2, 2],
        promote=0.125,
        fidelity_steps=[250, 1000],
        fidelity_lr=[1e-3, 3e-4],
    )
    assert new_config(ns).to_mapping()["fidelity"] == {
        "rungs": [2, 2],
        "promote": 0.125,
        "steps": [250, 1000],
        "lr": [1e-3, 3e-4],
    }
    with pytest.raises(SymmpoError, match="--fidelity-steps needs --fidelity-rungs"):
        new_config(
            argparse.Namespace(**args, seeds=[0, 1], fidelity_rungs=None, promote=None, fidelity_steps=[1])
        )
    with pytest.raises(SymmpoError, match="--fidelity-lr needs --fidelity-rungs"):
        new_config(
            argparse.Namespace(**args, seeds=[0, 1], fidelity_rungs=None, promote=None, fidelity_lr=[1])
        )
    with pytest.raises(SymmpoError, match=r"end at the run's PO steps \(1000\)"):
        new_config(
            argparse.Namespace(
                **args, seeds=[0, 1], fidelity_rungs=[1, 2], promote=None, fidelity_steps=[250, 999]
            )
        )
