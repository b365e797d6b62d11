"""A TRL ``DPOTrainer`` that optimizes any per-example preference loss given as a function.

TRL has no hook for a custom loss (``loss_type`` picks from a fixed list inside a private method), so this
subclass overrides the public ``compute_loss``: one policy forward (through TRL's own fused log-prob head
where TRL has one, from the logits otherwise), the reference log-probs through TRL's public
``compute_ref_log_probs`` (or the precomputed columns), then the loss function on summed log-probs,
completion lengths and tau. DPOTrainer's metrics are recomputed with its definitions, since its own
``compute_loss`` (which logs them) no longer runs. The TRL internals this relies on are listed in
docs/integrations.md ("What still relies on TRL internals").

This file imports torch and trl only. ``symmpo export --format trl`` copies everything below the marker
line into the exported module, so symmpo's ``MPOTrainer`` and an exported trainer run the same code.
"""

# ---- symmpo export: copied verbatim below this line ----
import dataclasses
import inspect
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import trl
from trl import DPOConfig, DPOTrainer

_TRL = tuple(int(part) for part in trl.__version__.split(".")[:2])  # (major, minor)
# TRL >= 1.15 patches the models it trains with a fused LM head: model(..., labels=..., fused_lm_head=True)
# returns per-token log_probs (and entropy, mean_logits, is_top1 for the policy) without building the logits.
_FUSED_HEAD = _TRL >= (1, 15)
# DPOTrainer.compute_ref_log_probs takes (inputs) before TRL 1.9 and (model, inputs) since.
_REF_TAKES_MODEL = _TRL >= (1, 9)


class LossSpec(NamedTuple):
    """A loss and what it needs. Both functions take (pc, pr, rc, rr, lc, lr, progress), per example.

    ``loss`` returns the per-example loss; ``parts`` returns a dict of per-example tensors reward_chosen,
    reward_rejected, preference and imitation (logged, never differentiated). ``beta`` is beta in TRL's
    meaning (DPOConfig.beta must equal it): the scale of TRL's logged rewards. ``granularity`` "token": both
    functions take per-token log-probs [B, T] (zero on masked tokens) and the completion masks [B, T] in place
    of the lengths.
    """

    name: str
    beta: float
    uses_tau: bool
    uses_reference: bool
    loss: Callable[..., torch.Tensor]
    parts: Callable[..., dict[str, torch.Tensor]]
    granularity: str = "sequence"


# Batch keys DPOTrainer's collator adds that the model must not receive.
_NON_MODEL_KEYS = ("completion_mask", "ref_chosen_logps", "ref_rejected_logps")
# DPOConfig fields that select or shape TRL's built-in losses (or their log-probs); this trainer replaces
# those losses, so a non-default value would be silently ignored or would change what the loss reads.
# Fields a TRL version lacks are skipped.
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


def _placeholder_reference() -> Any:
    """A 0-layer, 1-token GPT-2 (a few parameters) given to DPOTrainer as ``ref_model`` for a reference-free loss.

    DPOTrainer loads a full reference copy whenever ``ref_model`` is None (no option turns that off), which
    costs a model load and fails for a model built from a config. The placeholder is dropped right after
    construction; it is built under a forked RNG, so training draws the same random numbers as without it.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.random.fork_rng(devices=[]):
        return GPT2LMHeadModel(GPT2Config(vocab_size=1, n_positions=1, n_embd=2, n_layer=0, n_head=1))


def _caller_stacklevel(obj: Any) -> int:
    """The ``stacklevel`` that attributes a warning raised in ``obj``'s ``__init__`` chain to the user's line."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None  # the __init__ that warns: stacklevel 1
    level = 1
    while frame is not None and frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is obj:
        frame, level = frame.f_back, level + 1
    return level


class _WatchLogProbs:
    """A model seen through a call that keeps the per-token ``log_probs`` of its last output (TRL's reference
    pass sums them; a granularity=token loss reads them one by one)."""

    def __init__(self, model: Any):
        self.model = model
        self.log_probs: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.model(*args, **kwargs)
        self.log_probs = out.log_probs
        return out


