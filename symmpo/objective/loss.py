"""Assemble an objective's components into one loss closure, and into one LaTeX formula.

The loss closure is built once per objective: branches that do not depend on the data (tied psi,
reference-free psi, beta = 1, w_po = 1, no imitation term) are resolved here, not at every call.
"""

from __future__ import annotations

from typing import Any

import torch

from symmpo.objective.types import ObjectiveLike
from symmpo.symbolic.compile import compile_tree, fold
from symmpo.symbolic.component import COMPONENTS
from symmpo.symbolic.expr import Const, Expr, Node, Var, is_tree, substitute, variables
from symmpo.symbolic.printing import latex
from symmpo.symbolic.rewrite import to_log_space
from symmpo.symbolic.tidy import tidy


def log_space_tree(obj: ObjectiveLike, comp: str) -> Expr:
    """The component as it is compiled: phi_inv/psi read L = log p; g reads z; weights read tau."""
    c = obj.components[comp]
    if COMPONENTS[comp].var == "p":
        return fold(to_log_space(c, "p"))
    return fold(to_log_space(c, "__none__"))


def component_fn(obj: ObjectiveLike, comp: str) -> tuple[Any, float | None]:
    """(fn(x, tau), constant value or None)."""
    c = obj.components[comp]
    if not is_tree(c):
        return c.torch_fn, None
    t = log_space_tree(obj, comp)
    if isinstance(t, Const):
        return (lambda x, tau, v=t.value: v), t.value
    return compile_tree(t, COMPONENTS[comp].input), None


def uses_tau(obj: ObjectiveLike) -> bool:
    """True when some component reads tau (a non-symbolic component is assumed to)."""
    return any(not is_tree(c) or "tau" in variables(c) for c in obj.components.values())


def reads_data(obj: ObjectiveLike) -> tuple[bool, bool]:
    """(the margin depends on the log-probs, the loss's PO term does): when not, the loss must broadcast
    its (constant or tau-only) value to the batch itself, since no tensor op does it."""

    def reads(comp: str, var: str) -> bool:
        c = obj.components[comp]
        return not is_tree(c) or var in variables(log_space_tree(obj, comp))

    psi_counts = not isinstance(log_space_tree(obj, "psi"), Const) if is_tree(obj.components["psi"]) else True
    margin = reads("phi_inv", "L") or (psi_counts and reads("psi", "L"))
    return margin, margin and reads("g", "z")


def uses_reference(obj: ObjectiveLike) -> bool:
    """False when psi is constant: the reference log-probs then cancel from the margin."""
    return component_fn(obj, "psi")[1] is None


def response_lengths(lengths: Any, like: Any) -> Any:
    """Lengths as ``like``'s dtype and device, clamped to >= 1 (TRL's convention).

    An empty response has summed log-prob 0; with the clamp its mean log-prob is 0 (P = 1) and its NLL
    is 0, instead of 0/0.
    """
    return torch.as_tensor(lengths, dtype=like.dtype, device=like.device).clamp(min=1)


def compile_objective(obj: ObjectiveLike) -> Any:
    """A function (pc, pr, rc, rr, lc, lr, progress) -> per-example loss."""
    phi, _ = component_fn(obj, "phi_inv")
    psi, psi_const = component_fn(obj, "psi")
    g, _ = component_fn(obj, "g")
    w_po, w_po_const = component_fn(obj, "w_po")
    w_sft, w_sft_const = component_fn(obj, "w_sft")
    beta = obj.beta
    mean = obj.reduce == "mean"
    tied = obj.psi_tied
    no_psi = psi_const is not None  # a constant psi cancels in the margin
    tau_used = uses_tau(obj)
    margin_reads, per_example = reads_data(obj)  # False only for degenerate objectives (constant phi_inv...)

    def margin(lc: Any, lr: Any, rc: Any, rr: Any, tau: Any) -> Any:
        if no_psi:
            m = phi(lc, tau) - phi(lr, tau)
        elif tied:
            m = (phi(lc, tau) - phi(rc, tau)) - (phi(lr, tau) - phi(rr, tau))
        else:
            m = (phi(lc, tau) - psi(rc, tau)) - (phi(lr, tau) - psi(rr, tau))
        return m if beta == 1.0 else beta * m

    def fn(pc: Any, pr: Any, rc: Any, rr: Any, len_c: Any, len_r: Any, progress: Any) -> Any:
        tau = torch.as_tensor(progress, dtype=pc.dtype, device=pc.device) if tau_used else progress
        if mean or w_sft_const != 0.0:
            len_c = response_lengths(len_c, pc)
        if mean:
            len_r = response_lengths(len_r, pr)
            lc, lr, rcm, rrm = pc / len_c, pr / len_r, rc / len_c, rr / len_r
        else:
            lc, lr, rcm, rrm = pc, pr, rc, rr
        z = margin(lc, lr, rcm, rrm, tau)
        if not margin_reads:
            z = torch.as_tensor(z, dtype=pc.dtype, device=pc.device)
        out = -g(z, tau) if w_po_const == 1.0 else -(w_po(tau, tau) * g(z, tau))
        if not per_example:
            out = out + torch.zeros_like(pc)
        if w_sft_const != 0.0:
            nll = -(pc / len_c)
            out = out + (nll if w_sft_const == 1.0 else w_sft(tau, tau) * nll)
        return out

    return fn


