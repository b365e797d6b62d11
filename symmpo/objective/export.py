"""Standalone PyTorch source of an objective's loss (imports torch only).

The source is generated from the same log-space trees the compiler uses, with the same safe forms
(helpers prefixed ``symmpo_``, copied from :mod:`symmpo.symbolic.safe_ops`), so it matches ``Objective.loss`` to floating-point rounding.

No user text reaches the source unescaped: the objective's name appears only as a ``repr`` string
literal (``OBJECTIVE_NAME``, one of the metadata constants of :mod:`symmpo.objective.export_meta`; the
docstring refers to it by that constant and never quotes it), the function name must be a Python identifier that is not a keyword,
numbers are ``repr`` of finite floats, and everything else comes from the primitive registry's templates.
"""

from __future__ import annotations

import keyword
import math

from symmpo.errors import ObjectiveError
from symmpo.objective.export_meta import CONVENTIONS, metadata_source
from symmpo.objective.loss import log_space_tree, reads_data
from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.expr import Const, Expr, Node, Var, variables
from symmpo.symbolic.primitives import REGISTRY, export_helpers

# Lengths as the log-probs' dtype and device, clamped to >= 1 (an empty response: mean 0, NLL 0).
_LENGTHS = (
    "torch.as_tensor({0}, dtype=policy_chosen_logps.dtype, device=policy_chosen_logps.device).clamp(min=1)"
)


def expr_source(e: Expr, names: dict[str, str]) -> str:
    """Python source of a (log-space) tree; names maps variables to source expressions."""
    if isinstance(e, Const):
        v = float(e.value)
        if not math.isfinite(v):  # repr would be the bare names inf / nan
            return f"float({repr(v)!r})"
        return repr(v)
    if isinstance(e, Var):
        return names[e.name]
    assert isinstance(e, Node)
    return REGISTRY[e.op].source.format(*(expr_source(c, names) for c in e.args))


def torch_source(obj: ObjectiveLike, function_name: str = "loss") -> str:
    obj.require_symbolic("be exported")
    if not (isinstance(function_name, str) and function_name.isidentifier() and function_name.isascii()) or (
        keyword.iskeyword(function_name)
    ):
        raise ObjectiveError(f"function name {function_name!r} is not a Python identifier")
    t = {k: log_space_tree(obj, k) for k in ("phi_inv", "psi", "g", "w_po", "w_sft")}
    uses_tau = any("tau" in variables(obj.components[k]) for k in t)
    psi_zero = isinstance(t["psi"], Const)
    mean = obj.reduce == "mean"
    sft = not (isinstance(t["w_sft"], Const) and t["w_sft"].value == 0.0)
    needs_len = mean or sft

    def comp(k: str, x: str) -> str:
        return expr_source(t[k], {"L": x, "z": x, "tau": "tau", "p": f"torch.exp({x})"})

    lines = [
        f'"""An MPO loss exported by symmpo (reduce={obj.reduce}); its name is OBJECTIVE_NAME, its beta BETA.',
        "",
        "Arguments are summed log-probs per response (TRL convention); returns the per-example loss.",
        "",
        CONVENTIONS,
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        export_helpers(),
        "",
        metadata_source(obj),
        "",
        f"def {function_name}(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,",
        f"{' ' * (len(function_name) + 5)}reference_rejected_logps, chosen_lengths=None, rejected_lengths=None,"
        " progress=0.0):",
    ]
    body = []
    if needs_len:
        body += [
            "if chosen_lengths is None or rejected_lengths is None:",
            "    raise ValueError(OBJECTIVE_NAME + ' needs chosen_lengths and rejected_lengths')",
        ]
    body.append(
        "tau = torch.as_tensor(progress, dtype=policy_chosen_logps.dtype, device=policy_chosen_logps.device)"
        if uses_tau
        else "tau = progress"
    )
    if needs_len:
        body.append(f"chosen_lengths = {_LENGTHS.format('chosen_lengths')}")
    if mean:
        body += [
            f"rejected_lengths = {_LENGTHS.format('rejected_lengths')}",
            "lc = policy_chosen_logps / chosen_lengths",
            "lr = policy_rejected_logps / rejected_lengths",
            "rc = reference_chosen_logps / chosen_lengths",
            "rr = reference_rejected_logps / rejected_lengths",
        ]
    else:
        body += [
            "lc, lr = policy_chosen_logps, policy_rejected_logps",
            "rc, rr = reference_chosen_logps, reference_rejected_logps",
        ]
    body += [f"phi_c = {comp('phi_inv', 'lc')}", f"phi_r = {comp('phi_inv', 'lr')}"]
    if psi_zero:
        body.append("margin = phi_c - phi_r")
    else:
        body += [
            f"psi_c = {comp('psi', 'rc')}",
            f"psi_r = {comp('psi', 'rr')}",
            "margin = (phi_c - psi_c) - (phi_r - psi_r)",
        ]
    body.append("z = BETA * margin")  # the module's one beta: editing BETA changes the loss
    margin_reads, per_example = reads_data(obj)
    if not margin_reads:
        body.append(
            "z = torch.as_tensor(z, dtype=policy_chosen_logps.dtype, device=policy_chosen_logps.device)"
        )
    body.append(f"out = -({comp('w_po', 'tau')}) * ({comp('g', 'z')})")
    if not per_example:
        body.append("out = out + torch.zeros_like(policy_chosen_logps)")
    if sft:
        body.append(f"out = out + ({comp('w_sft', 'tau')}) * (-(policy_chosen_logps / chosen_lengths))")
    body.append("return out")
    lines += ["    " + b for b in body]
    return "\n".join(lines) + "\n"
