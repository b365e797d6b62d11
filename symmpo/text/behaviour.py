"""Behaviour generators of graded quality: the "annotated responses" the preference pairs are drawn from.

Every graded level is a *noisy selection sort*: at each step it writes the smallest remaining digit, except
that with probability ``error`` it makes one of four systematic mistakes, each as likely:

* ``order``: write the next remaining digit in prompt order instead (the answer stays a permutation);
* ``substitute``: write a random digit in place of the right one;
* ``drop``: skip the right digit (the answer gets shorter);
* ``repeat``: write the previous digit again (the answer gets longer).

The weakest level, ``random``, writes random digits with a length near the target's. Systematic mistakes
matter: a model trained on a mixture of such responses cannot recover the right answer by taking the most
likely token at every step, as it could if the errors were independent noise. The measured true reward of
each level is in ``docs/transfer.md`` (``symmpo transfer text --describe`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symmpo.text.task import Prompt, TaskSpec, draw_prompt, reward, target

MEASURE_SEED = 9_000_000  # the prompt stream of the level measurement (never a dataset seed)


@dataclass(frozen=True)
class Level:
    name: str
    error: float | None  # per-step mistake probability; None: random digits


LEVELS = (
    Level("random", None),
    Level("poor", 0.6),
    Level("fair", 0.35),
    Level("good", 0.15),
    Level("expert", 0.03),
)


def generate(level: Level, prompt: Prompt, rng: np.random.Generator, spec: TaskSpec) -> tuple[int, ...]:
    """One response of ``level`` to ``prompt`` (digits, without EOS), at most ``spec.max_response`` long."""
    n = len(prompt)
    if level.error is None:
        length = int(rng.integers(max(1, n - 2), min(n + 2, spec.max_response) + 1))
        return tuple(int(d) for d in rng.integers(0, 10, length))
    remaining = list(target(prompt))  # ascending
    pending = list(prompt)  # the same multiset, in prompt order
    out: list[int] = []

    def take(d: int) -> None:
        remaining.remove(d)
        pending.remove(d)

    while remaining and len(out) < spec.max_response:
        if rng.random() >= level.error:
            out.append(remaining[0])
            take(remaining[0])
            continue
        mode = int(rng.integers(4))
        if mode == 0:  # order
            out.append(pending[0])
            take(pending[0])
        elif mode == 1:  # substitute
            out.append(int(rng.integers(10)))
            take(remaining[0])
        elif mode == 2:  # drop
            take(remaining[0])
        else:  # repeat
            out.append(out[-1] if out else remaining[0])
    return tuple(out)


def measure_levels(spec: TaskSpec, n_prompts: int = 2000, samples: int = 1) -> list[dict[str, float | str]]:
    """Per level: mean and s.d. of the true reward, exact-match rate and mean length minus target length,
    over ``n_prompts`` training-split prompts of a dedicated stream."""
    rng = np.random.default_rng([MEASURE_SEED])
    prompts = [draw_prompt(rng, spec) for _ in range(n_prompts)]
    out = []
    for i, level in enumerate(LEVELS):
        rewards, exact, extra = [], [], []
        for j, p in enumerate(prompts):
            for s in range(samples):
                y = generate(level, p, np.random.default_rng([MEASURE_SEED, i, j, s]), spec)
                rewards.append(reward(p, y))
                exact.append(y == target(p))
                extra.append(len(y) - len(p))
        r = np.asarray(rewards)
        out.append(
            {
                "level": level.name,
                "error": "random" if level.error is None else level.error,
                "reward": float(r.mean()),
                "reward_sd": float(r.std(ddof=1)),
                "exact": float(np.mean(exact)),
                "extra_tokens": float(np.mean(extra)),
            }
        )
    return out
