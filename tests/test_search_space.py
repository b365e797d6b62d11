"""The real search space (grammar + Objective): type safety, validity, exact storage, and a short search.

Fitness here is a cheap deterministic function of the *compiled* loss (no MuJoCo), so the test exercises
the objective round trip a worker does (file format → Objective → torch) in well under a minute.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from symmpo.errors import SymmpoError
from symmpo.objective import Objective, check_objective
from symmpo.search import gp
from symmpo.search.config import SearchConfig
from symmpo.search.evolve import Evolution
from symmpo.search.executors import InlineExecutor
from symmpo.search.jobs import FitnessJob
from symmpo.search.rundir import RunDir
from symmpo.search.space import ObjectiveSpace, tree_from_json, tree_to_json
from symmpo.symbolic import expr as E


@pytest.fixture(scope="module")
def space() -> ObjectiveSpace:
    return ObjectiveSpace.load("grammars/mirror.yaml")


@pytest.fixture(scope="module")
def population(space) -> list[gp.Individual]:
    rng = np.random.default_rng(1)
    pop = gp.initial_population(space, 6, rng)
    for ind in pop:
        ind.fitness = float(rng.normal())
    return pop


def _tags_consistent(space: ObjectiveSpace, obj: Objective) -> bool:
    """Every tagged subtree is still derivable from its own non-terminal."""
    for tree in obj.components.values():
        for path, nt in space.grammar.positions(tree):
            if space.grammar.annotate(E.get_at(tree, path), nt) is None:
                return False
    return True


@pytest.mark.parametrize("kind", ["subtree", "hoist", "crossover", "jitter"])
def test_grammar_operators_keep_types_and_validity(space, population, kind):
    rng = np.random.default_rng(7)
    made = 0
    for _ in range(12):
        a, b = population[int(rng.integers(len(population)))], population[int(rng.integers(len(population)))]
        child = (
            space.crossover(a.genome, b.genome, rng)
            if kind == "crossover"
            else space.mutate(a.genome, kind, rng)
        )
        if child is None:
            continue
        made += 1
        assert _tags_consistent(space, child), space.formula(child)
        # grammar-typed surgery never needs the checker's veto
        assert all(v.valid for v in check_objective(child).values()), space.formula(child)
    assert made > 0


def test_point_mutation_is_filtered_by_the_checker(space, population):
    rng = np.random.default_rng(3)
    children = [space.mutate(p.genome, "point", rng) for p in population for _ in range(3)]
    children = [c for c in children if c is not None]
    assert children
    for c in children:
        verdict = space.check(c)
        assert (verdict is None) == all(v.valid for v in check_objective(c).values())


def test_crossover_renames_constants_so_none_alias(space, population):
    rng = np.random.default_rng(11)
    for _ in range(10):
        child = space.crossover(population[0].genome, population[1].genome, rng)
        if child is None:
            continue
        names = [c.name for t in child.components.values() for c in E.constants(t)]
        trees = [t for k, t in child.components.items() if not (k == "psi" and child.psi_tied)]
        distinct = [c.name for t in trees for c in E.constants(t)]
        assert len(set(distinct)) == len(distinct), names
        # what a worker trains equals the genome
        again = Objective.from_dict(space.objective_dict(child))
        assert again.canonical_key() == child.canonical_key()


def test_genome_storage_is_exact(space, population):
    for ind in population:
        d = json.loads(json.dumps(space.to_dict(ind.genome)))
        back = space.from_dict(d)
        assert back == ind.genome and space.key(back) == ind.key
        for comp, tree in ind.genome.components.items():
            assert [s.nt for _, s in E.subtrees(back.components[comp])] == [s.nt for _, s in E.subtrees(tree)]
    t = E.Node("add", (E.Var("p", "PHI"), E.Const(0.1, "positive", "k", "K")), "PHI")
    assert tree_from_json(json.loads(json.dumps(tree_to_json(t)))).__repr__() == t.__repr__()


def test_cmaes_vector_includes_log_beta(space, population):
    obj = population[0].genome
    raw = space.constants(obj)
    assert raw[-1] == pytest.approx(math.log(obj.beta))
    moved = space.with_constants(obj, [*raw[:-1], math.log(0.2)])
    assert moved.beta == pytest.approx(0.2)
    clipped = space.with_constants(obj, [*raw[:-1], 50.0])
    assert clipped.beta == space.grammar.beta_range[1]


def test_unknown_grammar_is_refused():
    with pytest.raises(SymmpoError):
        ObjectiveSpace.load("grammars/nope.yaml")


def loss_fitness_job(job: FitnessJob) -> list[dict]:
    """Negative mean loss on fixed synthetic log-probs (seeded): deterministic, cheap, uses the real compiler."""
    g = torch.Generator().manual_seed(job.seed)
    pc = -torch.rand(32, generator=g, dtype=torch.float64) * 20 - 1
    pr = pc - torch.rand(32, generator=g, dtype=torch.float64) * 3
    rc, rr = pc + 0.5, pr + 0.5
    lens = torch.full((32,), 10.0, dtype=torch.float64)
    out = []
    for d in job.objectives:
        obj = Objective.from_dict(d)
        val = float(obj.loss(pc, pr, rc, rr, lens, lens, progress=0.5).mean())
        out.append(
            {
                "score": -val if math.isfinite(val) else -math.inf,
                "reason": None if math.isfinite(val) else "nan",
            }
        )
    return out


@pytest.mark.parametrize("grammar", ["grammars/mirror.yaml", "grammars/ta_mirror.yaml"])
def test_short_search_with_resume_on_the_real_space(tmp_path, grammar):
    config = SearchConfig.from_preset("tiny").override(grammar=grammar, population=5, generations=3)
    config = dataclasses.replace(config, cmaes=dataclasses.replace(config.cmaes, max_iterations=1))
    space = ObjectiveSpace.from_config(config)

    def go(path, hook=None):
        run = RunDir.open(path) if (path / "config.yaml").exists() else RunDir.create(path, config)
        evo = Evolution(
            config, run, space, InlineExecutor(), job_fn=loss_fitness_job, progress=False, on_generation=hook
        )
        return evo.run(), evo

    class Stop(Exception):
        pass

    def stop(gen, evo):
        if gen == 1:
            raise Stop

    go(tmp_path / "full")
    with pytest.raises(Stop):
        go(tmp_path / "cut", stop)
    go(tmp_path / "cut")
    full = (tmp_path / "full" / "hall_of_fame.yaml").read_text()
    assert full == (tmp_path / "cut" / "hall_of_fame.yaml").read_text()
    hof = RunDir(tmp_path / "full").read_hall_of_fame()
    best = Objective.load(tmp_path / "full" / "objectives" / "hof_01.yaml")
    assert best.canonical_key() == hof[0]["key"]
    assert Objective.from_dict(hof[0]["objective"]).canonical_key() == hof[0]["key"]
    assert hof[0]["latex"].startswith(r"\ell")
