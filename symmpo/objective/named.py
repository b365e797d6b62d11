"""Named baselines, each expressed in the MPO family (docs/formulation.md).

Conventions (checked against TRL's formulas in tests/test_objective_named.py, and against TRL 1.16.0's own
loss code on a tiny GPT-2 in tests/test_integrations_trl_named.py):

* beta is the scale of the implicit reward, except for ipo and orpo where the table's scale is 1 and
  beta/lambda sit inside g (ipo: g = -(z - 1/(2 beta))^2; orpo: g = lambda * logsigmoid(z)).
* simpo: g = logsigmoid(z - gamma) with z = beta * (mean log-prob margin), i.e. TRL's
  -logsigmoid(beta * (mean_c - mean_r) - gamma); TRL's CPOTrainer writes it as beta * (margin - gamma/beta).
* Parameters of g (eps, gamma, lambda, tau_d) and of phi_inv (q) are typed constants, so CMA-ES can
  tune them; beta is the objective's own field.
* Lengths (reduce=mean, the NLL term) are clamped to >= 1 as in TRL: an empty response has mean log-prob 0.

TRL counterparts (trainer, loss_type: parameter names), equal to float32 rounding unless noted:

* dpo: DPOTrainer "sigmoid" (beta).  hinge: DPOTrainer "hinge" (beta).  ipo: DPOTrainer "ipo" (beta).
* cdpo: DPOTrainer "aot" with one pair per batch (beta, label_smoothing = eps), or (1 - eps) "sigmoid"
  plus eps "sigmoid" on flipped pairs. NOT "sigmoid" with label_smoothing: TRL's sigmoid ignores it.
* rdpo: DPOTrainer "robust" (beta, label_smoothing = eps).  discopop: DPOTrainer "discopop" (beta,
  discopop_tau = tau_d).  simpo: CPOTrainer "simpo" with cpo_alpha=0 (beta, simpo_gamma = gamma).
* orpo: ORPOTrainer (its beta = lambda). The odds-ratio term is equal; the totals differ because TRL's NLL
  is a token mean over the chosen prompt and response tokens of the whole batch, symmpo's a per-example
  mean over response tokens (a batch token mean is not a per-example loss, and prompt tokens are not in
  the log-probs a loss receives, so no variant reproduces it).
* tsallis: no counterpart (TRL's alpha_divergence maps the summed log-ratio; CPO's AlphaPO reward is the
  same map on the length-averaged probability but without a reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from symmpo.errors import ObjectiveError
from symmpo.symbolic.constants import interval_kind

# A builder gives the ``Objective.from_components`` arguments of a baseline for checked parameters. This
# module holds the table only; ``Objective.named`` builds the objective, so the two never import each other.
_Builder = Callable[[dict[str, float]], dict[str, Any]]


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


NAMED: dict[str, tuple[dict[str, float], _Builder, str]] = {
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
    "orpo": ({"lam": 0.1}, _orpo, "ORPO (Hong et al. 2024): odds ratio + NLL"),
    "discopop": (
        {"beta": 0.1, "tau_d": 0.05},
        _discopop,
        "DiscoPOP log-ratio modulated loss (Chan Lu et al. 2024)",
    ),
    "tsallis": ({"beta": 0.1, "q": 0.5}, _tsallis, "Tsallis-entropy mirror map, q in (0, 1)"),
}
ALIASES = {"slic": "hinge", "lambda": "lam", "label_smoothing": "eps", "alpha": "q"}


def lookup(name: str) -> str | None:
    """The table's key for a name or alias in any case (``SLiC`` -> ``hinge``); None when it names no baseline."""
    key = ALIASES.get(name.lower(), name.lower())
    return key if key in NAMED else None


def defaults(name: str) -> dict[str, float]:
    """A copy of a baseline's default parameters (``name`` as :func:`lookup` accepts it)."""
    return dict(NAMED[_key(name)][0])


def recipe(name: str, **params: float) -> dict[str, Any]:
    """The from_components arguments of ``Objective.named(name, **params)``, the checked ``params``
    included; unknown names or parameters are errors that list the known ones."""
    key = _key(name)
    known, build, _ = NAMED[key]
    p = dict(known)
    for k, v in params.items():
        k2 = ALIASES.get(k, k)
        if k2 not in known:
            raise ObjectiveError(f"{key} has no parameter {k!r}; its parameters: {', '.join(known)}")
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
    return {**build(p), "params": p}


def _key(name: str) -> str:
    key = lookup(name)
    if key is None:
        raise ObjectiveError(f"unknown objective {name!r}; known: {', '.join(NAMED)}")
    return key
