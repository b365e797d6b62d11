"""Multi-fidelity selection (successive halving over fitness seeds) in the one search loop, on the toy space of
tests/test_search_loop.py with a fitness whose seeds disagree, so promotion decides something."""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

import pytest
import yaml

from symmpo.errors import SymmpoError
from symmpo.search.evolve import Evolution
from symmpo.search.executors import InlineExecutor
from symmpo.search.jobs import FitnessJob
from symmpo.search.multifidelity import Fidelity
from symmpo.search.rundir import RunDir
from tests.test_search_loop import ToySpace, toy_config

SEEDS = [0, 1, 2]
FIDELITY = {"rungs": [1, 3], "promote": 0.34}


def noisy_job(job: FitnessJob) -> list[dict]:
    """The toy fitness plus a per-seed disagreement of up to ±2 (seed 0 alone misranks candidates)."""
    out = []
    for obj in job.objectives:
        if 7 in obj["digits"]:
            out.append({"score": -math.inf, "reason": "non-finite loss at step 3"})
            continue
        mix = sum((i + 1) * d for i, d in enumerate(obj["digits"])) * 31 + job.seed * 17
        score = sum(obj["digits"]) - (obj["c"] - 1.5) ** 2 + 0.4 * (mix % 11 - 5)
        out.append({"score": score, "reason": None})
    return out


def config(**overrides):
    return toy_config(seeds=SEEDS, generations=4, fidelity=dict(FIDELITY), **overrides)


def run(path, cfg, job_fn=noisy_job):
    rd = RunDir.open(path) if (path / "config.yaml").exists() else RunDir.create(path, cfg)
    evo = Evolution(cfg, rd, ToySpace(), InlineExecutor(), job_fn=job_fn, progress=False)
    return evo.run(), evo


def per_seed(evo, key, seeds):
    return sum(evo.cache[key]["scores"][f"{t}/{s}"] for t in evo.config.tasks for s in seeds) / (
        len(seeds) * len(evo.config.tasks)
    )


def test_configuration_is_checked():
    with pytest.raises(SymmpoError, match="end at the number of fitness seeds"):
        toy_config(seeds=SEEDS, fidelity={"rungs": [1, 2], "promote": 0.3})
    with pytest.raises(SymmpoError, match="increase"):
        toy_config(seeds=SEEDS, fidelity={"rungs": [2, 1, 3], "promote": 0.3})
    with pytest.raises(SymmpoError, match="below 1"):
        toy_config(seeds=SEEDS, fidelity={"rungs": [1, 3], "promote": 1})
    with pytest.raises(SymmpoError, match="exactly"):
        toy_config(seeds=SEEDS, fidelity={"rungs": [1, 3]})
    assert Fidelity((1, 3), 0.33).expected_trainings() == pytest.approx(1.66)
    assert Fidelity((1, 3), 0.33).promoted_count(16) == 6


def test_command_line_sets_fidelity():
    from symmpo.commands._runs import new_config

    args = {k: None for k in ("preset", "tasks", "generations", "population", "rescore_seeds", "seed")}
    args["allow_heldout_env"] = None
    ns = argparse.Namespace(**args, seeds=[0, 1, 2], fidelity_rungs=[1, 3], promote=0.25)
    assert new_config(ns).fidelity == Fidelity((1, 3), 0.25)
    with pytest.raises(SymmpoError, match="needs --fidelity-rungs"):
        new_config(argparse.Namespace(**args, seeds=[0, 1], fidelity_rungs=None, promote=0.5))
    assert (
        new_config(argparse.Namespace(**args, seeds=None, fidelity_rungs=None, promote=None)).fidelity is None
    )


def test_successive_halving_promotes_the_best_and_never_retrains(tmp_path):
    _, evo = run(tmp_path / "r", config())
    log = [r for r in RunDir(tmp_path / "r").read_evaluations() if r["phase"] == "search"]
    triples = [(r["key"], r["task"], r["seed"]) for r in log]
    assert len(triples) == len(set(triples))  # seed 0 is never trained again when promoted
    ref = evo.reference.key
    by_gen: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in log:
        by_gen[r["generation"]][r["seed"]].add(r["key"])
    fid = Fidelity((1, 3), 0.34)
    for h in evo.history:
        first, promoted = h["per_rung"]
        assert promoted == fid.promoted_count(first) and promoted < first
        assert h["seed_trainings"] == sum(len(k) for k in by_gen[h["generation"]].values())
    # candidates trained on seeds 1, 2 are exactly those promoted; everyone else keeps its seed-0 score
    promoted = set().union(*(by_gen[g][1] for g in by_gen)) - {ref}
    assert promoted and promoted == set().union(*(by_gen[g][2] for g in by_gen)) - {ref}
    for key, entry in evo.cache.items():
        seeds = SEEDS if key in promoted or key == ref else [0]
        if math.isfinite(entry["fitness"]):
            assert entry["fitness"] == pytest.approx(per_seed(evo, key, seeds))
    unpromoted = {
        k for k in evo.cache if k not in promoted and k != ref and math.isfinite(evo.cache[k]["fitness"])
    }
    assert unpromoted  # halving saved trainings
    # the first generation's promoted are its best by seed-0 score
    g0 = {r["key"] for r in log if r["generation"] == 0 and r["seed"] == 0} - {ref}
    seed0 = sorted(g0, key=lambda k: -evo.cache[k]["scores"][f"{evo.config.tasks[0]}/0"])
    assert by_gen[0][1] - {ref} == set(seed0[: evo.history[0]["per_rung"][1]])
    # the hall of fame: every full-fidelity entry above every rung-1 entry, each marked with its seeds
    hof = yaml.safe_load((tmp_path / "r" / "hall_of_fame.yaml").read_text())["hall_of_fame"]
    rungs = [e["search_fitness"]["rung"] for e in hof]
    assert rungs == sorted(rungs, reverse=True) and rungs[0] == 2
    for e in hof:
        sf = e["search_fitness"]
        assert sf["rungs"] == 2 and sf["seeds"] == (SEEDS if sf["rung"] == 2 else [0])
    assert all(e["search_fitness"]["rung"] == 2 for e in hof if "fresh_fitness" in e)


