"""The loss tree (:mod:`symmpo.objective.loss_tree`) compiled into the closures behind ``Objective.loss`` and
``Objective.parts``, and printed as the whole-loss LaTeX formula.

The closures are built once per objective: branches that do not depend on the data (tied psi,
reference-free psi, beta = 1, w_po = 1, no imitation term) are resolved in the tree, not at every call.
"""

from __future__ import annotations

from typing import Any

import torch

from symmpo.objective import loss_tree
from symmpo.objective.loss_tree import (
    ARGS,
    LEN_R,
    LOSS,
    PAD_LOGP,
    PARTS,
    PC,
    PR,
    Apply,
    Arg,
    LossTree,
    Op,
    Ref,
    Term,
    log_space_tree,
)
from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.compile import compile_tree
from symmpo.symbolic.component import COMPONENTS
from symmpo.symbolic.expr import Const, Expr, Node, Var, is_tree, substitute
from symmpo.symbolic.primitives import REGISTRY
from symmpo.symbolic.printing import latex
from symmpo.symbolic.tidy import tidy


def component_fn(obj: ObjectiveLike, comp: str) -> tuple[Any, float | None]:
    """(fn(x, tau), constant value or None)."""
    c = obj.components[comp]
    if not is_tree(c):
        return c.torch_fn, None
    t = log_space_tree(obj, comp)
    if isinstance(t, Const):
        return (lambda x, tau, v=t.value: v), t.value
    return compile_tree(t, COMPONENTS[comp].input), None


def uses_reference(obj: ObjectiveLike) -> bool:
    """False when psi is constant: the reference log-probs then cancel from the margin."""
    return component_fn(obj, "psi")[1] is None


def response_lengths(lengths: Any, like: Any) -> Any:
    """Lengths as ``like``'s dtype and device, clamped to >= 1 (TRL's convention).

    An empty response has summed log-prob 0; with the clamp its mean log-prob is 0 (P = 1) and its NLL
    is 0, instead of 0/0.
    """
    return torch.as_tensor(lengths, dtype=like.dtype, device=like.device).clamp(min=1)


def token_mask(lengths: Any, like: Any) -> Any:
    """The token mask [B, T] of per-token log-probs ``like``: from lengths [B] (the first n tokens of each
    response) or from a mask [B, T] as given (TRL's completion mask: the completion after the prompt)."""
    m = torch.as_tensor(lengths, device=like.device)
    if m.dim() == like.dim():
        return m.bool()
    return torch.arange(like.shape[-1], device=like.device) < m.unsqueeze(-1)


def compile_steps(obj: ObjectiveLike, tree: LossTree, targets: tuple[str, ...]) -> Any:
    """The tree compiled for ``targets``: a function of the loss's arguments returning {target: value}.

    Each computed step becomes one closure over the environment of argument and step values (aliases are
    resolved here, constant components are captured as floats, beta = 1 is left out), so a call walks no
    tree: it costs the torch ops plus one Python call per term.
    """
    beta = obj.beta
    fns = {k: component_fn(obj, k) for k in obj.components}

    def build(t: Term) -> Any:
        if isinstance(t, Arg):
            n = t.name
            return lambda env: env[n]
        if isinstance(t, Ref):
            k = tree.resolve(t.name)
            return lambda env: env[k]
        if isinstance(t, Apply):
            f, const = fns[t.comp]
            if const is not None:
                return lambda env: const
            x, tau = build(t.arg), tree.resolve("tau")
            return lambda env: f(x(env), env[tau])
        a, b = ([build(x) for x in t.args] + [None, None])[:2]
        if t.op in REGISTRY:  # arithmetic: the primitive's torch form (the operator builtins)
            f2 = REGISTRY[t.op].torch_fn
            return (lambda env: f2(a(env))) if b is None else (lambda env: f2(a(env), b(env)))
        if t.op == "beta":
            return a if beta == 1.0 else (lambda env: beta * a(env))
        if t.op == "lengths":
            return lambda env: response_lengths(a(env), env[PC])
        if t.op == "progress":
            return lambda env: torch.as_tensor(a(env), dtype=env[PC].dtype, device=env[PC].device)
        if t.op == "mask":  # shaped like the log-probs of its side (chosen and rejected may differ in T)
            like = PR if t.args[0] == Arg(LEN_R) else PC
            return lambda env: token_mask(a(env), env[like])
        if t.op == "count":
            return lambda env: a(env).sum(-1).to(env[PC].dtype).clamp(min=1)
        if t.op == "pad":
            return lambda env: torch.where(b(env), a(env), PAD_LOGP)
        if t.op == "tsum":
            return lambda env: torch.where(b(env), a(env), 0.0).sum(-1)
        rows = (lambda env: env[PC][..., 0]) if tree.token else (lambda env: env[PC])  # batch-shaped
        if t.op == "batch":
            return lambda env: a(env) + torch.zeros_like(rows(env))
        assert t.op == "zeros", t.op
        return lambda env: torch.zeros_like(rows(env))

    plan = [(s.name, build(s.term)) for s in tree.needed(targets) if not s.is_alias]
    out = [(t, tree.resolve(t)) for t in targets]

    def fn(*args: Any) -> dict[str, Any]:
        env = dict(zip(ARGS, args, strict=True))
        for name, f in plan:
            env[name] = f(env)
        return {t: env[k] for t, k in out}

    return fn


