"""A TRL ``DPOTrainer`` that optimizes any per-example preference loss given as a function.

TRL has no hook for a custom loss (``loss_type`` picks from a fixed list inside a private method), so this
subclass overrides the public ``compute_loss``: one policy forward (through TRL's own fused log-prob head
where TRL has one, from the logits otherwise), the reference log-probs through TRL's public
``compute_ref_log_probs`` (or the precomputed columns), then the loss function on summed log-probs,
completion lengths and tau.

This file imports torch and trl only. ``symmpo export --format trl`` copies everything below the marker
line into the exported module, so symmpo's ``MPOTrainer`` and an exported trainer run the same code.
"""

# ---- symmpo export: copied verbatim below this line ----
import contextlib
import dataclasses
import inspect
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import torch
import trl.trainer.utils
from trl import DPOConfig, DPOTrainer

# TRL >= 1.15 patches the models it trains with a fused head that returns per-token log-probs
_FUSED_HEAD = hasattr(trl.trainer.utils, "add_fused_lm_head")


class LossSpec(NamedTuple):
    """A loss and what it needs. Both functions take (pc, pr, rc, rr, lc, lr, progress), per example.

    ``loss`` returns the per-example loss; ``parts`` returns a dict of per-example tensors reward_chosen,
    reward_rejected, preference and imitation (logged, never differentiated).
    """

    name: str
    beta: float
    uses_tau: bool
    uses_reference: bool
    loss: Callable[..., torch.Tensor]
    parts: Callable[..., dict[str, torch.Tensor]]


# Batch keys the collator adds that the model must not receive.
_NON_MODEL_KEYS = ("completion_mask", "ref_chosen_logps", "ref_rejected_logps")
# DPOConfig fields that select or shape TRL's built-in losses (or their log-probs); this trainer replaces
# those losses, so a non-default value would be silently ignored or would change what the loss reads.
_BUILTIN_LOSS_FIELDS = (
    "loss_type",
    "loss_weights",
    "label_smoothing",
    "f_divergence_type",
    "f_alpha_divergence_coef",
    "use_weighting",
    "ld_alpha",
    "discopop_tau",
)


