"""Everything a text run depends on besides the objective and the training seed: one frozen dataclass.

The ``default`` preset was chosen on the *fitness* split only (dataset seed 0, training seeds 0-2, the
fitness evaluation prompts): the transfer table measures on the held-out split, which that choice never saw.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from symmpo.errors import SymmpoError
from symmpo.text.lm import ModelConfig, SFTConfig
from symmpo.text.task import ROLES, TaskSpec

DEV_SEEDS = (0, 1, 2)  # the training seeds the default configuration was chosen on (fitness split)


@dataclass(frozen=True)
class TextConfig:
    """Data, model, SFT, PO and evaluation settings of one text run."""

    n_pairs: int = 2000
    spec: TaskSpec = field(default_factory=TaskSpec)
    model: ModelConfig = field(default_factory=ModelConfig)
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(epochs=8.0))
    po_epochs: float = 2.0
    po_batch_size: int = 32
    lr: float = 1e-4  # PO learning rate (linear decay to 0, AdamW, TRL's defaults otherwise)
    eval_prompts: int = 512
    dataset_seed: int = 0
    eval_split: str = "fitness"  # fitness: what tuning may look at; heldout: what tables report
    # π_ref's data: () = the chosen responses of the preference pairs; level names (e.g. poor fair) = separate
    # SFT data of those behaviour levels on prompts of their own (symmpo.text.sft_data)
    sft_levels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.eval_split not in ROLES[1:]:
            raise SymmpoError(f"eval_split must be 'fitness' or 'heldout', got {self.eval_split!r}")
        if self.n_pairs < 1 or self.eval_prompts < 1 or self.po_batch_size < 1 or self.po_epochs <= 0:
            raise SymmpoError("n_pairs, eval_prompts, po_batch_size and po_epochs must be positive")
        if isinstance(self.sft_levels, str) or not all(isinstance(x, str) for x in self.sft_levels):
            raise SymmpoError(f"sft_levels must be a list of level names, got {self.sft_levels!r}")
        from symmpo.text.sft_data import check_levels

        object.__setattr__(self, "sft_levels", check_levels(tuple(self.sft_levels)))  # canonical order

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TextConfig:
        """``default`` (the transfer study) or ``tiny`` (tests: a few seconds per run)."""
        presets = {
            "default": {},
            "tiny": dict(
                n_pairs=48,
                model=ModelConfig(n_layer=1, n_embd=32, n_head=2),
                sft=SFTConfig(epochs=1.0, batch_size=16),
                po_epochs=1.0,
                po_batch_size=16,
                eval_prompts=24,
            ),
        }
        if name not in presets:
            raise SymmpoError(f"unknown text preset {name!r}; choose from {', '.join(presets)}")
        return dataclasses.replace(cls(), **{**presets[name], **overrides})

    def fitness(self) -> TextConfig:
        """This configuration on the fitness split (what a sweep tunes on)."""
        from symmpo import protocol

        return dataclasses.replace(self, dataset_seed=protocol.FITNESS_DATASET_SEED, eval_split="fitness")

    def heldout(self, dataset_seed: int | None = None) -> TextConfig:
        """This configuration on the held-out split (what the transfer table reports)."""
        from symmpo import protocol

        ds = protocol.HELDOUT_DATASET_SEED if dataset_seed is None else dataset_seed
        return dataclasses.replace(self, dataset_seed=ds, eval_split="heldout")

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``sft_levels`` only when set, so every configuration without it keeps its hash."""
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        if not self.sft_levels:
            del d["sft_levels"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextConfig:
        d = dict(d)
        d["spec"] = TaskSpec(**d.get("spec", {}))
        d["model"] = ModelConfig(**d.get("model", {}))
        d["sft"] = SFTConfig(**d.get("sft", {}))
        d["sft_levels"] = tuple(d.get("sft_levels", ()))
        return cls(**d)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