def compile_parts(obj: ObjectiveLike) -> Any:
    """A function (pc, pr, rc, rr, lc, lr, progress) -> the loss's parts, per example (for logging).

    Keys: ``reward_chosen``/``reward_rejected`` (the implicit rewards r(y) = beta [phi_inv(P) - psi(P_ref)],
    P per token when reduce=mean), ``margin`` (z = r(y+) - r(y-)), ``preference`` (-w_po g(z)),
    and ``imitation`` (w_sft NLL, zeros without an imitation term). preference + imitation equals the loss
    to rounding.
    """
    phi, _ = component_fn(obj, "phi_inv")
    psi, _ = component_fn(obj, "psi")
    g, _ = component_fn(obj, "g")
    w_po, _ = component_fn(obj, "w_po")
    w_sft, w_sft_const = component_fn(obj, "w_sft")
    beta, mean, sft = obj.beta, obj.reduce == "mean", w_sft_const != 0.0

    def full(f: Any, x: Any, tau: Any) -> Any:
        return torch.as_tensor(f(x, tau), dtype=x.dtype, device=x.device).expand_as(x)

    def fn(pc: Any, pr: Any, rc: Any, rr: Any, len_c: Any, len_r: Any, progress: Any) -> dict[str, Any]:
        tau = torch.as_tensor(progress, dtype=pc.dtype, device=pc.device)
        if mean or sft:
            len_c = response_lengths(len_c, pc)
            nll = -(pc / len_c)
        if mean:
            len_r = response_lengths(len_r, pr)
            pc, pr, rc, rr = pc / len_c, pr / len_r, rc / len_c, rr / len_r
        r_c = beta * (full(phi, pc, tau) - full(psi, rc, tau))
        r_r = beta * (full(phi, pr, tau) - full(psi, rr, tau))
        z = r_c - r_r
        imitation = full(w_sft, tau, tau) * nll if sft else torch.zeros_like(z)
        return {
            "reward_chosen": r_c,
            "reward_rejected": r_r,
            "margin": z,
            "preference": -(full(w_po, tau, tau) * full(g, z, tau)),
            "imitation": imitation,
        }

    return fn


# ----- LaTeX ----------------------------------------------------------------------------------------------
def component_latex(obj: ObjectiveLike) -> dict[str, str]:
    out = {}
    for k, c in obj.components.items():
        out[k] = latex(tidy(c)) if is_tree(c) else c.latex()
    return out


def loss_latex(obj: ObjectiveLike) -> str:
    """ell = -w_po g(z) + w_sft NLL with z written out in the response probabilities."""
    comps = obj.components
    if not obj.is_symbolic:
        tex = component_latex(obj)
        return (
            rf"\ell = -{tex['w_po']}\, g(z) + {tex['w_sft']}\,\mathrm{{NLL}}_\theta(y^+),\quad "
            rf"g(z) = {tex['g']},\ \varphi^{{-1}}(p) = {tex['phi_inv']},\ \psi(p) = {tex['psi']}"
        )
    phi, psi = comps["phi_inv"], comps["psi"]
    psi_zero = isinstance(fold(psi), Const)

    def r(pv: str, rv: str) -> Expr:
        a = substitute(phi, "p", Var(pv))
        if psi_zero:
            return a
        return Node("sub", (a, substitute(psi, "p", Var(rv))))

    m = Node("sub", (r("Pc", "Rc"), r("Pr", "Rr")))
    z = m if obj.beta == 1.0 else Node("mul", (Const(obj.beta), m))
    gz = substitute(comps["g"], "z", z)
    wpo, wsft = fold(comps["w_po"]), fold(comps["w_sft"])
    po = latex(
        tidy(Node("neg", (gz,)) if wpo == Const(1.0) else Node("neg", (Node("mul", (comps["w_po"], gz)),)))
    )
    body = po
    if wsft != Const(0.0):
        sft = (
            latex(Var("NLL"))
            if wsft == Const(1.0)
            else latex(tidy(Node("mul", (comps["w_sft"], Var("NLL")))))
        )
        body = f"{po} + {sft}"
    if obj.reduce == "mean":
        where = r"\log P(y) = \frac{1}{|y|}\sum_t \log \pi(a_t \mid s_t)"
    else:
        where = r"\log P(y) = \sum_t \log \pi(a_t \mid s_t)"
    return rf"\ell = {body}, \quad {where}"
