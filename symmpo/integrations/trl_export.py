"""``symmpo export FILE --format trl``: one Python file (torch and trl only) with the loss and a trainer.

The file holds, in order: the standalone torch loss (``mpo_loss``, with the metadata constants and the
conventions docstring of every export), ``mpo_parts`` (its implicit rewards and preference / imitation
terms, for logging), the trainer code of :mod:`symmpo.integrations.trl_trainer` copied verbatim, and an
``MPOTrainer`` bound to this loss. Generating it needs neither trl nor its import: the trainer code is
read as text from the package.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from symmpo.errors import ObjectiveError
from symmpo.objective.export import expr_source, torch_source
from symmpo.objective.loss import log_space_tree
from symmpo.symbolic.expr import Const

if TYPE_CHECKING:
    from symmpo.objective import Objective

MARKER = "# ---- symmpo export: copied verbatim below this line ----"
_ARGS = (
    "policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,\n"
    "              chosen_lengths=None, rejected_lengths=None, progress=0.0"
)
_LEN = "torch.as_tensor({0}, dtype=policy_chosen_logps.dtype, device=policy_chosen_logps.device).clamp(min=1)"

_BINDING = '''
class MPOTrainer(MPOTrainerBase):
    """TRL's DPOTrainer training with mpo_loss (see the module docstring for the conventions).

    MPOTrainer(model=..., ref_model=..., args=DPOConfig(beta=BETA, ...), train_dataset=..., processing_class=...);
    DPOConfig.beta must equal BETA, and its loss options (loss_type, label_smoothing, ...) stay at their defaults.
    """

    def __init__(self, model, **kwargs):
        spec = LossSpec(OBJECTIVE_NAME, BETA, USES_TAU, USES_REFERENCE, mpo_loss, mpo_parts)
        super().__init__(spec, model=model, **kwargs)
'''


def trainer_source() -> str:
    """The shared trainer code: the part of ``trl_trainer.py`` below the marker line."""
    text = resources.files("symmpo.integrations").joinpath("trl_trainer.py").read_text()
    head, sep, body = text.partition(MARKER + "\n")
    if not sep:
        raise ObjectiveError("symmpo/integrations/trl_trainer.py lost its export marker line")
    return body


def parts_source(obj: Objective, function_name: str = "mpo_parts") -> str:
    """Source of a function returning the loss's parts per example (as ``Objective.parts``)."""
    t = {k: log_space_tree(obj, k) for k in ("phi_inv", "psi", "g", "w_po", "w_sft")}
    mean = obj.reduce == "mean"
    sft = not (isinstance(t["w_sft"], Const) and t["w_sft"].value == 0.0)

    def comp(k: str, x: str) -> str:
        return expr_source(t[k], {"L": x, "z": x, "tau": "tau", "p": f"torch.exp({x})"})

    body = [
        "tau = torch.as_tensor(progress, dtype=policy_chosen_logps.dtype, device=policy_chosen_logps.device)"
    ]
    if mean or sft:
        body.append(f"chosen_lengths = {_LEN.format('chosen_lengths')}")
    if mean:
        body += [
            f"rejected_lengths = {_LEN.format('rejected_lengths')}",
            "lc, lr = policy_chosen_logps / chosen_lengths, policy_rejected_logps / rejected_lengths",
            "rc, rr = reference_chosen_logps / chosen_lengths, reference_rejected_logps / rejected_lengths",
        ]
    else:
        body += [
            "lc, lr = policy_chosen_logps, policy_rejected_logps",
            "rc, rr = reference_chosen_logps, reference_rejected_logps",
        ]
    body += [
        f"reward_chosen = BETA * (({comp('phi_inv', 'lc')}) - ({comp('psi', 'rc')}))",
        f"reward_rejected = BETA * (({comp('phi_inv', 'lr')}) - ({comp('psi', 'rr')}))",
        "z = reward_chosen - reward_rejected",
        f"preference = -({comp('w_po', 'tau')}) * ({comp('g', 'z')})",
        f"imitation = ({comp('w_sft', 'tau')}) * (-(policy_chosen_logps / chosen_lengths))"
        if sft
        else "imitation = torch.zeros_like(z)",
        "return {'reward_chosen': reward_chosen, 'reward_rejected': reward_rejected,"
        " 'preference': preference, 'imitation': imitation}",
    ]
    lines = [
        f"def {function_name}({_ARGS}):",
        '    """The loss split per example, for logging: implicit rewards, preference and imitation terms."""',
    ]
    return "\n".join(lines + ["    " + b for b in body]) + "\n"


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
