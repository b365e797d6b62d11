"""``symmpo export FILE --format trl``: one Python file (torch and trl only) with the loss and a trainer.

The file holds, in order: the standalone torch loss (``mpo_loss``, with the metadata constants and the
conventions docstring of every export), ``mpo_parts`` (its implicit rewards, margin and preference /
imitation terms, for logging; both printed from the objective's loss tree by :mod:`symmpo.objective.export`), the trainer code of :mod:`symmpo.integrations.trl_trainer` copied verbatim, and an
``MPOTrainer`` bound to this loss. Generating it needs neither trl nor its import: the trainer code is
read as text from the package.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from symmpo.errors import ObjectiveError
from symmpo.objective.export import parts_source, torch_source

if TYPE_CHECKING:
    from symmpo.objective import Objective

MARKER = "# ---- symmpo export: copied verbatim below this line ----"

_BINDING = '''
class MPOTrainer(MPOTrainerBase):
    """TRL's DPOTrainer training with mpo_loss (see the module docstring for the conventions).

    MPOTrainer(model=..., ref_model=..., args=DPOConfig(beta=BETA, ...), train_dataset=..., processing_class=...);
    DPOConfig.beta must equal BETA, and its loss options (loss_type, label_smoothing, ...) stay at their defaults.
    """

    def __init__(self, model, **kwargs):
        spec = LossSpec(OBJECTIVE_NAME, BETA, USES_TAU, USES_REFERENCE, mpo_loss, mpo_parts, GRANULARITY)
        super().__init__(spec, model=model, **kwargs)
'''


def trainer_source() -> str:
    """The shared trainer code: the part of ``trl_trainer.py`` below the marker line."""
    text = resources.files("symmpo.integrations").joinpath("trl_trainer.py").read_text()
    head, sep, body = text.partition(MARKER + "\n")
    if not sep:
        raise ObjectiveError("symmpo/integrations/trl_trainer.py lost its export marker line")
    return body


def trl_source(obj: Objective) -> str:
    """The whole exported module (imports torch and trl only)."""
    sections = [
        torch_source(obj, "mpo_loss"),
        parts_source(obj),
        "# ---- the trainer: MPOTrainer(model=..., ref_model=..., args=DPOConfig(...), ...) ----\n"
        + trainer_source(),
        _BINDING,
    ]
    return "\n\n".join(s.strip("\n") for s in sections) + "\n"


__all__ = ["MARKER", "parts_source", "trainer_source", "trl_source"]
