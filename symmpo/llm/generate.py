"""Batched greedy and sampled generation from chat prompts.

Sampling is reproducible: batch ``i`` of a call draws from its own torch stream seeded by ``(seed, i)``
(under ``fork_rng``, so a caller's global RNG is untouched), so the same prompts, batch size and seed give
the same responses. Responses end at the first ``<|im_end|>`` or after ``max_new_tokens`` tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Generation:
    """One response: its text (special tokens dropped, as TRL will see it), its token ids and whether it
    ended with the end-of-turn token (False: cut at ``max_new_tokens``)."""

    text: str
    tokens: tuple[int, ...]
    finished: bool


def _batch_seed(seed: int, batch: int) -> int:
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0])


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 32,
    sample: bool = False,
    num_samples: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    batch_size: int = 16,
) -> list[list[Generation]]:
    """``num_samples`` responses to each rendered prompt (greedy: ``num_samples`` must be 1).

    ``prompts`` are chat-template texts (:func:`symmpo.llm.chat.chat_prompt`), tokenized without special
    tokens. Sampling is plain ancestral sampling at ``temperature`` with nucleus ``top_p`` (no top-k): the
    model's own distribution, as on-policy preference data samples it. ``batch_size`` counts prompts.
    """
    import torch

    if not sample and num_samples != 1:
        raise ValueError("greedy decoding gives one response per prompt; set sample=True for num_samples > 1")
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    options: dict[str, Any] = dict(
        max_new_tokens=max_new_tokens,
        eos_token_id=eos,
        pad_token_id=pad,
        num_return_sequences=num_samples,
    )
    if sample:
        options.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    out: list[list[Generation]] = []
    was_training = model.training
    model.eval()
    try:
        for i, start in enumerate(range(0, len(prompts), batch_size)):
            chunk = list(prompts[start : start + batch_size])
            enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            devices = [device] if device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(_batch_seed(seed, i))
                ids = model.generate(**enc, **options)
            new = ids[:, enc["input_ids"].shape[1] :].tolist()
            for p in range(len(chunk)):
                out.append([_cut(new[p * num_samples + k], eos, tokenizer) for k in range(num_samples)])
    finally:
        model.train(was_training)
    return out


def _cut(tokens: list[int], eos: int, tokenizer: Any) -> Generation:
    finished = eos in tokens
    kept = tokens[: tokens.index(eos)] if finished else tokens
    return Generation(tokenizer.decode(kept, skip_special_tokens=True), tuple(kept), finished)
