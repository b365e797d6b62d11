"""Standalone PyTorch source of an objective's loss (imports torch only), and of its parts (the TRL export's
``mpo_parts``): the loss tree (:mod:`symmpo.objective.loss_tree`) printed step by step.

The source is generated from the same tree and log-space component trees the compiler uses, with the same safe forms
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
from symmpo.objective import loss_tree
from symmpo.objective.export_meta import CONVENTIONS, metadata_source
from symmpo.objective.loss_tree import (
    LEN_C,
    LEN_R,
    LOSS,
    OPS,
    PAD_LOGP,
    PARTS,
    Apply,
    Arg,
    LossTree,
    Ref,
    Term,
    log_space_tree,
)
from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.expr import Const, Expr, Node, Var
from symmpo.symbolic.primitives import REGISTRY, export_helpers

# Each of the loss tree's own operations as source (lengths clamped to >= 1: an empty response has mean 0, NLL 0).
_LIKE = "dtype=policy_chosen_logps.dtype, device=policy_chosen_logps.device"
_TEMPLATES = {
    "beta": "(BETA * {0})",  # the module's one beta: editing BETA changes the loss
    "lengths": f"torch.as_tensor({{0}}, {_LIKE}).clamp(min=1)",
    "progress": f"torch.as_tensor({{0}}, {_LIKE})",
    "batch": "({0} + torch.zeros_like(policy_chosen_logps))",
    "zeros": "torch.zeros_like(policy_chosen_logps)",
    "mask": "symmpo_token_mask({0}, policy_chosen_logps)",
    "count": "{0}.sum(-1).to(policy_chosen_logps.dtype).clamp(min=1)",
    "pad": f"torch.where({{1}}, {{0}}, {PAD_LOGP!r})",
    "tsum": "torch.where({1}, {0}, 0.0).sum(-1)",
}
assert set(_TEMPLATES) == set(OPS)
# granularity=token: the log-probs are [B, T]; a batch-shaped value is shaped like one column of them.
_TOKEN_TEMPLATES = {
    **_TEMPLATES,
    "batch": "({0} + torch.zeros_like(policy_chosen_logps[..., 0]))",
    "zeros": "torch.zeros_like(policy_chosen_logps[..., 0])",
}
TOKEN_MASK_SOURCE = '''
def symmpo_token_mask(lengths, like):
    """The token mask [B, T] of per-token log-probs: from lengths [B] (the first n tokens) or a mask [B, T]."""
    m = torch.as_tensor(lengths, device=like.device)
    if m.dim() == like.dim():
        return m.bool()
    return torch.arange(like.shape[-1], device=like.device) < m.unsqueeze(-1)
'''
TOKEN_ARGUMENTS = (
    "granularity=token: the four log-prob arguments are per-token log-probs [B, T] (padded; padding is\n"
    "ignored), chosen_lengths and rejected_lengths are required and give the token masks (lengths [B]: the\n"
    "first n tokens; or boolean masks [B, T], e.g. TRL's completion mask); phi_inv and psi read each token's\n"
    "log-prob, summed (REDUCE 'sum') or averaged (REDUCE 'mean') over the response; returns the per-example loss."
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


def check_function_name(function_name: str) -> None:
    """ObjectiveError unless the name is an ASCII Python identifier that is not a keyword."""
    if not (isinstance(function_name, str) and function_name.isidentifier() and function_name.isascii()) or (
        keyword.iskeyword(function_name)
    ):
        raise ObjectiveError(f"function name {function_name!r} is not a Python identifier")


def steps_source(obj: ObjectiveLike, tree: LossTree, targets: tuple[str, ...]) -> list[str]:
    """The body of a function of ``ARGS`` computing the tree's ``targets``: the lengths check, then one
    assignment per computed step (aliases are inlined: they name an argument or another step)."""
    comps = {k: log_space_tree(obj, k) for k in ("phi_inv", "psi", "g", "w_po", "w_sft")}

    def src(t: Term) -> str:
        if isinstance(t, Arg):
            return t.name
        if isinstance(t, Ref):
            return tree.resolve(t.name)
        if isinstance(t, Apply):
            x = src(t.arg)  # a step or argument name, never an expression: formulas may read it many times
            assert x.isidentifier()
            e = expr_source(
                comps[t.comp], {"L": x, "z": x, "tau": tree.resolve("tau"), "p": f"torch.exp({x})"}
            )
            return e if e.isidentifier() else f"({e})"
        if t.op == "mask" and t.args[0] == Arg(LEN_R):  # shaped like its own side's log-probs
            return f"symmpo_token_mask({src(t.args[0])}, policy_rejected_logps)"
        templates = _TOKEN_TEMPLATES if tree.token else _TEMPLATES
        form = REGISTRY[t.op].source if t.op in REGISTRY else templates[t.op]  # arithmetic: the registry's
        return form.format(*(src(a) for a in t.args))

    body = []
    needed = {LEN_C: "chosen_lengths is None", LEN_R: "rejected_lengths is None"}
    if tree.lengths:
        body += [
            "if " + " or ".join(needed[k] for k in tree.lengths) + ":",
            f"    raise ValueError('objective ' + repr(OBJECTIVE_NAME) + {tree.lengths_suffix!r})",
        ]
    for s in tree.needed(targets):
        if not s.is_alias:
            text = src(s.term)
            body.append(
                f"{s.name} = {text[1:-1] if text.startswith('(') and _balanced(text[1:-1]) else text}"
            )
    if targets == (LOSS,):
        body.append(f"return {tree.resolve(LOSS)}")
    else:
        body.append("return {" + ", ".join(f"{t!r}: {tree.resolve(t)}" for t in targets) + "}")
    return body


def _balanced(text: str) -> bool:
    """True when the text's parentheses balance left to right (so outer ones can be dropped)."""
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def def_lines(function_name: str) -> list[str]:
    """The ``def`` of an exported loss function (the name checked): ``ARGS`` with TRL's defaults."""
    check_function_name(function_name)
    return [
        f"def {function_name}(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,",
        f"{' ' * (len(function_name) + 5)}reference_rejected_logps, chosen_lengths=None, rejected_lengths=None,"
        " progress=0.0):",
    ]


