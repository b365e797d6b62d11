"""Dead-term pruning (symmpo.objective.prune) and its use by the search: what the hall of fame prints acts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from symmpo.commands.evolve import report
from symmpo.objective import Objective
from symmpo.objective.prune import (
    LEVELS,
    THRESHOLD,
    drop_terms,
    prune,
    sample_of,
    settle_branches,
    shares,
    sketch,
    term_paths,
)
from symmpo.search.config import SearchConfig
from symmpo.search.evolve import Evolution, candidate
from symmpo.search.executors import InlineExecutor
from symmpo.search.halloffame import pruning_summary
from symmpo.search.jobs import FitnessJob
from symmpo.search.rundir import RunDir
from symmpo.search.space import ObjectiveSpace
from symmpo.search.strategy import Candidate
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.parser import to_formula

RNG = np.random.default_rng(0)
SUMMED = RNG.normal(-545.0, 60.0, 4000)  # reduce=sum: summed log-probs of long responses
PER_STEP = RNG.normal(-5.8, 0.8, 4000)  # reduce=mean: per-step log-probs (P ≈ 0.003)
CONSTS = {"c0": ("positive", 0.5), "c1": ("positive", 1.5), "c2": ("positive", 2.0)}


def _obj(phi: str, reduce: str = "sum", psi: str = "phi_inv") -> Objective:
    return Objective.from_components(phi, psi=psi, reduce=reduce, constants=CONSTS)


def _phi(obj: Objective) -> str:
    return to_formula(obj.components["phi_inv"])


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_log_p_plus_c_p_prunes_to_log_p_when_p_is_tiny():
    res = prune(_obj("log(p) + c0*p"), sample_of([sketch(SUMMED)]))
    assert _phi(res.objective) == "log(p)"
    assert (res.terms, res.pruned, res.kept) == (2, 1, 0)
    assert res.objective.psi_tied  # ψ tied to φ⁻¹ follows it


def test_issue_example_prunes_every_term_but_log_p():
    res = prune(_obj("log(p) + c0*p + c1*sqrt(p) + c2*p"), sample_of([sketch(SUMMED)]))
    assert _phi(res.objective) == "log(p)"
    assert (res.terms, res.pruned) == (4, 3)


def test_a_term_that_matters_with_reduce_mean_is_kept():
    obj = _obj("log(p) + c0*p", reduce="mean")
    res = prune(obj, sample_of([sketch(PER_STEP)]))
    assert res.objective is obj and res.pruned == 0
    # and its share is far above the threshold: e^-5.8 of log p's unit gradient
    share = dict(shares(obj.components["phi_inv"], sample_of([sketch(PER_STEP)])))
    assert min(share.values()) > 1e3 * THRESHOLD


def test_a_single_high_probability_response_keeps_the_term_alive():
    """The trained policy's responses count: one source where P is not tiny keeps c·p."""
    sample = sample_of([sketch(SUMMED), sketch(np.full(100, -0.5))])
    assert prune(_obj("log(p) + c0*p"), sample).pruned == 0


def test_constant_terms_are_dead_and_untied_psi_is_pruned_too():
    obj = _obj("log(p) + c0*p", psi="log(p) - c1")
    res = prune(obj, sample_of([sketch(SUMMED)]))
    assert to_formula(res.objective.components["psi"]) == "log(p)"
    assert res.terms == 4 and res.pruned == 2


def test_nothing_is_pruned_without_a_sample_or_when_every_term_is_dead():
    obj = _obj("log(p) + c0*p")
    assert prune(obj, None).objective is obj
    flat = _obj("c0 + c1*tau")  # constant in p: every share is 0, and removing all would leave nothing
    assert prune(flat, sample_of([sketch(SUMMED)])).pruned == 0


def test_a_min_that_always_picks_one_argument_is_that_argument():
    """hopper-mixed@v3's fifth entry: min(log p, c·p^c) is log p wherever P occurs, one loss printed twice."""
    obj = _obj("c0 * min(log(p), c1 * p**c2) + c0*p")
    res = prune(obj, sample_of([sketch(SUMMED)]))
    assert _phi(res.objective) == "c0 * log(p)" and res.branches == 1 and res.pruned == 1
    assert res.objective.canonical_key() == _obj("c0 * log(p)").canonical_key()
    assert set(res.objective.constant_specs()) == {"c0"}  # c1, c2 went with the branch
    # a min whose choice changes on the sample stays: log p against -1 crosses at P = e^-1
    mixed = sample_of([sketch(np.linspace(-3.0, -0.01, 200))])
    crossing = _obj("min(log(p), -c1)", reduce="mean")
    assert prune(crossing, mixed).branches == 0
    # max picks the larger; a tie anywhere settles nothing (strict)
    assert to_formula(settle_branches(_obj("max(log(p), c1*p)").components["phi_inv"], mixed)[0]) == "c1 * p"
    tie = _obj("min(log(p), log(p))").components["phi_inv"]
    assert settle_branches(tie, mixed)[1] == 0


