"""The search strategies by name: the one table the commands, ``--resume`` and ``symmpo.search`` look them up in.

A run's ``config.yaml`` names its strategy under ``kind`` (absent: ``gp``, as in runs written before neural
runs existed), so a resumed run is continued by the strategy that started it, whichever command resumes it. A new
strategy is one entry here: a name, the command that starts it, and how to build its search loop
(:class:`symmpo.search.loop.Search` with a :class:`~symmpo.search.strategy.Strategy` and its
:class:`~symmpo.search.strategy.Representation`).

:func:`run_search` runs a search from Python and returns its hall of fame as :class:`Discovered` entries; the
façade exposes it as ``symmpo.search(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.search.config import SearchConfig
from symmpo.search.executors import Executor
from symmpo.search.loop import Search
from symmpo.search.rundir import RunDir

DEFAULT = "gp"


def _gp(config: SearchConfig, run: RunDir, executor: Executor, **options: Any) -> Search:
    from symmpo.search.evolve import Evolution
    from symmpo.search.space import ObjectiveSpace

    return Evolution(config, run, ObjectiveSpace.from_config(config), executor, **options)


def _neural(config: SearchConfig, run: RunDir, executor: Executor, **options: Any) -> Search:
    from symmpo.neural.es import NeuralEvolution

    return NeuralEvolution(config, run, executor, **options)


def _formula(run: RunDir, rank: int, entry: dict[str, Any]) -> Any:
    from symmpo.objective import Objective

    return Objective.from_dict(entry["objective"], where=f"{run.path} hall-of-fame entry {rank}")


def _network(run: RunDir, rank: int, entry: dict[str, Any]) -> Any:
    from symmpo.neural.components import NeuralObjective

    return NeuralObjective.load(run.best(rank).file)


def _neural_config(config: SearchConfig) -> SearchConfig:
    from symmpo.neural.es import neural_config

    return neural_config(config)


@dataclass(frozen=True)
class Method:
    """A search strategy: its name (a run's ``kind``), the command that starts and resumes it, how a preset's
    configuration becomes its own, how its search loop is built for a run directory, and how a hall-of-fame
    entry of its runs is read back as an objective."""

    name: str
    command: str
    configure: Callable[[SearchConfig], SearchConfig]
    build: Callable[..., Search]
    leader: Callable[[RunDir, int, dict[str, Any]], Any]


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("gp", "evolve", lambda config: config, _gp, _formula),
        Method("neural", "evolve-neural", _neural_config, _neural, _network),
    )
}


def method(name: str) -> Method:
    """The strategy called ``name``; a one-line error naming the known ones otherwise."""
    if name not in METHODS:
        raise SymmpoError(f"unknown search strategy {name!r}; known: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def method_of(config: SearchConfig) -> Method:
    """The strategy that started the run of ``config`` (its ``kind``; none: the GP strategy)."""
    return method(config.kind or DEFAULT)


def open_search(config: SearchConfig, run: RunDir, executor: Executor, **options: Any) -> Search:
    """The search loop of the run in ``run`` (new or to resume), built by the strategy its configuration names.
    ``options`` are :class:`~symmpo.search.loop.Search`'s (``job_fn``, ``progress``, ``on_generation``)."""
    return method_of(config).build(config, run, executor, **options)


@dataclass(frozen=True)
class Discovered:
    """One hall-of-fame entry of a finished search: ``objective`` (an :class:`~symmpo.objective.Objective`, or a
    neural objective), ``fitness`` (its search fitness: mean normalized score on the fitness seeds),
    ``heldout`` (mean on the fresh re-score seeds; None beyond the re-scored leaders) and ``entry`` (the
    ``hall_of_fame.yaml`` fields)."""

    rank: int
    objective: Any
    fitness: float
    heldout: float | None
    entry: dict[str, Any]

    @property
    def formula(self) -> str:
        return str(self.entry.get("formula", self.entry.get("key", "")))

    def latex(self) -> str:
        """The objective in LaTeX (symbolic objectives only)."""
        if not hasattr(self.objective, "latex"):
            raise SymmpoError(
                f"hall-of-fame entry {self.rank} is a network: distil it first (symmpo distill)"
            )
        return str(self.objective.latex())

    def to_torch_source(self, function_name: str = "loss") -> str:
        """A self-contained PyTorch loss function (symbolic objectives only; see ``symmpo export``)."""
        if not hasattr(self.objective, "to_torch_source"):
            raise SymmpoError(
                f"hall-of-fame entry {self.rank} is a network: distil it first (symmpo distill)"
            )
        return str(self.objective.to_torch_source(function_name))

    def __repr__(self) -> str:
        held = f", heldout={self.heldout:.2f}" if self.heldout is not None else ""
        return f"Discovered(rank={self.rank}, fitness={self.fitness:.2f}{held}, formula={self.formula!r})"


def discovered(run: RunDir) -> list[Discovered]:
    """A run's hall of fame as :class:`Discovered` entries, best first."""
    m = method_of(run.read_config())
    out = []
    for rank, e in enumerate(run.read_hall_of_fame(), start=1):
        obj = m.leader(run, rank, e)
        fresh = e.get("fresh_fitness")
        out.append(
            Discovered(rank, obj, float(e["search_fitness"]["mean"]), fresh and float(fresh["mean"]), e)
        )
    return out


def run_search(
    preset: str = "tiny",
    *,
    strategy: str = DEFAULT,
    tasks: Sequence[str] | None = None,
    generations: int | None = None,
    population: int | None = None,
    seeds: Sequence[int] | None = None,
    rescore_seeds: Sequence[int] | None = None,
    seed: int | None = None,
    grammar: str | None = None,
    fidelity: dict[str, Any] | None = None,
    out: str | Path | None = None,
    executor: str = "local",
    workers: int | None = None,
    progress: bool = False,
) -> list[Discovered]:
    """Run (or, when ``out`` holds a run, continue) a search and return its hall of fame, best first.

    The arguments are those of ``symmpo evolve``; ``strategy`` is a name of :data:`METHODS` (``gp``: typed GP +
    CMA-ES over formulas; ``neural``: CMA-ES over network weights). ``fidelity`` (e.g. ``{"rungs": [1, 3],
    "promote": 0.33}`` with three ``seeds``) selects by successive halving over the fitness seeds
    (:mod:`symmpo.search.multifidelity`). ``out`` defaults to ``results/search-<preset>-<time>``."""
    import time

    from symmpo.search.executors import make_executor

    m = method(strategy)
    if out is not None and (Path(out) / "config.yaml").is_file():
        run = RunDir.open(out)
        config = run.read_config()
        if method_of(config) is not m:
            raise SymmpoError(f"{out} holds a {method_of(config).name} run, not a {m.name} one")
        if generations is not None:
            config = config.override(generations=generations)
            run.write_config(config)
    else:
        if grammar is not None and m.name != "gp":
            raise SymmpoError("grammar= is for the gp strategy")
        from symmpo.symbolic.grammar import grammar_spec

        overrides = dict(
            tasks=tasks,
            generations=generations,
            population=population,
            seeds=seeds,
            rescore_seeds=rescore_seeds,
            seed=seed,
            grammar=grammar_spec(grammar) if grammar else None,
        )
        config = m.configure(SearchConfig.from_preset(preset).override(fidelity=fidelity, **overrides))
        if m.name == "gp":
            from symmpo.search.space import ObjectiveSpace

            # a bad grammar fails here
            config = config.override(grammar_name=ObjectiveSpace.from_config(config).grammar_name)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run = RunDir.create(
            Path(out) if out is not None else Path("results") / f"search-{preset}-{stamp}", config
        )
    pool = make_executor(executor, workers)
    try:
        open_search(config, run, pool, progress=progress).run()
    finally:
        pool.close()
    return discovered(run)
