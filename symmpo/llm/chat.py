"""The chat template around a task's user message: what the instruct model was trained to answer.

Prompts are rendered to text once, with the generation prompt (``<|im_start|>assistant\\n``) appended, and
tokenized without special tokens, as TRL's DPOTrainer tokenizes a text prompt: generation and training see the
same tokens.
"""

from __future__ import annotations

from typing import Any


def chat_prompt(tokenizer: Any, user: str, system: str | None = None) -> str:
    """The rendered conversation ``[system], user`` ending where the assistant's answer starts.

    With ``system=None`` the template's default system message is used (SmolLM2's: "You are a helpful AI
    assistant named SmolLM, trained by Hugging Face"), the way the model is normally prompted.
    """
    messages = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": user}
    ]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
