"""Plain baselines: TRL losses outside the MPO family, as plain torch functions.

A loss is in MPO when it is a function g of the reward margin z = r(y+) - r(y-) (plus an imitation term);
these are not, so they are not forced into the grammar. They read the chosen and rejected implicit rewards
r = beta * (log pi - log pi_ref) separately (nca, bco, sppo, apo_zero, apo_down), or pair responses by rank
within the batch (aot, aot_unpaired). Each takes what it reads of ``Objective.loss``'s arguments (the summed
log-probs of policy and reference for chosen and rejected; none reads lengths or progress) and ``beta``, and
returns one loss per element; the :class:`PlainObjective` wrapping it takes the whole argument list and satisfies ``ObjectiveLike`` where it can, so ``symmpo train``, ``bench``,
``compare`` and the trainers accept the name like a named MPO loss. They are never sampled by a grammar and have
no formula: printing, saving or exporting them as LaTeX/MPO is a one-line ``ObjectiveError``;
``to_torch_source`` prints the function below and a wrapper with the whole argument list.

TRL 1.16 counterparts (DPOTrainer ``loss_type``; the only parameter is ``beta``), equal to float32 rounding
(tests/test_integrations_trl_named.py):

* nca: "nca_pair".  bco: "bco_pair".  sppo: "sppo_hard".  apo_zero: "apo_zero".  apo_down: "apo_down".
* aot: "aot", aot_unpaired: "aot_unpaired", both with TRL's default label_smoothing = 0 (with smoothing eps and
  one pair per batch, aot is the MPO loss cdpo).

Batch semantics. bco: TRL 1.16's "bco_pair" is per pair; the BCO paper's running mean of the rewards, which
earlier TRL versions subtracted, is gone, so nothing is carried between steps. aot / aot_unpaired: element i is
the loss of the i-th *ranked* pair, not of pair i, so only the batch mean means anything (it is what every
trainer uses), and the batch size is part of the loss (batch 1: plain DPO). TRL sorts within one device's
micro-batch; symmpo's trainer draws one minibatch of ``batch_size`` pairs per step, shared by every member of a
population, and applies each member's loss to that member's own log-probs, so aot sorts within the member's
own minibatch and no member ever sees another's values (tests/test_objective_plain.py checks a member trains
the same alone and in a population).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from symmpo.errors import ObjectiveError
from symmpo.objective.export import def_lines
from symmpo.objective.types import Entry, LossArgs, LossCalls

MARK = "plain baseline, outside the MPO family"


def nca(pc: Tensor, pr: Tensor, rc: Tensor, rr: Tensor, *, beta: float) -> Tensor:
    """NCA (Chen et al. 2024): raise the chosen reward in absolute terms, push both rewards down softly."""
    chosen, rejected = beta * (pc - rc), beta * (pr - rr)
    return -F.logsigmoid(chosen) - 0.5 * F.logsigmoid(-chosen) - 0.5 * F.logsigmoid(-rejected)


def bco(pc: Tensor, pr: Tensor, rc: Tensor, rr: Tensor, *, beta: float) -> Tensor:
    """BCO (Jung et al. 2024), paired and without the running reward mean: classify chosen vs rejected."""
    chosen, rejected = beta * (pc - rc), beta * (pr - rr)
    return -F.logsigmoid(chosen) - F.logsigmoid(-rejected)


def sppo(pc: Tensor, pr: Tensor, rc: Tensor, rr: Tensor, *, beta: float) -> Tensor:
    """SPPO (Wu et al. 2024) with hard win probabilities: log-ratios regressed to +-1/(2 beta)."""
    return (pc - rc - 0.5 / beta) ** 2 + (pr - rr + 0.5 / beta) ** 2


def aot(pc: Tensor, pr: Tensor, rc: Tensor, rr: Tensor, *, beta: float) -> Tensor:
    """AOT (Melnyk et al. 2024), paired: policy and reference log-prob margins matched by rank in the batch."""
    policy, _ = torch.sort(pc - pr, dim=0)
    reference, _ = torch.sort(rc - rr, dim=0)
    return -F.logsigmoid(beta * (policy - reference))


def aot_unpaired(pc: Tensor, pr: Tensor, rc: Tensor, rr: Tensor, *, beta: float) -> Tensor:
    """AOT, unpaired: chosen and rejected log-ratios matched by rank in the batch."""
    chosen, _ = torch.sort(pc - rc, dim=0)
    rejected, _ = torch.sort(pr - rr, dim=0)
    return -F.logsigmoid(beta * (chosen - rejected))


def apo_zero(pc: Tensor, pr: Tensor, rc: Tensor, rr: Tensor, *, beta: float) -> Tensor:
    """APO-zero (D'Oosterlinck et al. 2024): chosen better than the model's own outputs; raise it, lower rejected."""
    return 1 - torch.sigmoid(beta * (pc - rc)) + torch.sigmoid(beta * (pr - rr))


def apo_down(pc: Tensor, pr: Tensor, rc: Tensor, rr: Tensor, *, beta: float) -> Tensor:
    """APO-down: chosen worse than the model's own outputs; lower it, and the rejected one more."""
    chosen, rejected = beta * (pc - rc), beta * (pr - rr)
    return torch.sigmoid(chosen) + 1 - torch.sigmoid(chosen - rejected)


PLAIN: dict[str, Entry] = {
    "nca": Entry({"beta": 0.1}, nca, "NCA (Chen et al. 2024); TRL DPOTrainer loss_type='nca_pair'"),
    "bco": Entry(
        {"beta": 0.1},
        bco,
        "paired BCO (Jung et al. 2024), no running mean; TRL DPOTrainer loss_type='bco_pair'",
    ),
    "sppo": Entry(
        {"beta": 0.1}, sppo, "SPPO, hard probabilities (Wu et al. 2024); TRL DPOTrainer loss_type='sppo_hard'"
    ),
    "aot": Entry(
        {"beta": 0.1}, aot, "AOT, paired (Melnyk et al. 2024), sorts within the batch; TRL DPOTrainer 'aot'"
    ),
    "aot_unpaired": Entry(
        {"beta": 0.1}, aot_unpaired, "AOT, unpaired, sorts within the batch; TRL DPOTrainer 'aot_unpaired'"
    ),
    "apo_zero": Entry(
        {"beta": 0.1}, apo_zero, "APO-zero (D'Oosterlinck et al. 2024); TRL DPOTrainer loss_type='apo_zero'"
    ),
    "apo_down": Entry({"beta": 0.1}, apo_down, "APO-down; TRL DPOTrainer loss_type='apo_down'"),
}


class PlainObjective(LossCalls):
    """A plain baseline with checked parameters: ``loss`` like ``Objective.loss``, but no MPO components.

    Build with ``Objective.named(NAME, **params)``. What needs a formula (LaTeX, the YAML file format,
    search, canonical simplification) is refused with a one-line ``ObjectiveError``.
    """

    family = "plain"
    reduce = "sum"
    psi_tied = False
    is_symbolic = False
    needs_lengths = False
    uses_tau = False
    uses_reference = True

    def __init__(self, name: str, params: dict[str, float]):
        if name not in PLAIN:
            raise ObjectiveError(f"unknown plain baseline {name!r}; known: {', '.join(PLAIN)}")
        self.name = name
        self.params = dict(params)
        self.beta = float(self.params.get("beta", 1.0))
        self._fn = PLAIN[name].build

    @property
    def description(self) -> str:
        return f"{MARK}: {PLAIN[self.name].description}"

    def _evaluate(self, kind: str, args: LossArgs) -> Any:
        """``loss`` (:class:`~symmpo.objective.types.LossCalls`) from summed log-probs (TRL convention);
        lengths and progress are unused. ``parts``: ``Objective.parts``' keys, with the rewards TRL logs (beta
        times the log-ratios), their margin, the whole loss as ``preference`` and a zero ``imitation``."""
        pc, pr, rc, rr = args[:4]
        out = self._fn(pc, pr, rc, rr, **self.params)
        if kind == "loss":
            return out
        r_c, r_r = self.beta * (pc - rc), self.beta * (pr - rr)
        return {
            "reward_chosen": r_c,
            "reward_rejected": r_r,
            "margin": r_c - r_r,
            "preference": out,
            "imitation": torch.zeros_like(out),
        }

    # ----- what needs a formula --------------------------------------------------------------------------
    def require_symbolic(self, what: str) -> None:
        raise ObjectiveError(f"{self.name} is a {MARK} (no formula): cannot {what}")

    @property
    def components(self) -> dict[str, Any]:
        self.require_symbolic("give MPO components")
        return {}

    def formulas(self) -> dict[str, str]:
        self.require_symbolic("print as formulas")
        return {}

    def constant_specs(self) -> dict[str, tuple[str, float]]:
        """No tunable constants: a plain baseline is tuned through its parameters, never by a search."""
        return {}

    def latex(self) -> str:
        self.require_symbolic("be written as LaTeX")
        return ""

    def component_latex(self) -> dict[str, str]:
        self.require_symbolic("be written as LaTeX")
        return {}

    def to_dict(self) -> dict[str, Any]:
        self.require_symbolic("be saved as an MPO objective file")
        return {}

    def save(self, path: Any) -> None:
        self.require_symbolic("be saved as an MPO objective file")

    def canonical_key(self) -> str:
        """Name and parameters: plain baselines are equal only to themselves."""
        return f"plain:{self.name}:{json.dumps(self.params, sort_keys=True)}"

    fingerprint = canonical_key

    def to_torch_source(self, function_name: str = "loss") -> str:
        """Standalone source (imports torch only): the loss function and a wrapper binding the parameters."""
        fn = PLAIN[self.name].build
        helper = f"_{fn.__name__}" if fn.__name__ == function_name else fn.__name__
        source = inspect.getsource(fn).replace(f"def {fn.__name__}(", f"def {helper}(", 1)
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return "\n".join(
            [
                f'"""{self.name}, a {MARK} exported by symmpo; parameters {self.params}.',
                "",
                "Arguments are summed log-probs per response (TRL convention); returns one loss per element.",
                '"""',
                "",
                "import torch",
                "import torch.nn.functional as F",
                "from torch import Tensor",
                "",
                "",
                source.rstrip("\n"),
                "",
                "",
                *def_lines(function_name),
                f"    return {helper}(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,",
                f"        reference_rejected_logps, {params})",
                "",
            ]
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlainObjective):
            return NotImplemented
        return (self.name, self.params) == (other.name, other.params)

    def __hash__(self) -> int:
        return hash(self.canonical_key())

    def __repr__(self) -> str:
        return f"PlainObjective(name={self.name!r}, params={self.params!r}; {MARK})"