class MPOTrainerBase(DPOTrainer):
    """DPOTrainer whose loss is ``spec.loss``; DPOTrainer's own loss options must stay at their defaults.

    Conventions: log-probs are summed over completion tokens (the EOS token TRL appends included);
    lengths count those same tokens (granularity=token: per-token log-probs and the completion masks instead); tau = global_step / max_steps in optimizer steps (0 before training,
    so evaluation before ``train()`` works); DPOConfig.beta must equal the loss's beta (``spec.beta``).
    Logged: TRL's own keys with TRL's meaning (rewards/* = beta * log-ratio), the loss's implicit rewards as
    objective/rewards/*, its two parts as loss/preference and loss/imitation (batch means), nll/chosen
    (the per-example mean NLL of the chosen responses) and tau.
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
            args = DPOConfig(output_dir=f"{name.split('/')[-1]}-MPO", beta=spec.beta)
        self._check_config(spec, args, train_dataset)
        self.loss_spec = spec
        if not spec.uses_reference:
            if ref_model is not None:
                warnings.warn(
                    f"{spec.name} is reference-free: ref_model is not used and is not kept",
                    stacklevel=_caller_stacklevel(self),
                )
            ref_model = _placeholder_reference()
        super().__init__(model=model, ref_model=ref_model, args=args, train_dataset=train_dataset, **kwargs)
        if not spec.uses_reference:
            self.ref_model = None
        self._mpo_metrics: dict[str, defaultdict[str, list[float]]] = {
            "train": defaultdict(list),
            "eval": defaultdict(list),
        }
        self._mpo_train_tokens = 0

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
        if args.beta != spec.beta:
            raise err(
                f"{spec.name}: DPOConfig.beta={args.beta} but the loss's beta is {spec.beta}; set "
                f"DPOConfig(beta={spec.beta}), or build the loss with beta={args.beta}"
            )
        if spec.granularity == "token" and not _FUSED_HEAD:
            raise err(
                f"{spec.name} has granularity=token: it needs TRL >= 1.15 (per-token reference log-probs)"
            )
        if spec.granularity == "token" and spec.uses_reference and args.precompute_ref_log_probs:
            raise err(
                f"{spec.name} has granularity=token: it reads per-token reference log-probs, which TRL does not "
                "precompute; set precompute_ref_log_probs=False"
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
        self, model: Any, inputs: dict[str, Any], tokens: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, Any, dict[str, torch.Tensor]]:
        """Summed completion log-probs and completion lengths (2B each, chosen first), the model outputs and
        the per-token entropy, mean logit and top-1 hit of every scored position (for TRL's metrics).
        ``tokens``: the log-probs of every scored position [2B, T] (zero where masked) and the mask [2B, T]
        instead of the sums and lengths."""
        completion_mask = inputs["completion_mask"]
        model_kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
        model_kwargs["use_cache"] = False
        if getattr(self, "aux_loss_enabled", False):
            model_kwargs["output_router_logits"] = True
        scored = completion_mask[:, 1:]  # token t is scored from position t - 1
        n = scored.size(1)
        targets = inputs["input_ids"][:, 1:]
        if _FUSED_HEAD:  # no full logits are built
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            outputs = model(**model_kwargs, labels=labels, fused_lm_head=True)
            per_token = outputs.log_probs[:, -n:]  # zero where the label is masked
            stats = {
                "entropy": outputs.entropy[:, -n:],
                "mean_logits": outputs.mean_logits[:, -n:],
                "is_top1": outputs.is_top1[:, -n:],
            }
        else:
            outputs = model(**model_kwargs)
            logits = outputs.logits[:, -n - 1 : -1]
            log_z = logits.logsumexp(-1)
            per_token = (logits.gather(-1, targets[..., None])[..., 0] - log_z) * scored
            with torch.no_grad():
                probs = logits.detach().softmax(-1)
                stats = {
                    "entropy": log_z.detach() - (probs * logits.detach()).sum(-1),
                    "mean_logits": logits.detach().mean(-1),
                    "is_top1": logits.detach().argmax(-1) == targets,
                }
        if tokens:
            return per_token, scored.bool(), outputs, stats
        return per_token.sum(dim=1), scored.sum(dim=1).to(per_token.dtype), outputs, stats

    def _reference_log_probs(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """TRL's own reference pass (the reference model, or the PEFT policy with its adapter disabled)."""
        if not _REF_TAKES_MODEL:
            return self.compute_ref_log_probs(inputs)
        return self.compute_ref_log_probs(
            self.ref_model if self.ref_model is not None else self.model, inputs
        )

    def _reference_token_log_probs(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token reference log-probs (chosen, rejected; [B, T], zero where masked) from TRL's own reference
        pass: its model call is watched and the per-token log-probs it sums are kept."""
        model = self.ref_model if self.ref_model is not None else self.model
        watch = _WatchLogProbs(model)
        self.compute_ref_log_probs(watch, inputs)
        n = inputs["completion_mask"].size(1) - 1
        return watch.log_probs[:, -n:].chunk(2, dim=0)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        mode = "train" if self.model.training else "eval"
        token = self.loss_spec.granularity == "token"
        logps, lengths, outputs, stats = self.sequence_log_probs(model, inputs, tokens=token)
        pc, pr = logps.chunk(2, dim=0)
        lc, lr = lengths.chunk(2, dim=0)  # token: the completion masks
        if not self.loss_spec.uses_reference:
            rc = rr = torch.zeros_like(pc)
        elif token:
            rc, rr = self._reference_token_log_probs(inputs)
        elif self.precompute_ref_logps:
            rc, rr = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            rc, rr = self._reference_log_probs(inputs)
        tau = self.tau
        loss = self.loss_spec.loss(pc, pr, rc, rr, lc, lr, tau).mean()
        if getattr(self, "aux_loss_enabled", False):
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss
            self._mpo_metrics[mode]["aux_loss"].append(self._mean(outputs.aux_loss.detach()))
        with torch.no_grad():
            sums = [x.sum(dim=1) for x in (pc, pr, rc, rr)] if token else [pc, pr, rc, rr]
            self._record_trl(mode, inputs, stats, *sums)
            counts = (lc.sum(dim=1).to(pc.dtype), lr.sum(dim=1).to(pc.dtype)) if token else (lc, lr)
            self._record_objective(
                mode, (pc.detach(), pr.detach(), rc, rr, lc, lr), sums[0].detach(), counts[0], tau
            )
        if not return_outputs:
            return loss
        if getattr(outputs, "logits", None) is None:  # the fused head built no logits: one plain forward
            with torch.no_grad():
                kwargs = {k: v for k, v in inputs.items() if k not in _NON_MODEL_KEYS}
                outputs = model(**kwargs, use_cache=False)
        return loss, outputs

    def _mean(self, value: torch.Tensor) -> float:
        return self.accelerator.gather_for_metrics(value).float().mean().item()

    def _token_mean(self, value: torch.Tensor, mask: torch.Tensor) -> float:
        """A mean over the masked tokens of all processes (weighted by their token counts), as TRL's."""
        total = self.accelerator.gather_for_metrics((value * mask).sum()).sum()
        count = self.accelerator.gather_for_metrics(mask.sum()).sum()
        return (total / count).item() if count > 0 else 0.0

    def _record_trl(
        self, mode: str, inputs: dict[str, Any], stats: dict[str, torch.Tensor], *logps: Any
    ) -> None:
        """DPOTrainer's metrics with DPOTrainer's definitions (rewards = beta * policy/reference log-ratio)."""
        pc, pr, rc, rr = (x.detach() for x in logps)
        metrics = self._mpo_metrics[mode]
        scored = inputs["completion_mask"][:, 1:].to(pc.dtype)
        chosen, rejected = scored.chunk(2, dim=0)
        metrics["entropy"].append(self._token_mean(stats["entropy"].to(pc.dtype), scored))
        if mode == "train":
            self._mpo_train_tokens += int(
                self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum()
            )
        metrics["num_tokens"] = [self._mpo_train_tokens]
        mean_c, mean_r = stats["mean_logits"].to(pc.dtype).chunk(2, dim=0)
        metrics["logits/chosen"].append(self._token_mean(mean_c, chosen))
        metrics["logits/rejected"].append(self._token_mean(mean_r, rejected))
        metrics["mean_token_accuracy"].append(
            self._token_mean(stats["is_top1"].chunk(2, dim=0)[0].to(pc.dtype), chosen)
        )
        reward_c, reward_r = self.beta * (pc - rc), self.beta * (pr - rr)
        metrics["rewards/chosen"].append(self._mean(reward_c))
        metrics["rewards/rejected"].append(self._mean(reward_r))
        metrics["rewards/accuracies"].append(self._mean((reward_c > reward_r).to(pc.dtype)))
        metrics["rewards/margins"].append(self._mean(reward_c - reward_r))
        metrics["logps/chosen"].append(self._mean(pc))
        metrics["logps/rejected"].append(self._mean(pr))

    def _record_objective(self, mode: str, args: tuple[Any, ...], pc: Any, lc: Any, tau: float) -> None:
        """The loss's own view: its implicit rewards and margin z, its two parts, the chosen NLL, tau. ``args``
        are the loss's arguments; ``pc``, ``lc`` the summed chosen log-probs and the chosen lengths."""
        parts = self.loss_spec.parts(*args, tau)
        margin = parts["reward_chosen"] - parts["reward_rejected"]
        values = {
            "objective/rewards/chosen": parts["reward_chosen"],
            "objective/rewards/rejected": parts["reward_rejected"],
            "objective/rewards/margins": margin,
            "objective/rewards/accuracies": (margin > 0).to(pc.dtype),
            "loss/preference": parts["preference"],
            "loss/imitation": parts["imitation"],
            "nll/chosen": -(pc / lc.clamp(min=1)),
        }
        metrics = self._mpo_metrics[mode]
        for key, value in values.items():
            metrics[key].append(self._mean(value))
        metrics["tau"].append(tau)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        prefix = "eval_" if mode == "eval" else ""
        metrics = self._mpo_metrics[mode]
        logs.update({f"{prefix}{k}": sum(v) / len(v) for k, v in metrics.items() if v})
        super().log(logs, start_time)
        metrics.clear()
