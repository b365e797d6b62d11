"""``MPOTrainer``: train any symmpo objective inside TRL's ``DPOTrainer``.

    from symmpo.integrations.trl import MPOTrainer
    trainer = MPOTrainer(objective="results/<run>/objectives/hof_01.yaml", model=model, ref_model=ref,
                         args=DPOConfig(...), train_dataset=ds, processing_class=tokenizer)

The training logic lives in :mod:`symmpo.integrations.trl_trainer` (shared verbatim with the file that
``symmpo export --format trl`` writes); this module binds it to an :class:`~symmpo.Objective`.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from symmpo.errors import ObjectiveError
from symmpo.objective import NAMED, Objective, named_or_file
from symmpo.objective.plain import PlainObjective

if importlib.util.find_spec("trl") is None:
    raise ImportError("symmpo.integrations.trl needs TRL: pip install 'symmpo[trl]'")

from symmpo.integrations.trl_trainer import LossSpec, MPOTrainerBase  # noqa: E402


def as_objective(objective: Objective | str | os.PathLike[str]) -> Objective:
    """An Objective, a named loss (dpo, simpo, ...) or the path of an objective YAML file."""
    if isinstance(
        objective, (Objective, PlainObjective)
    ):  # a plain baseline (outside MPO) trains the same way
        return objective
    if isinstance(objective, (str, os.PathLike)):
        spec = str(objective)
        obj = named_or_file(spec)
        if obj is not None:
            return obj
        raise ObjectiveError(
            f"objective {spec!r} is neither a named loss ({', '.join(NAMED)}) nor an existing objective file"
        )
    raise ObjectiveError(
        f"objective must be an Objective, a named loss or an objective file, got {type(objective).__name__}"
    )


def loss_spec(objective: Objective) -> LossSpec:
    """What the trainer needs from an objective: its loss, its parts for logging, and its requirements."""
    return LossSpec(
        name=objective.name,
        beta=objective.beta,
        uses_tau=objective.uses_tau,
        uses_reference=objective.uses_reference,
        loss=objective.loss,
        parts=objective.parts,
    )


class MPOTrainer(MPOTrainerBase):
    """A ``trl.DPOTrainer`` training with ``objective`` (an Objective, a named loss or an objective file).

    The other arguments are DPOTrainer's. Leave DPOConfig's loss options (loss_type, beta, label_smoothing,
    ...) at their defaults: the objective defines the loss and its beta; anything else is an
    ``ObjectiveError`` at construction. A reference-free objective loads and runs no reference model.
    """

    config_error = ObjectiveError

    def __init__(self, objective: Objective | str | os.PathLike[str], model: Any, **kwargs: Any):
        self.objective = as_objective(objective)
        super().__init__(loss_spec(self.objective), model=model, **kwargs)


__all__ = ["MPOTrainer", "as_objective", "loss_spec"]