def test_a_candidate_that_dies_when_promoted_leaves_the_hall_of_fame(tmp_path):
    def dies_on_seed_2(job: FitnessJob) -> list[dict]:
        out = noisy_job(job)
        for obj, rec in zip(job.objectives, out, strict=True):
            if job.seed == 2 and 9 in obj["digits"]:
                rec.update(score=-math.inf, reason="non-finite gradient at step 9")
        return out

    _, evo = run(tmp_path / "r", config(), dies_on_seed_2)
    died = [
        k
        for k, e in evo.cache.items()
        if e["fitness"] == -math.inf and e["scores"].get("hopper-mixed-0.5/0", 0) > -math.inf
    ]
    assert died  # promoted on a good first seed, then diverged
    assert not {e.key for e in evo.leaders} & set(died)
    assert all(math.isfinite(evo.cache[e.key]["fitness"]) for e in evo.leaders)


def test_hall_of_fame_ranks_rung_first_and_voids_a_cheaper_score():
    from symmpo.search.halloffame import HallOfFame
    from symmpo.search.strategy import Candidate, Leader

    def leader(key, fitness, rung):
        return Leader(Candidate(key, {}, "test", key, size=1), fitness, rung=rung)

    hof = HallOfFame(2)
    hof.update([leader("lucky", 50.0, 0), leader("solid", 10.0, 1)])
    assert [e.key for e in hof.leaders] == ["solid", "lucky"]  # a one-seed 50 never outranks a full 10
    assert not hof.admits(40.0, 0) and hof.admits(5.0, 1)  # below the last (rung 0, 50), or a higher rung
    hof.update([leader("lucky", 12.0, 1)])  # promoted later: its full score replaces the cheap one
    assert [(e.key, e.fitness) for e in hof.leaders] == [("lucky", 12.0), ("solid", 10.0)]
    hof = HallOfFame(3)
    hof.update([leader("lucky", 50.0, 0), leader("solid", 10.0, 1)])
    hof.update([leader("lucky", -math.inf, 1)])  # promoted, then died on a new seed: it leaves
    assert [e.key for e in hof.leaders] == ["solid"]


class Stop(Exception):
    pass


def test_resume_between_rungs_equals_uninterrupted(tmp_path):
    cfg = config()
    _, full = run(tmp_path / "full", cfg)
    seen = {"promoted_jobs": 0}

    def stop_in_generation_2_after_rung_1(job: FitnessJob) -> list[dict]:
        if job.seed != 0:  # a rung-2 job (every generation has some: the reference's, then the promoted)
            seen["promoted_jobs"] += 1
            if seen["promoted_jobs"] == 5:  # generation 0: reference + promoted; generation 1: promoted
                raise Stop
        return noisy_job(job)

    with pytest.raises(Stop):
        run(tmp_path / "cut", cfg, stop_in_generation_2_after_rung_1)
    cut = RunDir(tmp_path / "cut")
    lines = cut.read_evaluations()  # before load_checkpoint, which cuts the unfinished generation's lines
    generation = cut.load_checkpoint()["generation"]
    assert 1 <= generation < cfg.generations
    rung1_lines = [r for r in lines if r["generation"] == generation]
    assert rung1_lines and all(r["seed"] == 0 for r in rung1_lines)  # interrupted between the rungs
    _, resumed = run(tmp_path / "cut", cfg)
    assert (tmp_path / "full" / "hall_of_fame.yaml").read_text() == (
        tmp_path / "cut" / "hall_of_fame.yaml"
    ).read_text()
    assert full.cache == resumed.cache

    def strip(path):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in RunDir(path).read_evaluations()]

    assert strip(tmp_path / "full") == strip(tmp_path / "cut")
    assert [{k: v for k, v in h.items() if k not in ("seconds", "evals_per_min")} for h in full.history] == [
        {k: v for k, v in h.items() if k not in ("seconds", "evals_per_min")} for h in resumed.history
    ]


def test_off_by_default_keeps_a_flat_run(tmp_path):
    flat = toy_config(seeds=SEEDS, generations=2)
    assert flat.fidelity is None
    _, evo = run(tmp_path / "flat", flat)
    assert all("per_rung" not in h for h in evo.history)
    hof = yaml.safe_load((tmp_path / "flat" / "hall_of_fame.yaml").read_text())["hall_of_fame"]
    assert all(set(e["search_fitness"]) == {"mean", "seeds", "tasks"} for e in hof)
    for entry in evo.cache.values():
        assert len(entry["scores"]) == len(SEEDS) * len(flat.tasks)


def test_a_fidelity_checkpoint_without_per_seed_scores_is_refused(tmp_path):
    import json

    from symmpo.search.rundir import RunDirError

    cfg = config().override(generations=1)
    run(tmp_path / "r", cfg)
    path = tmp_path / "r" / "checkpoint.json"
    payload = json.loads(path.read_text())
    for entry in payload["state"]["cache"].values():
        entry.pop("scores")
    path.write_text(json.dumps(payload))
    with pytest.raises(RunDirError, match="per-seed scores"):
        run(tmp_path / "r", cfg)
