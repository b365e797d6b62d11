"""The named baselines: one table, MPO recipes here (``NAMED``) and plain baselines outside the family
(``symmpo.objective.plain.PLAIN``), found by one lookup (:func:`lookup`, aliases and TRL's names included).

Each row is an :class:`~symmpo.objective.types.Entry`: default parameters, a builder (MPO: the
``Objective.from_components`` arguments; plain: the loss function), a description, the **scale parameter** a
tuning grid sweeps with the learning rate (beta unless the row says otherwise: lam for orpo, none for
sft_chosen) and whether the row is in the default baseline set (``baselines()``, which ``bench.BASELINES`` is).
Adding a baseline is adding one row. Plain baselines are marked as outside MPO wherever they are listed
(:func:`description`, :func:`known`, ``symmpo show``, the tables' notes).

Conventions (checked against TRL's formulas in tests/test_objective_named.py, and against TRL 1.16.0's own
loss code on a tiny GPT-2 in tests/test_integrations_trl_named.py):

* beta is the scale of the implicit reward, except for ipo and orpo where the table's scale is 1 and
  beta/lambda sit inside g (ipo: g = -(z - 1/(2 beta))^2; orpo: g = lambda * logsigmoid(z)).
* simpo: g = logsigmoid(z - gamma) with z = beta * (mean log-prob margin), i.e. TRL's
  -logsigmoid(beta * (mean_c - mean_r) - gamma); TRL's CPOTrainer writes it as beta * (margin - gamma/beta).
* Parameters of g (eps, gamma, lambda, tau_d), of phi_inv (q) and of w_sft (rpo_alpha, cpo_alpha) are typed
  constants, so CMA-ES can tune them; beta is the objective's own field.
* Lengths (reduce=mean, the NLL term) are clamped to >= 1 as in TRL: an empty response has mean log-prob 0.
* The NLL term (orpo, rpo, cpo, sft_chosen) is a per-example mean over the response's tokens, as the papers
  and docs/formulation.md write it. TRL's is one token mean over the batch's chosen responses: equal with one
  pair per batch, token-weighted otherwise (asserted as such in the TRL tests).

TRL counterparts (trainer, loss_type: parameter names), equal to float32 rounding unless noted:

* dpo: DPOTrainer "sigmoid" (beta).  hinge: DPOTrainer "hinge" (beta).  ipo: DPOTrainer "ipo" (beta).
* cdpo: DPOTrainer "aot" with one pair per batch (beta, label_smoothing = eps), or (1 - eps) "sigmoid"
  plus eps "sigmoid" on flipped pairs. NOT "sigmoid" with label_smoothing: TRL's sigmoid ignores it.
* rdpo: DPOTrainer "robust" (beta, label_smoothing = eps).  discopop: DPOTrainer "discopop" (beta,
  discopop_tau = tau_d).  simpo: CPOTrainer "simpo" with cpo_alpha=0 (beta, simpo_gamma = gamma).
* exo: DPOTrainer "exo_pair" (beta, label_smoothing = eps > 0; TRL and the paper suggest 1e-3):
  g(z) = -KL((sigmoid(z), sigmoid(-z)) || (1 - eps, eps)), the reverse KL to smoothed labels.
* dpo_norm: DPOTrainer "sigmoid_norm" (beta): DPO on per-token (length-normalized) log-ratios.
* rpo: DPOTrainer loss_type ["sigmoid", "sft"] with loss_weights [1, rpo_alpha] (beta; TRL < 1 called the
  weight rpo_alpha). NLL convention as above.
* cpo: CPOTrainer "sigmoid" (beta, cpo_alpha): reference-free sigmoid on summed log-probs + cpo_alpha NLL.
  NLL convention as above.
* sft_chosen: DPOTrainer "sft" alone: continued SFT on the chosen responses (w_po = 0; no parameter, tuned
  by learning rate alone). NLL convention as above. Not the SFT-only reference (the table's ``sft`` row,
  pi_ref itself, never trained further).
* orpo: ORPOTrainer (its beta = lambda). The odds-ratio term is equal; the totals differ because TRL's NLL
  is a token mean over the chosen prompt and response tokens of the whole batch, symmpo's a per-example
  mean over response tokens (a batch token mean is not a per-example loss, and prompt tokens are not in
  the log-probs a loss receives, so no variant reproduces it).
* tsallis: no counterpart (TRL's alpha_divergence maps the summed log-ratio; CPO's AlphaPO reward is the
  same map on the length-averaged probability but without a reference).
* Plain baselines (nca, bco, sppo, aot, aot_unpaired, apo_zero, apo_down): see symmpo.objective.plain.
"""

