"""The loss tree: the one description of how an objective's components make its loss, with named parts.

Every consumer reads this tree, so they cannot drift: :mod:`symmpo.objective.loss` compiles it into the
closures behind ``Objective.loss`` and ``Objective.parts`` and prints ``Objective.latex`` from it;
:mod:`symmpo.objective.export` prints it as the standalone torch source (``loss``) and as the TRL export's
``mpo_parts``; the lengths a loss requires, and the error when they are missing, are read from it too.

The steps, in order (``ARGS`` are the loss's arguments; a step whose term is an argument or another step is
an alias, which compilers and printers resolve instead of computing)::

    tau                 progress, as a tensor when some component reads it
    len_chosen          chosen_lengths clamped to >= 1       reduce=mean, or an imitation term
    len_rejected        rejected_lengths clamped to >= 1     reduce=mean
    logp_chosen ...     L(y): the summed log-prob, divided by the length when reduce=mean (policy and
                        reference, chosen and rejected: four steps)
    log_ratio_chosen    phi_inv(L_theta(y+)) - psi(L_ref(y+)); a constant psi cancels from the margin and
    log_ratio_rejected  is left out (rewards are then phi_inv alone: an implicit reward is defined up to a
                        constant shift)
    reward_chosen       beta * log_ratio_chosen                                   part
    reward_rejected     beta * log_ratio_rejected                                 part
    margin              z = beta * (log_ratio_chosen - log_ratio_rejected)        part
    preference          -w_po(tau) * g(z)                                         part
    nll_chosen          -(summed chosen log-prob) / len_chosen                    imitation term only
    imitation           w_sft(tau) * nll_chosen (zeros without an imitation term) part
    loss                preference + imitation

**granularity=token** (:func:`build_token`): the log-prob arguments are per token ``[B, T]``; ``mask_*`` steps
turn the lengths arguments (lengths or masks) into token masks, ``pad`` sets padded tokens to log(1/2) before a
component reads them, ``token_ratio_*`` is phi_inv - psi per token and ``log_ratio_*`` its sum (or mean) over
the response's tokens (``tsum``); the rest of the tree is the same. Both lengths are always required.

**Lengths convention** (the one place it is decided): a loss requires exactly the lengths its tree reads:
``chosen_lengths`` and ``rejected_lengths`` when reduce=mean, ``chosen_lengths`` alone for an imitation
term with reduce=sum (the NLL reads the chosen length only). A length the tree does not read is ignored.
Lengths are clamped to >= 1 (TRL's convention): an empty response has mean log-prob 0 and NLL 0.

Terms are small frozen dataclasses holding names only (component names, step names, argument names):
nothing in a tree is user text, and the component formulas reach generated code only through the
primitive registry's templates (:func:`symmpo.objective.export.expr_source`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from symmpo.objective.types import LossArgs, ObjectiveLike
from symmpo.symbolic.compile import fold
from symmpo.symbolic.component import COMPONENTS
from symmpo.symbolic.expr import Const, Expr, is_tree, variables
from symmpo.symbolic.rewrite import to_log_space

# The loss's arguments, in order (TRL's names; the exported functions take exactly these).
ARGS: tuple[str, ...] = LossArgs._fields
PC, PR, RC, RR, LEN_C, LEN_R, PROGRESS = ARGS
# The named parts Objective.parts returns (preference + imitation is the loss), and the loss itself.
PARTS = ("reward_chosen", "reward_rejected", "margin", "preference", "imitation")
LOSS = "loss"


# ----- terms ----------------------------------------------------------------------------------------------
# A term is an argument, an earlier step, a component applied to one of those, or an operation of OPS.
@dataclass(frozen=True)
class Arg:
    name: str  # one of ARGS


@dataclass(frozen=True)
class Ref:
    name: str  # an earlier step


@dataclass(frozen=True)
class Apply:
    """A component applied to a step or an argument (its compiled input: L = log p, z, or tau); components
    read tau as well, always the ``tau`` step."""

    comp: str
    arg: Ref | Arg


@dataclass(frozen=True)
class Op:
    op: str  # an arithmetic primitive of the symbolic registry (add, sub, ...), or a key of OPS
    args: tuple[Term, ...] = ()


Term = Arg | Ref | Apply | Op
# The tree's own operations, by the number of operands; every consumer maps each name to its own form (and
# the arithmetic ones through the primitive registry).
OPS = {
    "beta": 1,  # beta * x: the objective's one beta (the exports read their BETA constant)
    "lengths": 1,  # a lengths argument as the log-probs' dtype and device, clamped to >= 1
    "progress": 1,  # the progress argument as a tensor of the log-probs' dtype and device
    "batch": 1,  # x broadcast to the batch (a value that reads no data: constant or tau-only components)
    "zeros": 0,  # zeros of the batch's shape
    # granularity=token only (the log-prob arguments are per token, [B, T]):
    "mask": 1,  # the token mask [B, T] from a lengths argument: lengths [B] (the first n tokens) or a mask [B, T]
    "count": 1,  # tokens per response, mask.sum(-1) as the log-probs' dtype, clamped to >= 1
    "pad": 2,  # (x, mask): x with padded tokens set to log(1/2), so no component sees p = 1 or -inf there
    "tsum": 2,  # (x, mask): the sum of x over each response's tokens (padding counts 0)
}
GRANULARITIES = ("sequence", "token")
PAD_LOGP = (
    -0.6931471805599453
)  # log(1/2): what a padded token's log-prob is set to before a component reads it


@dataclass(frozen=True)
class Step:
    name: str
    term: Term

    @property
    def is_alias(self) -> bool:
        return isinstance(self.term, (Arg, Ref))


@dataclass(frozen=True)
class LossTree:
    """The steps of one objective's loss, and the lengths it requires (argument names) with the reason."""

    steps: tuple[Step, ...]
    lengths: tuple[str, ...]
    why: str
    imitation: bool  # an imitation term is present (else the imitation part is zeros)
    token: bool = False  # granularity=token: log-prob arguments are per token [B, T], lengths give the mask

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def needed(self, targets: tuple[str, ...]) -> list[Step]:
        """The steps the targets depend on (themselves included), in tree order."""
        want: set[str] = set()
        todo = list(targets)
        while todo:
            name = todo.pop()
            if name not in want:
                want.add(name)
                todo += refs(self.step(name).term)
        return [s for s in self.steps if s.name in want]

    def resolve(self, name: str) -> str:
        """What a step name stands for once aliases are followed: an argument's name (argument and step names
        never coincide) or a computed step's name."""
        term = self.step(name).term
        if isinstance(term, Arg):
            return term.name
        return self.resolve(term.name) if isinstance(term, Ref) else name

    @property
    def lengths_suffix(self) -> str:
        """The missing-lengths error after the objective's name: ``"objective " + repr(name) + suffix``."""
        which = " and ".join(self.lengths)
        return f" needs {which} ({self.why}); pass the number of steps (tokens) of each response"


