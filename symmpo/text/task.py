"""The sorting task: prompts, the split of the prompt space, and the programmatic true reward.

A prompt is a short string of digits followed by ``=`` (``"3 1 4 1 ="``); the ideal response is the same
digits in ascending order (``"1 1 3 4"``). The true reward of a response is its normalized Levenshtein
similarity to that target, ``1 - edit_distance / max(len(response), len(target))`` over tokens: 1 for the
exact answer, partial credit for every token in its place, and a response that is too long (or too short)
loses a share per extra (or missing) token. That last property is what the ``length`` setting needs: a
longer answer is never better by itself.

The prompt space is split once and for all by a hash of the prompt text: 80 % of prompts may appear in
training data, 10 % are the *fitness* evaluation prompts (what any tuning on text may look at) and 10 % the
*held-out* evaluation prompts (what the transfer table reports). No dataset seed can put an evaluation
prompt into a training set, and the two evaluation sets never share a prompt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from symmpo.errors import DataError

DIGITS = tuple(str(d) for d in range(10))
SEP = "="
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
VOCAB = (PAD, EOS, UNK, SEP, *DIGITS)
ROLES = ("train", "fitness", "heldout")
EVAL_STREAM = 7_000_000  # seeds the evaluation prompt streams; dataset streams start from the dataset seed
MAX_PROMPT_LEN = 12

Prompt = tuple[int, ...]


@dataclass(frozen=True)
class TaskSpec:
    """Prompt lengths (number of digits), uniform in [min_len, max_len]."""

    min_len: int = 3
    max_len: int = 6

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len <= MAX_PROMPT_LEN:
            raise DataError(
                f"prompt lengths must satisfy 1 <= min_len <= max_len <= {MAX_PROMPT_LEN}, "
                f"got {self.min_len}, {self.max_len}"
            )

    @property
    def max_response(self) -> int:
        """The longest response a behaviour generator writes (a few extra tokens past the longest target)."""
        return self.max_len + 3


def prompt_text(prompt: Sequence[int]) -> str:
    return " ".join(str(int(d)) for d in prompt) + f" {SEP}"


def target(prompt: Sequence[int]) -> tuple[int, ...]:
    """The ideal response: the prompt's digits in ascending order."""
    return tuple(sorted(int(d) for d in prompt))


def response_text(tokens: Sequence[int | str]) -> str:
    """A completion string as TRL receives it (a leading space; TRL appends the EOS token)."""
    return "".join(f" {t}" for t in tokens)


def role(prompt: Sequence[int]) -> str:
    """Which part of the prompt space a prompt belongs to: train (80 %), fitness or heldout (10 % each)."""
    h = int(hashlib.sha256(prompt_text(prompt).encode()).hexdigest()[:8], 16) % 10
    return "train" if h < 8 else ("fitness" if h == 8 else "heldout")


def draw_prompt(rng: np.random.Generator, spec: TaskSpec, part: str = "train") -> Prompt:
    """A uniformly drawn prompt of the given part (rejection sampling on the hash split)."""
    if part not in ROLES:
        raise DataError(f"unknown prompt split {part!r}; valid: {', '.join(ROLES)}")
    while True:
        n = int(rng.integers(spec.min_len, spec.max_len + 1))
        prompt = tuple(int(d) for d in rng.integers(0, 10, n))
        if role(prompt) == part:
            return prompt


def distinct_prompts(rng: np.random.Generator, spec: TaskSpec, n: int, part: str) -> list[Prompt]:
    """``n`` distinct prompts of one part, in draw order."""
    available = sum(10**k for k in range(spec.min_len, spec.max_len + 1)) // 20  # a safe lower bound
    if n > available:
        raise DataError(
            f"{n} distinct {part} prompts requested; lengths {spec.min_len}-{spec.max_len} hold fewer"
        )
    seen: dict[Prompt, None] = {}
    while len(seen) < n:
        seen.setdefault(draw_prompt(rng, spec, part))
    return list(seen)


def eval_prompts(spec: TaskSpec, split: str, n: int) -> list[Prompt]:
    """The evaluation prompts of ``split`` (fitness or heldout): fixed for a spec, never in any training set."""
    if split not in ROLES[1:]:
        raise DataError(f"evaluation prompts come from 'fitness' or 'heldout', not {split!r}")
    return distinct_prompts(np.random.default_rng([EVAL_STREAM, ROLES.index(split)]), spec, n, split)


def reward(prompt: Sequence[int], response: Sequence[int | str]) -> float:
    """True reward in [0, 1]: normalized Levenshtein similarity of the response tokens to the sorted prompt.

    ``response`` holds the generated tokens up to (not including) the EOS token; anything that is not a
    digit (``=``, ``<unk>``) is simply a wrong token.
    """
    from rapidfuzz.distance import Levenshtein

    want = [str(d) for d in target(prompt)]
    return float(Levenshtein.normalized_similarity([str(t) for t in response], want))
