"""The true reward of a model's greedy answers on a task's evaluation prompts: what a table reports."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from symmpo.llm.chat import chat_prompt
from symmpo.llm.generate import generate
from symmpo.llm.tasks import Key, Task, eval_keys


@dataclass
class Score:
    """Per-prompt rewards of greedy answers, with the answers themselves (for reading, not for statistics)."""

    task: str
    split: str
    keys: list[Key]
    rewards: np.ndarray
    answers: list[str]
    finished: np.ndarray
    lengths: np.ndarray  # answer tokens (the end-of-turn token not counted)
    seconds: float

    def summary(self) -> dict[str, Any]:
        r = self.rewards
        return {
            "task": self.task,
            "split": self.split,
            "prompts": len(r),
            "mean_reward": float(r.mean()),
            "se": float(r.std(ddof=1) / np.sqrt(len(r))) if len(r) > 1 else float("nan"),
            "exact": float(np.mean(r == 1.0)),
            "zero": float(np.mean(r == 0.0)),
            "finished": float(self.finished.mean()),
            "answer_tokens": float(self.lengths.mean()),
            "seconds": round(self.seconds, 1),
        }


def greedy_score(
    model: Any,
    tokenizer: Any,
    task: Task,
    split: str = "fitness",
    n: int = 50,
    max_new_tokens: int = 32,
    batch_size: int = 16,
) -> Score:
    """Greedy answers to the first ``n`` evaluation prompts of ``split``, scored by the task's true reward."""
    keys = eval_keys(task, split, n)
    prompts = [chat_prompt(tokenizer, task.message(k)) for k in keys]
    start = time.perf_counter()
    outs = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    seconds = time.perf_counter() - start
    answers = [o[0].text for o in outs]
    return Score(
        task=task.name,
        split=split,
        keys=keys,
        rewards=np.array([task.reward(k, a) for k, a in zip(keys, answers, strict=True)]),
        answers=answers,
        finished=np.array([o[0].finished for o in outs]),
        lengths=np.array([len(o[0].tokens) for o in outs]),
        seconds=seconds,
    )