def refs(term: Term) -> list[str]:
    """The step names a term reads (components read the ``tau`` step too)."""
    if isinstance(term, Ref):
        return [term.name]
    if isinstance(term, Apply):
        return ["tau", *refs(term.arg)]
    if isinstance(term, Op):
        return [n for a in term.args for n in refs(a)]
    return []


def args_read(tree: LossTree, targets: tuple[str, ...]) -> set[str]:
    """The argument names the targets' steps mention."""

    def walk(t: Term) -> set[str]:
        if isinstance(t, Arg):
            return {t.name}
        if isinstance(t, Apply):
            return walk(t.arg)
        if isinstance(t, Op):
            return set().union(*(walk(a) for a in t.args))
        return set()

    return set().union(*(walk(s.term) for s in tree.needed(targets)))


# ----- components as the tree reads them ------------------------------------------------------------------
def log_space_tree(obj: ObjectiveLike, comp: str) -> Expr:
    """The component as it is compiled: phi_inv/psi read L = log p; g reads z; weights read tau."""
    c = obj.components[comp]
    if COMPONENTS[comp].var == "p":
        return fold(to_log_space(c, "p"))
    return fold(to_log_space(c, "__none__"))


def _const(obj: ObjectiveLike, comp: str) -> Const | None:
    """The component's folded log-space tree when it is a constant (None for a non-symbolic component)."""
    if not is_tree(obj.components[comp]):
        return None
    t = log_space_tree(obj, comp)
    return t if isinstance(t, Const) else None


