"""What ``symmpo evolve`` and ``symmpo evolve-neural`` share: their parser's run options, run directories, the
opening line, the timed search and the interrupt (:func:`search_parser`, :func:`run_search`); each command adds
only its strategy's options, configuration and closing report."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symmpo.errors import SymmpoError

if TYPE_CHECKING:
    from symmpo.search.config import SearchConfig
    from symmpo.search.loop import Result, Search

# Configuration keys the command line may set on a new run; --resume accepts only --generations.
SEARCH_KEYS = ("tasks", "generations", "population", "seeds", "rescore_seeds", "seed", "allow_heldout_env")


def add_run_arguments(p: argparse.ArgumentParser, command: str, population_help: str | None = None) -> None:
    """Preset, fitness tasks/seeds, sizes, executor and run-directory options (the same for every search)."""
    from symmpo.commands._args import SEED, dataset_seeds_arg, int_in
    from symmpo.search.bounds import MAX_GENERATIONS, MAX_POPULATION
    from symmpo.search.executors import EXECUTORS
    from symmpo.search.presets import PRESETS

    p.add_argument(
        "--preset", default=None, choices=sorted(PRESETS), help="search configuration (default: default)"
    )
    p.add_argument(
        "--task",
        action="append",
        dest="tasks",
        metavar="TASK",
        help="fitness task, e.g. hopper-noisy-0.2 (repeat for a multi-task fitness)",
    )
    p.add_argument("--generations", type=int_in(1, MAX_GENERATIONS))
    p.add_argument("--population", type=int_in(2, MAX_POPULATION), help=population_help)
    p.add_argument(
        "--seeds", type=SEED, nargs="+", help="training seeds of the fitness (shared by all candidates)"
    )
    p.add_argument(
        "--rescore-seeds", type=SEED, nargs="+", help="fresh seeds for the final hall-of-fame scores"
    )
    dataset_seeds_arg(p, "a fitness")
    p.add_argument(
        "--allow-heldout-env",
        action="store_const",
        const=True,
        default=None,
        help="allow a fitness task on an environment held out for transfer (Walker2d); its transfer results "
        "then mean nothing",
    )
    p.add_argument("--search-seed", type=SEED, dest="seed", help="seed of the search's own random choices")
    p.add_argument(
        "--fidelity-rungs",
        type=int_in(1, 64),
        nargs="+",
        metavar="N",
        help="successive halving: fitness seeds per rung, e.g. 1 3 (the last = the number of --seeds); every "
        "candidate trains on the first rung's seeds, the best share (--promote) goes on (default: flat)",
    )
    p.add_argument(
        "--promote",
        type=float,
        metavar="SHARE",
        help="share of a rung's candidates promoted to the next, in (0, 1) (default 0.33; with --fidelity-rungs)",
    )
    p.add_argument(
        "--fidelity-steps",
        type=int_in(1, 10**7),
        nargs="+",
        metavar="STEPS",
        help="PO steps per rung, e.g. 250 1000 (the last = the run's own; with --fidelity-rungs): a cheap first "
        "rung trains fewer steps (default: every rung at the run's steps)",
    )
    p.add_argument(
        "--fidelity-lr",
        type=float,
        nargs="+",
        metavar="LR",
        help="learning rate per rung, e.g. 1e-3 3e-4 (the last = the run's own; with --fidelity-rungs): a short "
        "first rung at a higher rate (default: every rung at the run's rate)",
    )
    p.add_argument(
        "--executor", choices=EXECUTORS, default="local", help="where trainings run (default: local)"
    )
    p.add_argument("--workers", type=int_in(1, 4096), help="worker processes (default: all cores)")
    p.add_argument(
        "--oversubscribe", action="store_true", help="allow more local workers than the machine has cores"
    )
    p.add_argument("--ray-address", help="address of a running Ray cluster (with --executor ray)")
    p.add_argument("--resume", metavar="RUN", help="continue a run (its name under --results or a path)")
    p.add_argument("--out", metavar="DIR", help=f"run directory (default: results/{command}-<preset>-<time>)")
    p.add_argument("--results", default="results", help="where run names are looked up (default: results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")


def new_config(args: argparse.Namespace) -> SearchConfig:
    """The preset's configuration with the command line's values."""
    from symmpo.search.config import SearchConfig

    config = SearchConfig.from_preset(args.preset or "default").override(
        **{k: getattr(args, k) for k in SEARCH_KEYS}
    )
    if (seeds := getattr(args, "dataset_seeds", None)) is not None:
        train = config.train_section
        overrides = {**dict(train.overrides), "dataset_seeds": list(seeds)}
        config = config.override(train={"preset": train.preset, "overrides": overrides})
    rungs, share = getattr(args, "fidelity_rungs", None), getattr(args, "promote", None)
    per_rung = {"steps": getattr(args, "fidelity_steps", None), "lr": getattr(args, "fidelity_lr", None)}
    flags = {"--promote": share, "--fidelity-steps": per_rung["steps"], "--fidelity-lr": per_rung["lr"]}
    given = [flag for flag, v in flags.items() if v is not None]
    if given and rungs is None:
        raise SymmpoError(f"{given[0]} needs --fidelity-rungs (e.g. --fidelity-rungs 1 3 --promote 0.33)")
    if rungs is not None:
        fidelity = {"rungs": list(rungs), "promote": 0.33 if share is None else share}
        fidelity.update({k: list(v) for k, v in per_rung.items() if v is not None})
        config = config.override(fidelity=fidelity)
    return config


@dataclass(frozen=True)
class SearchCommand:
    """A search command apart from the run options every search takes: its name, its run directories' default
    prefix, how its command line becomes a new run's configuration, its ``--help`` texts, and the further options
    of it (``fixed``) that a resumed run refuses."""

    name: str
    prefix: str
    configure: Callable[[argparse.Namespace], SearchConfig]
    help: str
    description: str
    fixed: Sequence[str] = ()
    population_help: str | None = None


def open_run(args: argparse.Namespace, command: SearchCommand) -> tuple[Any, SearchConfig]:
    """(run directory, configuration): a resumed run keeps its configuration (only --generations may change;
    ``command.fixed`` names further options that must not be given) and must have been started by ``command``
    (the strategy registry, :mod:`symmpo.strategies`, says which); a new one is created by ``command.configure``."""
    from symmpo.commands._args import check_workers, writable_dir
    from symmpo.search.rundir import RunDir, resolve_run
    from symmpo.strategies import method_of

    check_workers(args.workers, args.executor, args.oversubscribe)
    if args.resume:
        keys = (
            "preset",
            *[k for k in SEARCH_KEYS if k != "generations"],
            "fidelity_rungs",
            "promote",
            "fidelity_steps",
            "fidelity_lr",
            "dataset_seeds",
            *command.fixed,
        )
        given = [k for k in keys if getattr(args, k, None) is not None]
        if given:
            raise SymmpoError(
                "--resume continues a run with its own configuration; only --generations may change "
                f"(got --{given[0].replace('_', '-')})"
            )
        run_dir = resolve_run(args.resume, args.results)
        config = run_dir.read_config()
        started_by = method_of(config).command
        if started_by != command.name:
            raise SymmpoError(
                f"{run_dir.path} was started by symmpo {started_by}: resume it with symmpo {started_by} --resume "
                f"{run_dir.path}"
            )
        if args.generations is not None:
            config = config.override(generations=args.generations)
            run_dir.write_config(config)
        return run_dir, config
    writable_dir(args.out, "--out")
    config = command.configure(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path(args.results) / f"{command.prefix}-{config.preset}-{stamp}"
    return RunDir.create(out, config), config


def drive(args: argparse.Namespace, command: str, run_dir: Any, body: Callable[[Any], str]) -> int:
    """Run ``body(executor)`` (which returns the closing report); Ctrl-C or SIGTERM says how to resume.

    On Ctrl-C the workers are ended at once (not waited for) with further Ctrl-C ignored until they are
    gone, so nothing is left half torn down; the run directory holds the last completed generation.
    """
    from symmpo.search.executors import make_executor, run_stoppable

    executor = make_executor(args.executor, args.workers, args.ray_address)
    print(f"run directory: {run_dir.path}  (resume with: symmpo {command} --resume {run_dir.path})")
    finished, text = run_stoppable(
        executor,
        lambda: body(executor),
        f"interrupted: the last completed generation is saved; resume with symmpo {command} --resume {run_dir.path}",
    )
    if not finished:
        return 130
    print(text)
    return 0


def search_parser(
    subparsers: Any, command: SearchCommand, run: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """The parser of a search command with the run options every search takes and ``run`` as its ``func``; the
    command adds its strategy's own options to it."""
    p = subparsers.add_parser(command.name, help=command.help, description=command.description)
    add_run_arguments(p, command.prefix, command.population_help)
    p.set_defaults(func=run)
    return p


def run_search(
    args: argparse.Namespace,
    command: SearchCommand,
    report: Callable[[Result, SearchConfig, float], str],
    sizes: Callable[[SearchConfig, Search], str] | None = None,
    check: Callable[[SearchConfig], None] | None = None,
) -> int:
    """Start or resume a run (:func:`open_run`; ``check`` refuses a resumed configuration the command line
    contradicts), print its opening line (``sizes``: its population, generations and what else sizes it), run
    its search (:mod:`symmpo.strategies`) under :func:`drive` and print ``report(result, config, seconds)``."""
    from symmpo.strategies import open_search

    run_dir, config = open_run(args, command)
    if check is not None:
        check(config)

    def body(executor: Any) -> str:
        t0 = time.perf_counter()
        search = open_search(config, run_dir, executor, progress=not args.no_progress)
        size = (
            sizes(config, search)
            if sizes
            else f"population {config.population} · generations {config.generations}"
        )
        print(
            f"tasks {', '.join(config.tasks)} · seeds {list(config.seeds)} · {size} · executor {executor.name} × "
            f"{executor.workers}"
        )
        result = search.run()
        return report(result, config, time.perf_counter() - t0)

    return drive(args, command.name, run_dir, body)
