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
from symmpo.objective import NAMED, Objective, lookup, named_or_file
from symmpo.objective.component_checks import require_proved
from symmpo.objective.named import defaults
from symmpo.objective.plain import PlainObjective

if importlib.util.find_spec("trl") is None:
    raise ImportError("symmpo.integrations.trl needs TRL: pip install 'symmpo[trl]'")

from symmpo.integrations.trl_trainer import LossSpec, MPOTrainerBase, _config_defaults  # noqa: E402


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


# A named loss's parameter that TRL calls beta: its reward scale, except ipo (beta sits inside g) and orpo
# (ORPOTrainer's beta is the odds-ratio weight lambda).
_TRL_BETA = {"orpo": "lam"}


def trl_beta(objective: Objective) -> float:
    """beta in TRL's meaning: a named baseline's own parameter when ``objective`` is one, else its reward scale."""
    published = _published(objective)
    if published is None:
        return objective.beta
    # a loss without such a parameter (sft_chosen) keeps its reward scale: TRL needs some beta
    return published.params.get(_TRL_BETA.get(published.name, "beta"), objective.beta)


def _published(objective: Objective) -> Objective | None:
    """The named baseline ``objective`` is (its parameters completed by the table's defaults), or None."""
    key = lookup(objective.name)
    if key is None:
        return None
    try:
        named = Objective.named(key, **objective.params)
    except ObjectiveError:  # parameters the baseline does not have: a custom objective under that name
        return None
    return named if named == objective else None


def loss_spec(objective: Objective) -> LossSpec:
    """What the trainer needs from an objective: its loss, its parts for logging, and its requirements."""
    return LossSpec(
        name=objective.name,
        beta=trl_beta(objective),
        uses_tau=objective.uses_tau,
        uses_reference=objective.uses_reference,
        loss=objective.loss,
        parts=objective.parts,
        granularity=getattr(objective, "granularity", "sequence"),
    )


class MPOTrainer(MPOTrainerBase):
    """A ``trl.DPOTrainer`` training with ``objective`` (an Objective, a named loss or an objective file).

    The other arguments are DPOTrainer's. A named loss given by name takes its beta from DPOConfig.beta
    (ipo's beta, orpo's lambda, as TRL's trainers do); an Objective or a file fixes beta, and DPOConfig.beta
    must equal it. An objective that is not proved valid (``symmpo check``) is refused unless
    ``allow_unproved=True``. DPOConfig's loss options (loss_type, label_smoothing, ...) must stay at their
    defaults. Every configuration error is an ``ObjectiveError`` raised here, before any training.
    """

    config_error = ObjectiveError

    def __init__(
        self,
        objective: Objective | str | os.PathLike[str],
        model: Any,
        *,
        allow_unproved: bool = False,
        **kwargs: Any,
    ):
        obj = as_objective(objective)
        key = lookup(str(objective)) if isinstance(objective, str) else None
        if key is not None:  # a name leaves beta free: TRL's place for it is DPOConfig.beta
            args = kwargs.get("args")
            beta = args.beta if args is not None else _config_defaults()["beta"]
            scale = _TRL_BETA.get(key, "beta")
            obj = Objective.named(key, **({scale: beta} if scale in defaults(key) else {}))
        if not allow_unproved:
            require_proved(obj, "allow_unproved=True")
        self.objective = obj
        super().__init__(loss_spec(obj), model=model, **kwargs)


__all__ = ["MPOTrainer", "as_objective", "loss_spec", "trl_beta"]