def _is_one(obj: ObjectiveLike, comp: str) -> bool:
    """The weight is the literal 1 (a tunable constant at 1 stays in the tree: it may move)."""
    c = obj.components[comp]
    return is_tree(c) and fold(c) == Const(1.0)


def uses_tau(obj: ObjectiveLike) -> bool:
    """True when some component reads tau (a non-symbolic component is assumed to)."""
    return any(not is_tree(c) or "tau" in variables(c) for c in obj.components.values())


def reads_data(obj: ObjectiveLike, tree_steps: dict[str, Term], term: Term) -> bool:
    """True when the term's value depends on the batch (so a tensor op gives it the batch's shape); False for
    constant or tau-only values, which the tree broadcasts itself (``batch``)."""
    if isinstance(term, Arg):
        return term.name != PROGRESS
    if isinstance(term, Ref):
        return reads_data(obj, tree_steps, tree_steps[term.name])
    if isinstance(term, Apply):
        arg = reads_data(obj, tree_steps, term.arg)
        if not is_tree(obj.components[term.comp]):  # a non-symbolic component is assumed to read its input
            return arg
        spec = COMPONENTS[term.comp]
        return arg and spec.input != "tau" and spec.input in variables(log_space_tree(obj, term.comp))
    if term.op in ("lengths", "batch", "zeros", "mask", "count", "pad", "tsum"):
        return True
    return term.op != "progress" and any(reads_data(obj, tree_steps, a) for a in term.args)


# ----- the tree -------------------------------------------------------------------------------------------
def granularity(obj: ObjectiveLike) -> str:
    """The objective's granularity; objects without the attribute (neural, plain) are sequence-level."""
    return str(getattr(obj, "granularity", "sequence"))


def build(obj: ObjectiveLike) -> LossTree:
    """The loss tree of an objective (symbolic or not; only a symbolic one can be printed as source)."""
    if granularity(obj) == "token":
        return build_token(obj)
    mean, imitation = obj.reduce == "mean", _has_imitation(obj)
    psi_cancels = _const(obj, "psi") is not None
    steps, add = _begin(obj)
    if mean or imitation:
        add("len_chosen", Op("lengths", (Arg(LEN_C),)))
    if mean:
        add("len_rejected", Op("lengths", (Arg(LEN_R),)))
    for step, arg, length in (
        ("logp_chosen", PC, "len_chosen"),
        ("logp_rejected", PR, "len_rejected"),
        ("ref_logp_chosen", RC, "len_chosen"),
        ("ref_logp_rejected", RR, "len_rejected"),
    ):
        add(step, Op("div", (Arg(arg), Ref(length))) if mean else Arg(arg))
    for side in ("chosen", "rejected"):
        phi = Apply("phi_inv", Ref(f"logp_{side}"))
        add(
            f"log_ratio_{side}",
            phi if psi_cancels else Op("sub", (phi, Apply("psi", Ref(f"ref_logp_{side}")))),
        )
    _add_rewards_and_preference(add, obj)
    _add_imitation_and_loss(add, obj, Op("div", (Arg(PC), Ref("len_chosen"))) if imitation else None)
    tree = LossTree(tuple(Step(k, v) for k, v in steps.items()), (), "", imitation)
    read = args_read(tree, (LOSS, *PARTS))
    lengths = tuple(a for a in (LEN_C, LEN_R) if a in read)
    why = " and ".join(w for w, on in (("reduce=mean", mean), ("its imitation (NLL) term", imitation)) if on)
    return LossTree(tree.steps, lengths, why, imitation)


