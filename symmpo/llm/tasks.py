"""Tasks with programmatic true rewards on which SmolLM2-135M-Instruct has room to improve.

Each task turns a prompt *key* (a small tuple) into a user message and scores a response in [0, 1]:

* ``sort``: "Sort these digits in ascending order: 3 1 4 1. ..."; the reward is the normalized Levenshtein
  similarity of the response's tokens (split on spaces and commas) to the sorted digits, so an answer that
  explains instead of answering loses a share per extra token (the text suite's reward, on words);
* ``add``: "What is 47 + 38? ..."; 1 for exactly the number, 0.5 when the right number appears in a longer
  answer (right, but not in the asked format), 0 otherwise;
* ``words``: "Write one sentence about TOPIC with exactly N words."; 1 - |words - N| / N, floored at 0.

Prompts are split once and for all by a hash of the user message, as in :mod:`symmpo.text.task`: 80 % may
appear in training data, 10 % are the *fitness* evaluation prompts (what tuning may look at), 10 % the
*held-out* ones (what tables report). No dataset seed can put an evaluation prompt into a training set.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symmpo.errors import DataError

ROLES = ("train", "fitness", "heldout")
EVAL_STREAM = 7_100_000  # seeds the evaluation prompt order; dataset streams start from the dataset seed

Key = tuple[int, ...]

TOPICS = (
    "the sea", "a cat", "winter", "coffee", "a train", "the moon", "music", "a garden", "rain", "a library",
    "mountains", "bread", "a river", "friendship", "the city", "a dog", "summer", "books", "the wind", "a bird",
    "the forest", "chess", "a bicycle", "the desert", "snow", "a market", "tea", "a bridge", "the stars",
    "a school", "autumn", "the kitchen", "a storm", "football", "an island", "a clock", "the sun", "a painting",
    "a lake", "cooking", "a castle", "spring", "a farm", "the ocean", "a museum", "running", "a candle",
    "the night", "a festival", "apples", "a robot", "the beach", "a volcano", "a violin", "a village",
    "the morning", "a letter", "a boat", "clouds", "a mirror",
)  # fmt: skip
WORD_COUNTS = tuple(range(5, 13))


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+", text)


def _sort_message(key: Key) -> str:
    digits = " ".join(str(d) for d in key)
    return (
        f"Sort these digits in ascending order: {digits}. "
        "Reply with the sorted digits only, separated by spaces."
    )


def _sort_reward(key: Key, response: str) -> float:
    from rapidfuzz.distance import Levenshtein

    tokens = re.findall(r"[^\s,]+", response.strip().rstrip("."))
    return float(Levenshtein.normalized_similarity(tokens, [str(d) for d in sorted(key)]))


def _add_message(key: Key) -> str:
    return f"What is {key[0]} + {key[1]}? Reply with the number only."


def _add_reward(key: Key, response: str) -> float:
    answer = str(key[0] + key[1])
    text = response.strip().rstrip(".").strip()
    if text == answer:
        return 1.0
    return 0.5 if answer in re.findall(r"\d+", response) else 0.0


def _words_message(key: Key) -> str:
    return f"Write one sentence about {TOPICS[key[0]]} with exactly {key[1]} words."


def _words_reward(key: Key, response: str) -> float:
    n = key[1]
    return max(0.0, 1.0 - abs(len(_words(response)) - n) / n)


@dataclass(frozen=True)
class Task:
    """A task: its prompt keys (all of them, in a fixed order), its user message and its true reward."""

    name: str
    keys: Callable[[], list[Key]]
    message: Callable[[Key], str]
    reward: Callable[[Key, str], float]
    description: str
    # an answer in the asked format that does not do the task (sort: the digits as given), with what it is;
    # its score is the bar a table must clear before a gain means more than "learned the format"
    shortcut: Callable[[Key], str] | None = None
    shortcut_description: str = ""


TASKS: dict[str, Task] = {
    "sort": Task(
        "sort",
        lambda: [tuple(k) for k in itertools.product(range(10), repeat=4)],
        _sort_message,
        _sort_reward,
        "sort 4 digits; Levenshtein similarity of the answer's tokens to the sorted digits",
        lambda key: " ".join(str(d) for d in key),
        "the prompt's digits repeated unsorted",
    ),
    "add": Task(
        "add",
        lambda: [(a, b) for a in range(10, 100) for b in range(10, 100)],
        _add_message,
        _add_reward,
        "add two 2-digit numbers; 1 exact, 0.5 right number in a longer answer, 0 otherwise",
    ),
    "words": Task(
        "words",
        lambda: [(t, n) for t in range(len(TOPICS)) for n in WORD_COUNTS],
        _words_message,
        _words_reward,
        "one sentence of exactly N words (5-12) on a topic; 1 - |words - N| / N",
    ),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise DataError(f"unknown llm task {name!r}; valid: {', '.join(TASKS)}")
    return TASKS[name]


def shortcut_score(task: Task, split: str, n: int) -> float | None:
    """100 × the mean true reward of the task's shortcut answer on the first ``n`` evaluation prompts of
    ``split`` (None when the task has no shortcut)."""
    if task.shortcut is None:
        return None
    keys = eval_keys(task, split, n)
    return 100.0 * float(np.mean([task.reward(k, task.shortcut(k)) for k in keys]))


def role(message: str) -> str:
    """Which part of the prompt space a user message belongs to: train (80 %), fitness or heldout (10 % each)."""
    h = int(hashlib.sha256(message.encode()).hexdigest()[:8], 16) % 10
    return "train" if h < 8 else ("fitness" if h == 8 else "heldout")


def split_keys(task: Task, part: str) -> list[Key]:
    """Every prompt key of ``part``, in the task's fixed order."""
    if part not in ROLES:
        raise DataError(f"unknown prompt split {part!r}; valid: {', '.join(ROLES)}")
    return [k for k in task.keys() if role(task.message(k)) == part]


def draw_keys(task: Task, part: str, n: int, rng: np.random.Generator) -> list[Key]:
    """``n`` distinct keys of ``part`` drawn without replacement (a DataError when the split holds fewer)."""
    keys = split_keys(task, part)
    if n > len(keys):
        raise DataError(f"{n} {part} prompts requested; task {task.name} has {len(keys)}")
    return [keys[i] for i in rng.choice(len(keys), size=n, replace=False)]


def eval_keys(task: Task, split: str, n: int) -> list[Key]:
    """The first ``n`` evaluation keys of ``split`` (fitness or heldout): fixed for a task."""
    if split not in ROLES[1:]:
        raise DataError(f"evaluation prompts come from 'fitness' or 'heldout', not {split!r}")
    return draw_keys(task, split, n, np.random.default_rng([EVAL_STREAM, ROLES.index(split)]))