def compile_objective(obj: ObjectiveLike, tree: LossTree | None = None) -> Any:
    """A function (pc, pr, rc, rr, lc, lr, progress) -> per-example loss: the tree's ``loss`` step."""
    fn = compile_steps(obj, tree or loss_tree.build(obj), (LOSS,))
    return lambda *args: fn(*args)[LOSS]


def compile_parts(obj: ObjectiveLike, tree: LossTree | None = None) -> Any:
    """A function (pc, pr, rc, rr, lc, lr, progress) -> the loss's parts, per example (for logging).

    Keys: ``reward_chosen``/``reward_rejected`` (the implicit rewards r(y) = beta [phi_inv(P) - psi(P_ref)],
    P per token when reduce=mean), ``margin`` (z = r(y+) - r(y-)), ``preference`` (-w_po g(z)),
    and ``imitation`` (w_sft NLL, zeros without an imitation term). preference + imitation is the loss: the
    same tree steps, so equal to the last bit.
    """
    return compile_steps(obj, tree or loss_tree.build(obj), PARTS)


# ----- LaTeX ----------------------------------------------------------------------------------------------
def component_latex(obj: ObjectiveLike) -> dict[str, str]:
    out = {}
    for k, c in obj.components.items():
        out[k] = latex(tidy(c)) if is_tree(c) else c.latex()
    return out


# The steps LaTeX shows as variables (the where-clause says what log P is); the rest are substituted.
_LATEX_VARS = {
    "logp_chosen": "Pc",
    "logp_rejected": "Pr",
    "ref_logp_chosen": "Rc",
    "ref_logp_rejected": "Rr",
    "nll_chosen": "NLL",
    "tau": "tau",
}


# granularity=token: the per-response sums of per-token log-ratios are the variables (the where-clause defines S).
_TOKEN_LATEX_VARS = {"log_ratio_chosen": "Sc", "log_ratio_rejected": "Sr", "nll_chosen": "NLL", "tau": "tau"}


def tree_expr(obj: ObjectiveLike, tree: LossTree, term: Term) -> Expr:
    """A step of the tree as one expression over P(y), P_ref(y), NLL and tau (components substituted)."""
    if isinstance(term, Ref):
        if tree.token and term.name in _TOKEN_LATEX_VARS:
            return Var(_TOKEN_LATEX_VARS[term.name])
        if term.name in _LATEX_VARS:
            return Var(_LATEX_VARS[term.name])
        return tree_expr(obj, tree, tree.step(term.name).term)
    if isinstance(term, Apply):
        return substitute(
            obj.components[term.comp], COMPONENTS[term.comp].var, tree_expr(obj, tree, term.arg)
        )
    if not isinstance(term, Op) or term.op in ("lengths", "progress"):
        raise ValueError(f"{term!r} has no LaTeX form")  # they sit below the variables shown
    if term.op == "zeros":
        return Const(0.0)
    args = tuple(tree_expr(obj, tree, a) for a in term.args)
    if term.op in REGISTRY:
        return Node(term.op, args)
    if term.op == "beta":
        return args[0] if obj.beta == 1.0 else Node("mul", (Const(obj.beta), args[0]))
    assert term.op == "batch", term.op
    return args[0]


def loss_latex(obj: ObjectiveLike, tree: LossTree | None = None) -> str:
    """ell = -w_po g(z) + w_sft NLL with z written out in the response probabilities: the tree's
    preference and imitation steps, printed."""
    if not obj.is_symbolic:
        tex = component_latex(obj)
        return (
            rf"\ell = -{tex['w_po']}\, g(z) + {tex['w_sft']}\,\mathrm{{NLL}}_\theta(y^+),\quad "
            rf"g(z) = {tex['g']},\ \varphi^{{-1}}(p) = {tex['phi_inv']},\ \psi(p) = {tex['psi']}"
        )
    tree = tree or loss_tree.build(obj)
    body = latex(tidy(tree_expr(obj, tree, Ref("preference"))))
    if tree.imitation:
        body = f"{body} + {latex(tidy(tree_expr(obj, tree, Ref('imitation'))))}"
    if tree.token:
        return rf"\ell = {body}, \quad {_token_where(obj, tree)}"
    if obj.reduce == "mean":
        where = r"\log P(y) = \frac{1}{|y|}\sum_t \log \pi(a_t \mid s_t)"
    else:
        where = r"\log P(y) = \sum_t \log \pi(a_t \mid s_t)"
    return rf"\ell = {body}, \quad {where}"


def _token_where(obj: ObjectiveLike, tree: LossTree) -> str:
    """What S(y) is for granularity=token: phi_inv and psi of each token's probability, summed or averaged."""
    tex = component_latex(obj)
    total = r"\frac{1}{|y|}\sum_{t \in y}" if obj.reduce == "mean" else r"\sum_{t \in y}"
    ratio = tree.step("token_ratio_chosen").term
    psi = isinstance(ratio, Op) and ratio.op == "sub"
    inner = r"\varphi^{-1}(p_t) - \psi(p^{\mathrm{ref}}_t)" if psi else r"\varphi^{-1}(p_t)"
    parts = [rf"S(y) = {total} \left[{inner}\right]", rf"\varphi^{{-1}}(p) = {tex['phi_inv']}"]
    if psi:
        parts.append(rf"\psi(p) = {tex['psi']}")
    parts.append(r"p_t = \pi_\theta(a_t \mid s_t)\ \text{(one token)}")
    return r",\ ".join(parts)
