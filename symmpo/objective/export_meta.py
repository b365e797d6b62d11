"""What every exported loss states about itself: metadata constants and the calling conventions.

Trainers pasting an exported loss need to know more than the formula: whether to pass lengths, whether
the loss reads training progress or the reference model, and which beta is baked in. Values are
emitted with ``repr`` only, so no text from an objective file reaches the generated code unescaped.
"""

from __future__ import annotations

from typing import Any

from symmpo.objective.types import ObjectiveLike

CONVENTIONS = """\
Conventions (the same as symmpo's Objective.loss):
* log-probs are summed over the response tokens only (the prompt is excluded), one number per response;
* lengths count the tokens that were summed (with TRL: the completion tokens, including the EOS token
  TRL appends); they are clamped to >= 1, so an empty response has mean log-prob 0 and NLL 0;
* the loss requires the lengths it reads (NEEDS_LENGTHS): both for REDUCE 'mean', chosen_lengths alone for
  an imitation term with REDUCE 'sum'; a length it does not read is ignored;
* progress is tau = optimizer step / total optimizer steps, in [0, 1]; use 0 outside training;
* the imitation term is IMITATION_WEIGHT(tau) * NLL, NLL = -(summed chosen log-prob) / chosen length:
  a per-example mean over response tokens (TRL's "sft" loss is a token mean over the whole batch);
* GRANULARITY 'token' changes the first two points: per-token log-probs [B, T] and token masks (see above);
* beta is BETA, which the loss reads (edit it there); a trainer's own beta setting does not change it;
* the function returns the per-example loss; average it for the batch loss."""


def export_metadata(obj: ObjectiveLike) -> dict[str, Any]:
    """name -> value of the constants an exported loss carries (formulas as strings, the rest plain)."""
    f = obj.formulas()
    return {
        "OBJECTIVE_NAME": obj.name,
        "BETA": float(obj.beta),
        "REDUCE": obj.reduce,
        "GRANULARITY": str(getattr(obj, "granularity", "sequence")),
        "NEEDS_LENGTHS": obj.needs_lengths,
        "USES_TAU": obj.uses_tau,
        "USES_REFERENCE": obj.uses_reference,
        "PREFERENCE_WEIGHT": f["w_po"],
        "IMITATION_WEIGHT": f["w_sft"],
    }


def metadata_source(obj: ObjectiveLike) -> str:
    """Python assignments of :func:`export_metadata` (every value through ``repr``)."""
    lines = ["# What this loss needs and assumes (read by trainers; see the module docstring)."]
    lines += [f"{k} = {v!r}" for k, v in export_metadata(obj).items()]
    return "\n".join(lines) + "\n"