def _config_defaults() -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(DPOConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


@contextlib.contextmanager
def _skip_reference_load(policy_is_path: bool) -> Iterator[None]:
    """While DPOTrainer is built, make its reference-model load return None (reference-free losses).

    DPOTrainer always loads a reference copy when none is given (there is no switch to opt out), which
    costs a full model load and fails for a model built from a config. The load goes through the module's
    ``create_model_from_path``; when the policy itself is a path, its load is the first call and passes.
    """
    import trl.trainer.dpo_trainer as dpo_module

    original = getattr(dpo_module, "create_model_from_path", None)
    if original is None:  # another TRL layout: the reference is loaded and dropped after construction
        yield
        return
    calls = 0

    def load(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(*args, **kwargs) if policy_is_path and calls == 1 else None

    dpo_module.create_model_from_path = load
    try:
        yield
    finally:
        dpo_module.create_model_from_path = original


class MPOTrainerBase(DPOTrainer):
    """DPOTrainer whose loss is ``spec.loss``; DPOTrainer's own loss options must stay at their defaults.

    Conventions: log-probs are summed over completion tokens (the EOS token TRL appends included);
    lengths count those same tokens; tau = global_step / max_steps in optimizer steps (0 before training,
    so evaluation before ``train()`` works); the objective's beta is used everywhere TRL reads ``beta``.
    Logged: rewards/* are the loss's own implicit rewards, loss/preference and loss/imitation its two
    parts (batch means), nll/chosen the per-example mean NLL of the chosen responses, and tau.
    """

    config_error: type[Exception] = ValueError

    def __init__(
        self,
        spec: LossSpec,
        model: Any,
        ref_model: Any = None,
        args: DPOConfig | None = None,
        train_dataset: Any = None,
        **kwargs: Any,
    ):
        if args is None:
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "") or "model"
            args = DPOConfig(output_dir=f"{name.split('/')[-1]}-MPO")
        self._check_config(spec, args, train_dataset)
        self.loss_spec = spec
        guard: Any = contextlib.nullcontext()
        if not spec.uses_reference:
            if ref_model is not None:
                warnings.warn(
                    f"{spec.name} is reference-free: ref_model is not used and is not kept", stacklevel=2
                )
                ref_model = None
            guard = _skip_reference_load(policy_is_path=isinstance(model, str))
        with guard:
            super().__init__(
                model=model, ref_model=ref_model, args=args, train_dataset=train_dataset, **kwargs
            )
        if not spec.uses_reference:
            self.ref_model = None
        self.beta = spec.beta
        self._mpo_metrics: dict[str, defaultdict[str, list[float]]] = {
            "train": defaultdict(list),
            "eval": defaultdict(list),
        }

    def _check_config(self, spec: LossSpec, args: DPOConfig, train_dataset: Any) -> None:
        """Everything the loss needs that the configuration cannot give fails here, not at the first step."""
        err = self.config_error
        defaults = _config_defaults()
        changed = [k for k in _BUILTIN_LOSS_FIELDS if k in defaults and getattr(args, k) != defaults[k]]
        if changed:
            raise err(
                f"{spec.name}: DPOConfig {', '.join(changed)} configure TRL's built-in losses, which this "
                "trainer replaces; leave them at their defaults"
            )
        if args.beta != defaults["beta"] and args.beta != spec.beta:
            raise err(
                f"{spec.name}: DPOConfig.beta={args.beta} differs from the loss's beta={spec.beta}; beta is "
                "part of the loss (change it there) and DPOConfig.beta should be left unset"
            )
        if not spec.uses_reference and args.precompute_ref_log_probs:
            raise err(f"{spec.name} is reference-free: set precompute_ref_log_probs=False")
        if not spec.uses_reference and args.sync_ref_model:
            raise err(f"{spec.name} is reference-free: there is no reference model to sync")
        if spec.uses_tau and args.max_steps <= 0 and train_dataset is not None:
            if not hasattr(train_dataset, "__len__"):
                raise err(
                    f"{spec.name} reads tau = step / max_steps: with a dataset of unknown length set "
                    "DPOConfig.max_steps"
                )

    @property
    def tau(self) -> float:
        """Training progress in optimizer steps, global_step / max_steps in [0, 1]; 0 before training."""
        total = self.state.max_steps
        return min(1.0, self.state.global_step / total) if total > 0 else 0.0

    def sequence_log_probs(
        self, model: Any, inputs: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """Summed completion log-probs, completion lengths (2B each, chosen first) and the model outputs."""
        completion_mask = inputs["completion_mask"]
        model_kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        if getattr(self, "aux_loss_enabled", False):
            model_kwargs["output_router_logits"] = True
        scored = completion_mask[:, 1:]  # token t is scored from position t - 1
        if _FUSED_HEAD:  # no full logits are built
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
            per_token = outputs.log_probs[:, -scored.size(1) :]  # zero where the label is masked
        else:
            outputs = model(**model_kwargs)
            logits = outputs.logits[:, -scored.size(1) - 1 : -1]
            targets = inputs["input_ids"][:, 1:, None]
            per_token = (logits.gather(-1, targets)[..., 0] - logits.logsumexp(-1)) * scored
        return per_token.sum(dim=1), scored.sum(dim=1).to(per_token.dtype), outputs

    def _reference_log_probs(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """TRL's own reference pass (``compute_ref_log_probs`` takes the model too since TRL 1.9)."""
        if len(inspect.signature(self.compute_ref_log_probs).parameters) == 1:
            return self.compute_ref_log_probs(inputs)
        return self.compute_ref_log_probs(
            self.ref_model if self.ref_model is not None else self.model, inputs
        )

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        mode = "train" if self.model.training else "eval"
        logps, lengths, outputs = self.sequence_log_probs(model, inputs)
        pc, pr = logps.chunk(2, dim=0)
        lc, lr = lengths.chunk(2, dim=0)
        if not self.loss_spec.uses_reference:
            rc = rr = torch.zeros_like(pc)
        elif self.precompute_ref_logps:
            rc, rr = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            rc, rr = self._reference_log_probs(inputs)
        tau = self.tau
        loss = self.loss_spec.loss(pc, pr, rc, rr, lc, lr, tau).mean()
        if getattr(self, "aux_loss_enabled", False):
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss
        self._record(mode, pc.detach(), pr.detach(), rc, rr, lc, lr, tau)
        return (loss, outputs) if return_outputs else loss

    @torch.no_grad()
    def _record(self, mode: str, pc: Any, pr: Any, rc: Any, rr: Any, lc: Any, lr: Any, tau: float) -> None:
        parts = self.loss_spec.parts(pc, pr, rc, rr, lc, lr, tau)
        margin = parts["reward_chosen"] - parts["reward_rejected"]
        values = {
            "rewards/chosen": parts["reward_chosen"],
            "rewards/rejected": parts["reward_rejected"],
            "rewards/margins": margin,
            "rewards/accuracies": (margin > 0).to(pc.dtype),
            "loss/preference": parts["preference"],
            "loss/imitation": parts["imitation"],
            "nll/chosen": -(pc / lc.clamp(min=1)),
            "logps/chosen": pc,
            "logps/rejected": pr,
        }
        metrics = self._mpo_metrics[mode]
        for key, value in values.items():
            metrics[key].append(self.accelerator.gather_for_metrics(value).mean().item())
        metrics["tau"].append(tau)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        prefix = "eval_" if mode == "eval" else ""
        metrics = self._mpo_metrics[mode]
        logs.update({f"{prefix}{k}": sum(v) / len(v) for k, v in metrics.items() if v})
        super().log(logs, start_time)
        metrics.clear()

    def prediction_step(
        self, model: Any, inputs: dict[str, Any], prediction_loss_only: bool, ignore_keys: Any = None
    ) -> tuple[torch.Tensor, None, None]:
        """Evaluation computes the loss only (no logits are returned)."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None
