"""The held-out protocol: what a search may touch, and what a claim about its result must be measured on.

A search selects objectives by their fitness, so any number measured on the fitness's own data is optimistic.
Three things determine a score besides the objective: the **preference dataset** (its seed draws new contexts,
new responses and new pairs), the **training seeds** (π_ref, minibatches) and the **evaluation resets** (the
MuJoCo start states). A held-out measurement changes all three:

* fitness (search, sweeps): dataset seed ``FITNESS_DATASET_SEED`` (0), the run's fitness seeds, evaluation
  resets ``[0, eval_episodes)``; a fitness over several datasets (``TrainConfig.dataset_seeds``, e.g. ``(0, 3)``)
  draws them from 0 and ``FITNESS_EXTRA_DATASET_SEEDS``;
* held out (end-of-run re-score, ``symmpo compare``, the baseline table): dataset seed ``HELDOUT_DATASET_SEED``
  (1), training seeds from ``HELDOUT_SEED_MIN`` (1000) up, evaluation resets from ``HELDOUT_RESET_OFFSET``
  (50,000) up.

On top, environments marked ``held_out`` in ``symmpo.suite.tasks.ENVS`` (Walker2d) are never fitness tasks unless the user says so
explicitly: they measure whether a loss found on Hopper/HalfCheetah transfers. ``check_heldout`` refuses
(``ProtocolError``, exit 2) any held-out configuration that shares a dataset seed, a training seed or a single
evaluation reset with the fitness it judges.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from symmpo.errors import SymmpoError

FITNESS_DATASET_SEED = 0
# More fitness-side preference datasets, for a fitness averaged over dataset draws (``symmpo fidelity
# --fitness-datasets``). Seed 1 is the held-out split and seed 2 the fresh split of results/explore-validity, so
# these start at 3.
FITNESS_EXTRA_DATASET_SEEDS = (3, 4, 5)
HELDOUT_DATASET_SEED = 1
HELDOUT_SEED_MIN = 1000
HELDOUT_RESET_OFFSET = 50_000
HELDOUT_EPISODES = 10


class ProtocolError(SymmpoError):
    """A held-out measurement would reuse something the fitness saw."""


class Measuring(Protocol):
    """What a split measures with: a trainer configuration (``symmpo.train.config.TrainConfig``, a frozen
    dataclass; named structurally, since the protocol sits below the trainer)."""

    @property
    def dataset_seed(self) -> int | None: ...
    @property
    def eval_reset_offset(self) -> int: ...
    @property
    def eval_episodes(self) -> int: ...
    @property
    def dataset_seeds(self) -> tuple[int, ...]: ...


M = TypeVar("M", bound=Measuring)


@dataclass(frozen=True)
class Split:
    """The data, training seeds and evaluation resets one measurement uses."""

    dataset_seed: int | None  # None: the dataset seed follows each training seed
    train_seeds: tuple[int, ...]
    reset_offset: int
    episodes: int
    # training seed s uses dataset_cycle[s % len] (overrides dataset_seed): a fitness over several datasets
    dataset_cycle: tuple[int, ...] = ()

    @property
    def dataset_seeds(self) -> set[int]:
        if self.dataset_cycle:
            return {self.dataset_cycle[s % len(self.dataset_cycle)] for s in self.train_seeds}
        return set(self.train_seeds) if self.dataset_seed is None else {self.dataset_seed}

    @property
    def resets(self) -> range:
        return range(self.reset_offset, self.reset_offset + self.episodes)

    def describe(self) -> str:
        r = self.resets
        return (
            f"dataset seed(s) {sorted(self.dataset_seeds)}, training seeds {list(self.train_seeds)}, "
            f"evaluation resets [{r.start}, {r.stop})"
        )

    @classmethod
    def of(cls, train: Measuring, seeds: Iterable[int]) -> Split:
        """The split trainer configuration ``train`` measures on with training seeds ``seeds``."""
        return cls(
            train.dataset_seed,
            tuple(int(s) for s in seeds),
            train.eval_reset_offset,
            train.eval_episodes,
            tuple(train.dataset_seeds),
        )

    def apply(self, train: M) -> M:
        """``train`` measuring on this split: its dataset seed, first evaluation reset and episode count (the
        training seeds are the jobs' own)."""
        return dataclasses.replace(
            train,
            dataset_seed=self.dataset_seed,
            dataset_seeds=self.dataset_cycle,
            eval_reset_offset=self.reset_offset,
            eval_episodes=self.episodes,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_seeds": sorted(self.dataset_seeds),
            "train_seeds": list(self.train_seeds),
            "resets": [self.resets.start, self.resets.stop],
        }


def overlaps(fitness: Split, heldout: Split) -> list[str]:
    """What ``heldout`` shares with ``fitness``, in words (empty: properly held out)."""
    out = []
    shared = fitness.dataset_seeds & heldout.dataset_seeds
    if shared:
        out.append(f"dataset seed {sorted(shared)} (the same preference pairs)")
    shared = set(fitness.train_seeds) & set(heldout.train_seeds)
    if shared:
        out.append(f"training seeds {sorted(shared)}")
    f, h = fitness.resets, heldout.resets
    lo, hi = max(f.start, h.start), min(f.stop, h.stop)
    if lo < hi:
        out.append(f"evaluation resets [{lo}, {hi})")
    return out


def check_heldout(fitness: Split, heldout: Split, what: str = "held-out evaluation") -> None:
    """Raise ``ProtocolError`` naming every overlap between a held-out configuration and its fitness."""
    shared = overlaps(fitness, heldout)
    if shared:
        raise ProtocolError(
            f"{what} is not held out: it shares {'; '.join(shared)} with the search's fitness "
            f"({fitness.describe()}); use fresh values (defaults: dataset seed {HELDOUT_DATASET_SEED}, "
            f"training seeds >= {HELDOUT_SEED_MIN}, resets from {HELDOUT_RESET_OFFSET})"
        )


def check_fitness_tasks(tasks: Sequence[str], allow_heldout_env: bool = False) -> None:
    """Refuse a fitness on a held-out environment unless explicitly allowed."""
    from symmpo.suite.tasks import ENVS, parse_task

    bad = sorted({t for t in tasks if ENVS[parse_task(t).env].held_out})
    if bad and not allow_heldout_env:
        held = ", ".join(e for e, spec in ENVS.items() if spec.held_out)
        raise ProtocolError(
            f"{', '.join(bad)}: {held} is held out for transfer and cannot be a fitness "
            "task; pass --allow-heldout-env to search on it anyway (its transfer results then mean nothing)"
        )