from __future__ import annotations

import math
from typing import Any

from symmpo.errors import ObjectiveError
from symmpo.objective.plain import MARK, PLAIN, PlainObjective
from symmpo.objective.types import Entry
from symmpo.symbolic.constants import interval_kind

# A builder gives the ``Objective.from_components`` arguments of a baseline for checked parameters. This
# module holds the table only; ``Objective.named`` builds the objective, so the two never import each other.


def _mpo(phi_inv: str, psi: str | None, g: str, **fields: Any) -> dict[str, Any]:
    """The from_components arguments (psi: a formula, "phi_inv" for tied, None for reference-free)."""
    return {"phi_inv": phi_inv, "psi": psi, "g": g, **fields}


def _dpo(p: dict[str, float]) -> dict[str, Any]:
    return _mpo("log(p)", "phi_inv", "logsigmoid(z)", beta=p["beta"], name="dpo")


def _hinge(p: dict[str, float]) -> dict[str, Any]:
    return _mpo("log(p)", "phi_inv", "-max(0, 1 - z)", beta=p["beta"], name="hinge")


def _ipo(p: dict[str, float]) -> dict[str, Any]:
    m = 1.0 / (2.0 * p["beta"])
    return _mpo(
        "log(p)",
        "phi_inv",
        "-(z - m)**2",
        beta=1.0,
        reduce="mean",
        name="ipo",
        constants={"m": ("positive", m)},
    )


def _cdpo(p: dict[str, float]) -> dict[str, Any]:
    return _mpo(
        "log(p)",
        "phi_inv",
        "(1 - eps)*logsigmoid(z) + eps*logsigmoid(-z)",
        beta=p["beta"],
        name="cdpo",
        constants={"eps": ("unit", p["eps"])},
    )


def _rdpo(p: dict[str, float]) -> dict[str, Any]:
    if not p["eps"] < 0.5:
        raise ObjectiveError(f"rdpo needs eps < 0.5, got {p['eps']}")
    return _mpo(
        "log(p)",
        "phi_inv",
        "((1 - eps)*logsigmoid(z) - eps*logsigmoid(-z))/(1 - 2*eps)",
        beta=p["beta"],
        name="rdpo",
        constants={"eps": (interval_kind(0.0, 0.5), p["eps"])},  # 1/(1 - 2 eps): eps must stay below 1/2
    )


def _simpo(p: dict[str, float]) -> dict[str, Any]:
    return _mpo(
        "log(p)",
        None,
        "logsigmoid(z - gamma)",
        beta=p["beta"],
        reduce="mean",
        name="simpo",
        constants={"gamma": ("positive", p["gamma"])},
    )


def _orpo(p: dict[str, float]) -> dict[str, Any]:
    return _mpo(
        "log(p/(1 - p))",
        None,
        "lam*logsigmoid(z)",
        w_sft=1.0,
        beta=1.0,
        reduce="mean",
        name="orpo",
        constants={"lam": ("positive", p["lam"])},
    )


def _discopop(p: dict[str, float]) -> dict[str, Any]:
    g = "-((1 - sigmoid(z/tau_d))*softplus(-z) + sigmoid(z/tau_d)*exp(-z))"
    return _mpo(
        "log(p)", "phi_inv", g, beta=p["beta"], name="discopop", constants={"tau_d": ("positive", p["tau_d"])}
    )


def _tsallis(p: dict[str, float]) -> dict[str, Any]:
    if not 0 < p["q"] < 1:
        raise ObjectiveError(f"tsallis needs q in (0, 1), got {p['q']}")
    return _mpo(
        "(p**(q - 1) - 1)/(q - 1)",
        "phi_inv",
        "logsigmoid(z)",
        beta=p["beta"],
        reduce="mean",
        name="tsallis",
        constants={"q": ("unit", p["q"])},
    )


def _exo(p: dict[str, float]) -> dict[str, Any]:
    # KL(q || (1 - eps, eps)) with q = (sigmoid(z), sigmoid(-z)): the reverse KL to smoothed labels
    g = "-(sigmoid(z)*(logsigmoid(z) - log(1 - eps)) + sigmoid(-z)*(logsigmoid(-z) - log(eps)))"
    return _mpo("log(p)", "phi_inv", g, beta=p["beta"], name="exo", constants={"eps": ("unit", p["eps"])})