def build_token(obj: ObjectiveLike) -> LossTree:
    """The tree of a granularity=token objective: phi_inv and psi read each token's log-prob, and the
    per-token log-ratios are summed (reduce=sum) or averaged (reduce=mean) over the response's tokens.

    The log-prob arguments are per token ([B, T], padded); ``chosen_lengths`` and ``rejected_lengths`` give the
    token masks (lengths [B]: the first n tokens; or masks [B, T]) and are always required. A constant psi
    c cancels from the margin only when it is 0 or reduce=mean (with reduce=sum it adds -beta c (|y+| - |y-|)),
    and is then left out; the NLL is the mean over the chosen response's tokens.
    """
    mean, imitation = obj.reduce == "mean", _has_imitation(obj)
    psi_const = _const(obj, "psi")
    psi_cancels = psi_const is not None and (psi_const.value == 0.0 or mean)
    steps, add = _begin(obj)
    add("mask_chosen", Op("mask", (Arg(LEN_C),)))
    add("mask_rejected", Op("mask", (Arg(LEN_R),)))
    if mean or imitation:
        add("len_chosen", Op("count", (Ref("mask_chosen"),)))
    if mean:
        add("len_rejected", Op("count", (Ref("mask_rejected"),)))
    for side in ("chosen", "rejected"):
        mask = Ref(f"mask_{side}")
        add(f"logp_{side}", Op("pad", (Arg(PC if side == "chosen" else PR), mask)))
        if not psi_cancels and psi_const is None:
            add(f"ref_logp_{side}", Op("pad", (Arg(RC if side == "chosen" else RR), mask)))
        phi = Apply("phi_inv", Ref(f"logp_{side}"))
        if psi_cancels:
            token = phi
        else:  # a constant psi reads no reference: it is applied to the policy's log-probs (any input)
            ref = Ref(f"logp_{side}" if psi_const is not None else f"ref_logp_{side}")
            token = Op("sub", (phi, Apply("psi", ref)))
        add(f"token_ratio_{side}", token)
        total = Op("tsum", (Ref(f"token_ratio_{side}"), mask))
        add(f"log_ratio_{side}", Op("div", (total, Ref(f"len_{side}"))) if mean else total)
    _add_rewards_and_preference(add, obj)
    _add_imitation_and_loss(
        add,
        obj,
        Op("div", (Op("tsum", (Ref("logp_chosen"), Ref("mask_chosen"))), Ref("len_chosen")))
        if imitation
        else None,
    )
    return LossTree(
        tuple(Step(k, v) for k, v in steps.items()), (LEN_C, LEN_R), "granularity=token", imitation, True
    )


def _has_imitation(obj: ObjectiveLike) -> bool:
    """An imitation (NLL) term unless w_sft is the constant 0."""
    w_sft = _const(obj, "w_sft")
    return not (w_sft is not None and w_sft.value == 0.0)


def _begin(obj: ObjectiveLike) -> tuple[dict[str, Term], Callable[..., None]]:
    """The steps of a tree being built (in order) and their ``add``, which wraps a term that reads no data in
    ``batch`` when asked; the first step, ``tau``, is in already (both granularities start alike)."""
    steps: dict[str, Term] = {}

    def add(name: str, term: Term, batch: bool = False) -> None:
        if batch and not reads_data(obj, steps, term):
            term = Op("batch", (term,))
        steps[name] = term

    add("tau", Op("progress", (Arg(PROGRESS),)) if uses_tau(obj) else Arg(PROGRESS))
    return steps, add


def _add_rewards_and_preference(add: Callable[..., None], obj: ObjectiveLike) -> None:
    """The steps both granularities share once each side has its log-ratio: rewards, margin, preference term."""
    add("reward_chosen", Op("beta", (Ref("log_ratio_chosen"),)), batch=True)
    add("reward_rejected", Op("beta", (Ref("log_ratio_rejected"),)), batch=True)
    add("margin", Op("beta", (Op("sub", (Ref("log_ratio_chosen"), Ref("log_ratio_rejected"))),)), batch=True)
    g = Apply("g", Ref("margin"))
    add(
        "preference",
        Op("neg", (g if _is_one(obj, "w_po") else Op("mul", (Apply("w_po", Ref("tau")), g)),)),
        batch=True,
    )


def _add_imitation_and_loss(
    add: Callable[..., None], obj: ObjectiveLike, mean_logp_chosen: Term | None
) -> None:
    """The imitation term (the chosen responses' NLL, weighted by w_sft) and the loss; None: no imitation term."""
    if mean_logp_chosen is None:
        add("imitation", Op("zeros"))
        add(LOSS, Ref("preference"))
        return
    add("nll_chosen", Op("neg", (mean_logp_chosen,)))
    add(
        "imitation",
        Ref("nll_chosen")
        if _is_one(obj, "w_sft")
        else Op("mul", (Apply("w_sft", Ref("tau")), Ref("nll_chosen"))),
    )
    add(LOSS, Op("add", (Ref("preference"), Ref("imitation"))))