def test_terms_split_through_signs_and_constant_factors():
    obj = Objective.from_components("c0*(log(p) + sqrt(p)) - log(1 - p)", constants={"c0": ("positive", 0.5)})
    tree = obj.components["phi_inv"]
    assert len(term_paths(tree)) == 3
    res = prune(obj, sample_of([sketch(SUMMED)]))
    assert _phi(res.objective) == "c0 * log(p)"
    # dropping the left operand of a difference keeps its sign
    diff = Objective.from_components("c0*p - log(1 - p)", constants={"c0": ("positive", 0.5)})
    t = diff.components["phi_inv"]
    assert to_formula(drop_terms(t, {term_paths(t)[0]})) == "-log(1 - p)"


def test_validity_is_preserved_or_the_term_is_kept_and_said_so():
    space = ObjectiveSpace(Grammar.load("mirror"), "mirror")
    obj = _obj("log(p) + c0*sqrt(p)")
    res = prune(obj, sample_of([sketch(SUMMED)]), check=space.check)
    assert res.pruned == 1 and space.check(res.objective) is None
    refused = prune(obj, sample_of([sketch(SUMMED)]), check=lambda o: "refused for the test")
    assert refused.objective is obj and refused.kept == 1 and refused.pruned == 0
    assert "breaks validity" in refused.notes[0]


def test_sketch_is_a_weighted_quantile_sketch():
    s = sketch(np.arange(1001.0))
    assert len(s) == len(LEVELS) and s[0] == 0.0 and s[-1] == 1000.0
    assert math.isclose(s[LEVELS.index(0.5)], 500.0, abs_tol=1.0)
    halves = sketch(np.array([0.0, 10.0]), np.array([0.9, 0.1]))
    assert halves[LEVELS.index(0.25)] == 0.0


def _candidate(space: ObjectiveSpace, obj: Objective) -> Candidate:
    return candidate(space, obj, space.key(obj), space.size(obj), "sample")


def test_hall_of_fame_entries_that_differ_by_a_dead_term_are_one(tmp_path):
    config = SearchConfig.from_preset("tiny")
    space = ObjectiveSpace(Grammar.load("mirror"), "mirror")
    plain = _candidate(space, _obj("log(p)"))
    dead = _candidate(space, _obj("log(p) + c0*p"))  # the better one: it stays, shown pruned
    other = _candidate(space, _obj("log(p)", psi="0"))  # reference-free: another loss
    assert plain.key != dead.key  # different as bred
    occurring = {"hopper-mixed-0.5/0": sketch(SUMMED)}
    search = Evolution(config, RunDir.create(tmp_path / "r", config), space, InlineExecutor(), progress=False)
    for c, f in ((dead, 10.5), (plain, 10.0), (other, 5.0)):
        search.cache[c.key] = {"fitness": f, "occurring": occurring}
    search.enter([dead, plain, other], {plain.key, dead.key, other.key})
    leaders = search.leaders
    assert len(leaders) == 2, [e.shown.formula for e in leaders]
    assert leaders[0].candidate is dead and leaders[0].identity == plain.key
    assert leaders[0].shown.formula.startswith("phi_inv=log(p); psi=phi_inv;")
    described = search.representation.describe(leaders[0], 1)
    assert described["key"] == plain.key and described["pruned"]["removed"] == 1
    assert described["objective"]["phi_inv"] == "log(p)" and "constants" not in described["objective"]
    summary = pruning_summary(search.pruning, leaders, THRESHOLD)
    assert summary["candidates"] == {"candidates": 3, "terms": 5, "dead": 1, "dead_share": 0.2}
    assert summary["hall_of_fame"]["pruned"] == 1 and summary["hall_of_fame"]["terms"] == 4
    assert summary["threshold"] == THRESHOLD
    # a checkpoint keeps the pruned form: the hall of fame rebuilt from it is the same
    rebuilt = [
        search.representation.leader_from_state(search.representation.leader_state(e)) for e in leaders
    ]
    assert [(e.key, e.identity, e.shown.formula) for e in rebuilt] == [
        (e.key, e.identity, e.shown.formula) for e in leaders
    ]


def _sum_scale_job(job: FitnessJob) -> list[dict]:
    """A deterministic stand-in fitness whose trainings 'saw' summed log-probs near −545 (reduce=sum) or per-step
    ones near −5.8 (reduce=mean), as the real jobs report them."""
    out = []
    for d in job.objectives:
        obj = Objective.from_dict(d)
        seen = sketch(SUMMED if obj.reduce == "sum" else PER_STEP)
        score = float(int(obj.canonical_key()[:6], 16) % 97)
        out.append({"score": score, "reason": None, "occurring": seen})
    return out