def _dpo_norm(p: dict[str, float]) -> dict[str, Any]:
    return _mpo("log(p)", "phi_inv", "logsigmoid(z)", beta=p["beta"], reduce="mean", name="dpo_norm")


def _rpo(p: dict[str, float]) -> dict[str, Any]:
    return _mpo(
        "log(p)",
        "phi_inv",
        "logsigmoid(z)",
        w_sft="rpo_alpha",
        beta=p["beta"],
        name="rpo",
        constants={"rpo_alpha": ("positive", p["rpo_alpha"])},
    )


def _cpo(p: dict[str, float]) -> dict[str, Any]:
    return _mpo(
        "log(p)",
        None,
        "logsigmoid(z)",
        w_sft="cpo_alpha",
        beta=p["beta"],
        name="cpo",
        constants={"cpo_alpha": ("positive", p["cpo_alpha"])},
    )


def _sft_chosen(p: dict[str, float]) -> dict[str, Any]:
    # no preference term (w_po = 0; g and the reference are never read): the NLL of the chosen response alone
    return _mpo("log(p)", None, "logsigmoid(z)", w_po=0.0, w_sft=1.0, beta=1.0, name="sft_chosen")


# Rows are Entry tuples (symmpo.objective.types): (defaults, builder, description[, scale, in the default set]);
# the scale parameter (what a tuning grid sweeps with the learning rate) is beta unless the row says otherwise.
NAMED: dict[str, tuple[Any, ...]] = {
    "dpo": ({"beta": 0.1}, _dpo, "Direct Preference Optimization (Rafailov et al. 2023)"),
    "hinge": ({"beta": 0.1}, _hinge, "SLiC hinge loss (Zhao et al. 2023)"),
    "ipo": (
        {"beta": 0.1},
        _ipo,
        "Identity Preference Optimization (Azar et al. 2023), length-averaged as in TRL",
    ),
    "cdpo": ({"beta": 0.1, "eps": 0.1}, _cdpo, "conservative DPO, label smoothing eps"),
    "rdpo": ({"beta": 0.1, "eps": 0.1}, _rdpo, "robust DPO (Chowdhury et al. 2024), noise rate eps"),
    "simpo": (
        {"beta": 2.0, "gamma": 0.5},
        _simpo,
        "SimPO (Meng et al. 2024): reference-free, length-normalized",
    ),
    "orpo": ({"lam": 0.1}, _orpo, "ORPO (Hong et al. 2024): odds ratio + NLL", "lam"),
    "discopop": (
        {"beta": 0.1, "tau_d": 0.05},
        _discopop,
        "DiscoPOP log-ratio modulated loss (Chan Lu et al. 2024)",
    ),
    "tsallis": ({"beta": 0.1, "q": 0.5}, _tsallis, "Tsallis-entropy mirror map, q in (0, 1)"),
    "exo": Entry({"beta": 0.1, "eps": 1e-3}, _exo, "EXO (Ji et al. 2024), pairwise, label smoothing eps"),
    "dpo_norm": Entry({"beta": 0.1}, _dpo_norm, "DPO on length-normalized log-ratios (TRL sigmoid_norm)"),
    "rpo": Entry(
        {"beta": 0.1, "rpo_alpha": 1.0},
        _rpo,
        "RPO (Pang et al. 2024): DPO + rpo_alpha x NLL of the chosen",
        anchor="rpo_alpha",
    ),
    "cpo": Entry(
        {"beta": 0.1, "cpo_alpha": 1.0},
        _cpo,
        "CPO (Xu et al. 2024): reference-free sigmoid + cpo_alpha x NLL of the chosen",
        anchor="cpo_alpha",
    ),
    "sft_chosen": Entry({}, _sft_chosen, "continued SFT on the chosen responses (TRL loss_type sft)", None),
}
ALIASES = {"slic": "hinge", "lambda": "lam", "label_smoothing": "eps", "alpha": "q"}
# TRL's names for the same losses and parameters (DPOTrainer loss_type; CPOTrainer/DPOConfig fields)
ALIASES |= {
    "sigmoid": "dpo",
    "robust": "rdpo",
    "exo_pair": "exo",
    "sigmoid_norm": "dpo_norm",
    "nca_pair": "nca",
    "bco_pair": "bco",
    "sppo_hard": "sppo",
    "discopop_tau": "tau_d",
    "simpo_gamma": "gamma",
}