def function_source(obj: ObjectiveLike, function_name: str, targets: tuple[str, ...], doc: str = "") -> str:
    """A function of ``ARGS`` (with TRL's defaults) computing ``targets`` of the objective's loss tree."""
    lines = def_lines(function_name)
    tree = loss_tree.build(obj)
    if doc:
        lines.append(f"    {doc!r}")  # a fixed text of ours, through repr all the same
    return "\n".join(lines + ["    " + b for b in steps_source(obj, tree, targets)]) + "\n"


def torch_source(obj: ObjectiveLike, function_name: str = "loss") -> str:
    obj.require_symbolic("be exported")
    check_function_name(function_name)
    token = loss_tree.granularity(obj) == "token"
    head = f"reduce={obj.reduce}, granularity=token" if token else f"reduce={obj.reduce}"
    arguments = (
        TOKEN_ARGUMENTS
        if token
        else "Arguments are summed log-probs per response (TRL convention); returns the per-example loss."
    )
    lines = [
        f'"""An MPO loss exported by symmpo ({head}); its name is OBJECTIVE_NAME, its beta BETA.',
        "",
        arguments,
        "",
        CONVENTIONS,
        '"""',
        "",
        "import torch",
        "import torch.nn.functional as F",
        export_helpers(),
        *([TOKEN_MASK_SOURCE] if token else []),
        "",
        metadata_source(obj),
        "",
    ]
    return "\n".join(lines) + "\n" + function_source(obj, function_name, (LOSS,))


def parts_source(obj: ObjectiveLike, function_name: str = "mpo_parts") -> str:
    """Source of a function returning the loss's parts per example (as ``Objective.parts``)."""
    obj.require_symbolic("be exported")
    doc = "The loss split per example, for logging: implicit rewards, margin, preference and imitation terms."
    return function_source(obj, function_name, PARTS, doc)