def test_search_prints_no_dead_terms_resumes_identically_and_reports_the_share(tmp_path):
    config = SearchConfig.from_preset("tiny").override(population=6, generations=3)
    config = dataclasses.replace(config, cmaes=dataclasses.replace(config.cmaes, max_iterations=1))
    space = ObjectiveSpace.from_config(config)

    def go(path, hook=None):
        run = RunDir.open(path) if (path / "config.yaml").exists() else RunDir.create(path, config)
        Evolution(
            config, run, space, InlineExecutor(), job_fn=_sum_scale_job, progress=False, on_generation=hook
        ).run()

    class Stop(Exception):
        pass

    def stop(gen, evo):
        if gen == 1:
            raise Stop

    go(tmp_path / "full")
    with pytest.raises(Stop):
        go(tmp_path / "cut", stop)
    go(tmp_path / "cut")
    assert (tmp_path / "full" / "hall_of_fame.yaml").read_text() == (
        tmp_path / "cut" / "hall_of_fame.yaml"
    ).read_text()
    run = RunDir(tmp_path / "full")
    hof = run.read_hall_of_fame()
    keys = [e["key"] for e in hof]
    assert len(keys) == len(set(keys))
    for e in hof:  # what is printed has nothing left to prune, and its key is the pruned form's
        obj = Objective.from_dict(e["objective"])
        sample = sample_of([sketch(SUMMED if obj.reduce == "sum" else PER_STEP)])
        assert prune(obj, sample).pruned == 0, e["formula"]
        assert obj.canonical_key() == e["key"]
    assert Objective.load(tmp_path / "full" / "objectives" / "hof_01.yaml").canonical_key() == hof[0]["key"]
    summary = run.read_summary()["pruning"]
    assert summary["threshold"] == THRESHOLD and summary["candidates"]["candidates"] > 0
    assert summary["candidates"]["dead"] > 0 and 0 < summary["candidates"]["dead_share"] < 1
    assert summary["hall_of_fame"]["terms"] > 0
    removed = sum(e["pruned"]["removed"] for e in hof)
    assert summary["hall_of_fame"]["pruned"] == removed > 0
    text = report(hof, {"mean": 1.0, "se": 0.1, "seeds": [1000]}, config, 1.0, run.read_summary())
    assert f"hall of fame {removed} of {summary['hall_of_fame']['terms']} pruned" in text


def test_jobs_sketch_the_log_probabilities_each_training_saw():
    from symmpo.train import TrainConfig, train_population
    from symmpo.train.occurring import occurring_sketches
    from symmpo.train.reference import get_reference
    from symmpo.train.testing import NaNAfter, synthetic_dataset

    cfg = TrainConfig.preset("tiny", steps=6, lr=1e-2)
    ds = synthetic_dataset(n_pairs=24)
    ref = get_reference(ds, 0, cfg, use_cache=False)
    objs = [Objective.named("dpo"), Objective.from_components(reduce="mean"), NaNAfter(at=0.0)]
    results, policy = train_population(objs, ds, ref, cfg, 0, return_policy=True)
    summed, mean, died = occurring_sketches(policy, ref, objs, [r.alive for r in results])
    assert died is None and not results[2].alive
    assert len(summed) == len(mean) == len(LEVELS)
    assert summed == sorted(summed) and mean == sorted(mean)
    all_ref = torch.cat([ref.logps_chosen, ref.logps_rejected]).double()
    assert summed[0] <= float(all_ref.min()) + 1e-3  # every π_ref response counts, the extremes included
    assert mean[0] > summed[0]  # per-step log-probs are the summed ones over the lengths
    assert summed[-1] <= 0.0 and mean[-1] <= 0.0


def test_run_summary_round_trips_and_a_malformed_one_is_refused(tmp_path):
    from symmpo.search.rundir import RunDirError

    run = RunDir(tmp_path)
    assert run.read_summary() == {}
    run.write_summary({"pruning": {"threshold": THRESHOLD}})
    assert run.read_summary() == {"pruning": {"threshold": THRESHOLD}}
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(RunDirError):
        run.read_summary()


def test_the_threshold_sits_where_the_docs_say():
    """c·p beside log p has a share of about P: kept at P ≈ 1e-5, pruned at P ≈ 1e-7 (THRESHOLD = 1e-6)."""
    obj = _obj("log(p) + c0*p").with_constant_vector([0.0])  # raw 0: c0 = 1
    c0 = obj.constant_specs()["c0"][1]
    for log_p, pruned in ((math.log(1e-5 / c0), 0), (math.log(1e-7 / c0), 1)):
        sample = sample_of([sketch(RNG.normal(log_p, 0.3, 2000))])
        assert prune(obj, sample).pruned == pruned, log_p