def entry(name: str) -> Entry:
    """The table row of a name or alias, MPO recipe or plain baseline (a 3-tuple row gets Entry's defaults)."""
    key = _key(name)
    return Entry(*NAMED[key]) if key in NAMED else PLAIN[key]


def lookup(name: str) -> str | None:
    """The table's key for a name or alias in any case (``SLiC`` -> ``hinge``); None when it names no baseline.

    The one lookup for both kinds: MPO recipes (``NAMED``) and plain baselines (``plain.PLAIN``).
    """
    key = ALIASES.get(name.lower(), name.lower())
    return key if key in NAMED or key in PLAIN else None


def is_plain(name: str) -> bool:
    """True for a plain baseline (outside the MPO family), False for an MPO recipe."""
    return _key(name) in PLAIN


def names() -> list[str]:
    """Every name in the table: the MPO recipes, then the plain baselines."""
    return [*NAMED, *PLAIN]


def known() -> str:
    """The names for an error message, plain baselines marked as outside MPO."""
    return f"{', '.join(NAMED)}; plain, outside MPO: {', '.join(PLAIN)}"


def baselines() -> tuple[str, ...]:
    """The default baseline set (rows whose ``baseline`` flag is set), in table order."""
    return tuple(k for k in names() if entry(k).baseline)


def scale_param(name: str) -> str | None:
    """The parameter that sets the strength of the preference term (None: tuned by learning rate alone)."""
    return entry(name).scale


def anchor_param(name: str) -> str | None:
    """The parameter that weights the NLL term of the chosen response (None: no such parameter)."""
    return entry(name).anchor


def description(name: str) -> str:
    """The row's description, marked when the loss is outside the MPO family."""
    key = _key(name)
    return f"{MARK}: {PLAIN[key].description}" if key in PLAIN else entry(key).description


def defaults(name: str) -> dict[str, float]:
    """A copy of a baseline's default parameters (``name`` as :func:`lookup` accepts it)."""
    return dict(entry(name).defaults)


def check_params(name: str, **params: float) -> dict[str, float]:
    """The defaults of ``name`` updated with ``params`` (aliases allowed), each checked; unknown parameters
    are errors that list the known ones."""
    key = _key(name)
    known_params = entry(key).defaults
    p = dict(known_params)
    for k, v in params.items():
        k2 = ALIASES.get(k, k)
        if k2 not in known_params:
            have = ", ".join(known_params) or "none"
            raise ObjectiveError(f"{key} has no parameter {k!r}; its parameters: {have}")
        try:
            if isinstance(v, bool):
                raise TypeError
            p[k2] = float(v)
        except (TypeError, ValueError, OverflowError):
            raise ObjectiveError(f"{key}: parameter {k} must be a number, got {str(v)[:40]!r}") from None
    for k, v in p.items():
        if not math.isfinite(v):
            raise ObjectiveError(f"{key}: parameter {k} must be finite, got {v}")
        if k != "eps" and not v > 0:
            raise ObjectiveError(f"{key}: parameter {k} must be > 0, got {v}")
        # eps is the probability that a label is flipped: at 1/2 the labels carry no preference, above it
        # the loss prefers the rejected response
        if k == "eps" and not 0 < v < 0.5:
            raise ObjectiveError(f"{key}: eps (the label-flip rate) must be in (0, 0.5), got {v}")
    return p


def recipe(name: str, **params: float) -> dict[str, Any]:
    """The from_components arguments of ``Objective.named(name, **params)``, the checked ``params``
    included; unknown names or parameters are errors that list the known ones."""
    key = _key(name)
    if key in PLAIN:
        raise ObjectiveError(f"{key} is a {MARK}: it has no MPO recipe")
    p = check_params(key, **params)
    return {**NAMED[key][1](p), "params": p}


def plain_baseline(name: str, **params: float) -> PlainObjective:
    """``Objective.named`` for a plain baseline: its loss with checked parameters."""
    key = _key(name)
    if key not in PLAIN:
        raise ObjectiveError(f"{key} is an MPO recipe, not a plain baseline")
    return PlainObjective(key, check_params(key, **params))


def _key(name: str) -> str:
    key = lookup(name)
    if key is None:
        raise ObjectiveError(f"unknown objective {name!r}; known: {known()}")
    return key
