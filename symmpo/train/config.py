"""Training hyperparameters: one frozen dataclass, so a fitness job is a pure function of its arguments."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run besides the objective, the dataset and the seed.

    The defaults are the ``default`` preset: one population of 16 objectives on one task-seed trains and
    evaluates in about a minute on one CPU core (docs/training.md has the measurements).
    """

    # policy
    hidden: tuple[int, ...] = (64, 64)
    # reference policy: behaviour cloning on the chosen responses of the pairs (suite v2, ``sft_levels=()``) or,
    # as in LLM pipelines where SFT data is not the preference data, on every response of the named behaviour
    # levels in a separate pool (its own contexts: dataset seed + SFT_POOL_OFFSET; symmpo.train.sft_data)
    sft_levels: tuple[str, ...] = ()
    bc_steps: int = 2000
    bc_lr: float = 1e-3
    bc_batch_steps: int = 1024  # environment steps per BC minibatch
    # preference optimization
    steps: int = 300
    batch_size: int = 32  # pairs per minibatch, shared by every member of a population
    lr: float = 3e-4
    clip_grad_norm: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    # evaluation (greedy policy, held-out reset seeds)
    eval_episodes: int = 5
    eval_max_steps: int = 1000
    eval_reset_offset: int = 0  # first evaluation reset seed (held-out measurements use their own range)
    eval_points: int = 0  # extra evaluations during training, for learning curves (0 in a search)
    log_every: int = 10  # training-loss curve resolution, in steps
    dataset_seed: int | None = 0  # None: the dataset seed follows the training seed
    # a fitness over several preference datasets: training seed s trains on dataset_seeds[s % len] (overrides
    # dataset_seed). A loss's score depends on the draw of the data as much as on its training seed, so two
    # fitness seeds on two datasets rank losses closer to the held-out protocol than two seeds on one
    # (results/fidelity/v3/). Empty (the default): dataset_seed decides.
    dataset_seeds: tuple[int, ...] = ()
    # the log-prob pass through torch.compile (inductor): off by default, it measured no faster on the suite's
    # shapes and rounds differently (benchmarks/bench_trainer.py, docs/training.md)
    compile: bool = False

    def __post_init__(self) -> None:
        """Refuse values no training can use (a run would fail, or silently do nothing, minutes later)."""
        from symmpo.errors import SymmpoError
        from symmpo.symbolic.limits import integer, number

        ints = {
            "bc_steps": (0, 10**7),
            "bc_batch_steps": (1, 10**7),
            "steps": (1, 10**7),
            "batch_size": (1, 10**6),
            "eval_episodes": (1, 10**5),
            "eval_max_steps": (1, 10**6),
            "eval_reset_offset": (0, 2**31 - 1),
            "eval_points": (0, 10**4),
            "log_every": (1, 10**7),
        }
        for key, (lo, hi) in ints.items():
            integer(getattr(self, key), key, lo, hi)
        if self.dataset_seed is not None:
            integer(self.dataset_seed, "dataset_seed", 0, 2**32 - 1)
        if isinstance(self.dataset_seeds, list):  # from YAML / JSON
            object.__setattr__(self, "dataset_seeds", tuple(self.dataset_seeds))
        if not isinstance(self.dataset_seeds, tuple) or len(self.dataset_seeds) > 16:
            raise SymmpoError(f"dataset_seeds must be a list of at most 16 seeds, got {self.dataset_seeds!r}")
        for ds in self.dataset_seeds:
            integer(ds, "each of dataset_seeds", 0, 2**32 - 1)
        if len(set(self.dataset_seeds)) != len(self.dataset_seeds):
            raise SymmpoError(f"dataset_seeds must be distinct, got {list(self.dataset_seeds)}")
        for key in ("bc_lr", "lr", "clip_grad_norm", "adam_eps"):
            if not 0 < number(getattr(self, key), key) <= 10:
                raise SymmpoError(f"{key} must be in (0, 10], got {getattr(self, key)}")
        betas = self.adam_betas
        if len(betas) != 2 or not all(0 <= number(b, "adam_betas") < 1 for b in betas):
            raise SymmpoError(f"adam_betas must be two numbers in [0, 1), got {betas}")
        if not 1 <= len(self.hidden) <= 8:
            raise SymmpoError(f"hidden must list 1 to 8 layer widths, got {self.hidden}")
        for h in self.hidden:
            integer(h, "each hidden width", 1, 4096)
        if not isinstance(self.compile, bool):
            raise SymmpoError(f"compile must be true or false, got {self.compile!r}")
        if not isinstance(self.sft_levels, tuple) or not all(isinstance(x, str) for x in self.sft_levels):
            raise SymmpoError(f"sft_levels must be a tuple of behaviour-level names, got {self.sft_levels!r}")
        if len(set(self.sft_levels)) != len(self.sft_levels) or len(self.sft_levels) > 16:
            raise SymmpoError(f"sft_levels must name distinct levels (at most 16), got {self.sft_levels!r}")

    @classmethod
    def preset(cls, name: str, tasks: Sequence[str] = (), **overrides) -> TrainConfig:
        """``tiny`` (tests, seconds), ``default`` (search fitness), ``bench`` (baseline table, 10 episodes).

        ``tasks`` of a suite other than v2 (``hopper-clean@v3``) set the PO steps to those the suite was validated
        at, unless ``overrides`` set them or the preset is ``tiny`` (``symmpo.suite.tasks.po_steps``)."""
        if tasks and name != "tiny" and "steps" not in overrides:
            from symmpo.suite.tasks import po_steps

            if steps := po_steps(list(tasks)):
                overrides = {**overrides, "steps": steps}
        base = {
            "tiny": dict(
                hidden=(16,),
                bc_steps=20,
                bc_batch_steps=64,
                steps=6,
                batch_size=4,
                eval_episodes=1,
                eval_max_steps=20,
                log_every=2,
            ),
            "default": {},
            "bench": dict(eval_episodes=10),
        }
        if name not in base:
            raise ValueError(f"unknown TrainConfig preset {name!r}; choose from {sorted(base)}")
        return dataclasses.replace(cls(), **{**base[name], **overrides})

    def reference_key(self) -> dict:
        """The fields the reference policy depends on (its cache key), and nothing else."""
        return {
            "hidden": list(self.hidden),
            "bc_steps": self.bc_steps,
            "bc_lr": self.bc_lr,
            "bc_batch_steps": self.bc_batch_steps,
            **({"sft_levels": list(self.sft_levels)} if self.sft_levels else {}),
        }

    def to_dict(self) -> dict:
        """Plain JSON values. ``sft_levels`` is left out at its suite-v2 value (empty) and ``compile`` when off,
        so configurations and the hashes that key stored runs stay what they were before the fields existed."""
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        if not self.sft_levels:
            del d["sft_levels"]
        if not self.compile:
            del d["compile"]
        if not self.dataset_seeds:
            del d["dataset_seeds"]
        return d

    def dataset_seed_of(self, seed: int) -> int:
        """The preference dataset training seed ``seed`` trains on."""
        if self.dataset_seeds:
            return self.dataset_seeds[seed % len(self.dataset_seeds)]
        return seed if self.dataset_seed is None else self.dataset_seed

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        for k in ("hidden", "adam_betas", "sft_levels", "dataset_seeds"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)
