"""symmpo.llm on the real SmolLM2-135M-Instruct file: a forward pass, batched and sampled generation, a tiny
on-policy pool, and a 2-step MPOTrainer LoRA run. Seconds each on 2 CPU cores (short prompts, few tokens).

Skipped when the file is absent (``symmpo llm fetch`` puts it in $SYMMPO_CACHE); CI fetches it in
``.ci/setup`` and sets SYMMPO_REQUIRE_LLM=1, so there a missing file fails instead of skipping.
"""

from __future__ import annotations

import importlib.util
import math
import os

import numpy as np
import pytest

from symmpo.llm import files

_MISSING = [m for m in ("transformers", "peft", "trl", "datasets") if importlib.util.find_spec(m) is None]
_REASON = (
    f"the llm extra is not installed ({', '.join(_MISSING)} missing: pip install -e '.[llm]')"
    if _MISSING
    else None
)
if _REASON is None and not files.available():
    _REASON = f"SmolLM2 file absent from {files.cache_root()}: run `symmpo llm fetch` (CI's .ci/setup does)"
if _REASON is not None:
    if os.environ.get("SYMMPO_REQUIRE_LLM"):
        pytest.fail(f"SYMMPO_REQUIRE_LLM is set but {_REASON}", pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)

import torch  # noqa: E402
import trl_tiny  # noqa: E402

from symmpo.llm.chat import chat_prompt  # noqa: E402
from symmpo.llm.generate import generate  # noqa: E402
from symmpo.llm.model import LoraSpec, load_model, load_tokenizer  # noqa: E402
from symmpo.llm.tasks import get_task  # noqa: E402


@pytest.fixture(scope="module")
def lm():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # these tests only need correctness; one thread leaves the other core free
    yield load_tokenizer(), load_model()
    torch.set_num_threads(threads)


def _prompt(tok, key=(3, 1, 4, 1)) -> str:
    return chat_prompt(tok, get_task("sort").message(key))


def test_forward_pass_is_an_unquantized_float32_model(lm):
    tok, model = lm
    assert getattr(model.config, "quantization_config", None) is None  # the Trainer would refuse it
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    text = _prompt(tok)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    ids = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape == (1, ids["input_ids"].shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()
    first = generate(model, tok, [text], max_new_tokens=1)[0][0]
    assert first.tokens == (int(logits[0, -1].argmax()),)  # generation continues the same forward pass


def test_batched_greedy_equals_one_by_one_and_sampling_is_seeded(lm):
    tok, model = lm
    prompts = [_prompt(tok), chat_prompt(tok, get_task("add").message((47, 38)))]  # different lengths
    batched = generate(model, tok, prompts, max_new_tokens=5, batch_size=2)
    single = generate(model, tok, prompts, max_new_tokens=5, batch_size=1)
    assert [g[0].tokens for g in batched] == [g[0].tokens for g in single]  # left padding changes nothing
    assert all(len(g[0].tokens) > 0 for g in batched)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = generate(model, tok, prompts[:1], max_new_tokens=5, sample=True, num_samples=3, seed=7)
    torch.testing.assert_close(torch.rand(3), expected)  # the caller's RNG stream is left alone
    b = generate(model, tok, prompts[:1], max_new_tokens=5, sample=True, num_samples=3, seed=7)
    assert [g.tokens for g in a[0]] == [g.tokens for g in b[0]] and len(a[0]) == 3


def test_tiny_pool_is_ranked_by_the_true_reward(lm):
    from symmpo.llm.datasets import LLMDataConfig, build_pool

    tok, model = lm
    cfg = LLMDataConfig(task="sort", n_prompts=2, samples=3, max_new_tokens=6)
    pool = build_pool(cfg, model, tok)
    task = get_task("sort")
    for i, key in enumerate(pool["key"]):
        rewards = [task.reward(tuple(key), str(t)) for t in pool["text"][i]]
        assert rewards == pytest.approx(list(pool["reward"][i]))
        assert rewards == sorted(rewards)
        assert sorted(pool["sample_index"][i]) == [0, 1, 2]
        assert pool["prompt"][i] == chat_prompt(tok, task.message(tuple(key)))
    assert (pool["length"] <= 6).all() and (pool["length"] > 0).all()
    again = build_pool(cfg, model, tok)  # the same config and seed give the same data
    assert set(again) == set(pool)
    for k, v in pool.items():
        np.testing.assert_array_equal(again[k], v)


def test_mpo_trainer_trains_lora_adapters_for_two_steps(lm, tmp_path):
    from datasets import Dataset

    from symmpo.integrations.trl import MPOTrainer

    tok, _ = lm
    rows = [
        {
            "prompt": _prompt(tok, k),
            "chosen": " ".join(map(str, sorted(k))),
            "rejected": " ".join(map(str, k)),
        }
        for k in ((3, 1, 4, 1), (9, 2, 6, 5))
    ]
    model = load_model()
    trainer = MPOTrainer(
        objective="dpo",
        model=model,
        ref_model=None,  # LoRA: the reference is the model with its adapters disabled
        args=trl_tiny.config(tmp_path, per_device_train_batch_size=2, max_steps=2, learning_rate=5e-3),
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        peft_config=LoraSpec(r=4, alpha=8).peft_config(),
    )
    base = {k: v.detach().clone() for k, v in trainer.model.named_parameters() if "lora_" not in k}
    logs = trl_tiny.train_logs(trainer)
    assert len(logs) == 2
    assert logs[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # LoRA starts at the reference
    assert logs[1]["rewards/margins"] > 0  # one step on these pairs already prefers the sorted answers
    lora = {k: v for k, v in trainer.model.named_parameters() if "lora_B" in k}
    assert lora and any(v.abs().max() > 0 for v in lora.values())  # B starts at zero: the adapters moved
    for k, v in trainer.model.named_parameters():
        if k in base:
            torch.testing.assert_close(v, base[k], rtol=0, atol=0)  # the pretrained weights stay frozen


def test_one_tiny_po_run_trains_and_scores(lm):
    from symmpo import Objective
    from symmpo.llm.po import LLMConfig, run

    cfg = LLMConfig.preset("tiny", n_prompts=8).heldout()
    row = run(Objective.named("dpo"), "clean", 1000, cfg)  # reference log-probs from the per-dataset cache
    assert row["alive"] and row["steps"] == 2  # 4 pairs, 2 per step, one epoch
    assert 0.0 <= row["score"] <= 100.0 and 0 < row["answer_tokens"] <= cfg.eval_max_new_tokens
    assert row["train_loss"] == pytest.approx(math.log(2), abs=0.05)  # DPO starts at log 2 (LoRA B = 0)
    assert len(row["dataset"]) == 64
    from symmpo.llm.datasets import load_dataset
    from symmpo.llm.po import reference_logps

    ref = reference_logps(load_dataset(cfg.data_config("clean")), cfg)  # what the run read (cached)
    assert (
        ref is not None
        and len(ref["chosen"]) == 4
        and (ref["chosen"] < 0).all()
        and (ref["rejected"] < 0).all()
    )
    # TRL's own reference pass inside the run trains the same adapters: the cached values are TRL's
    own = run(Objective.named("dpo"), "clean", 1000, cfg, reuse_reference=False)
    for k in ("train_loss", "rewards_margins", "rewards_accuracies"):
        assert own[k] == pytest.approx(row[k], rel=1e-4, abs=1e-6), k
    assert own["score"] == row["score"]


def test_add_lora_trains_only_the_adapters_and_starts_at_the_base_model(lm):
    from symmpo.llm.model import add_lora

    tok, base = lm
    ids = tok(_prompt(tok), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        expected = base(**ids).logits
    peft_model = add_lora(load_model(), LoraSpec(r=8))
    trainable = {k: v.numel() for k, v in peft_model.named_parameters() if v.requires_grad}
    assert all("lora_" in k for k in trainable)
    # 30 layers x (q: 576 -> 576, v: 576 -> 192), r = 8: (8*576 + 576*8) + (8*576 + 192*8) per layer
    assert sum(trainable.values()) == 30 * (2 * 8 * 576 + 8 * 576 + 8 * 192)
    with torch.no_grad():
        torch.testing.assert_close(peft_model(**ids).logits, expected)  # B = 0: LoRA starts at the base


def test_rows_do_not_depend_on_the_worker_count_or_order(tmp_path):
    """`symmpo transfer llm --workers 2` gives the rows of `--workers 1`, scores and losses bit for bit, with
    the runs in the opposite order: each run reads only the data and reference caches the parent built first,
    whichever process runs it and whatever that process ran before (one worker runs DPO, then SimPO in the
    same process; two workers get SimPO first, then DPO)."""
    from symmpo.files import read_jsonl
    from symmpo.llm.po import LLMConfig
    from symmpo.search.executors import LocalExecutor
    from symmpo.studies import llm as study
    from symmpo.studies.members import resolve_objectives

    cfg = LLMConfig.preset("tiny", n_prompts=8).heldout()
    timing = ("train_seconds", "cpu_seconds", "eval_seconds")
    rows = {}
    for workers, names in ((1, ["dpo", "simpo"]), (2, ["simpo", "dpo"])):  # with and without the reference
        out = tmp_path / f"workers-{workers}"
        executor = LocalExecutor(workers)
        try:
            members = resolve_objectives(names)
            study.run_table(out, cfg, ["clean"], [1000], members, executor=executor, log=lambda s: None)
        finally:
            executor.close()
        stored = read_jsonl(out / "transfer.jsonl")
        rows[workers] = {
            (r["seed"], r["label"]): {k: v for k, v in r.items() if k not in timing} for r in stored
        }
    assert rows[1] == rows[2]
    po_rows = [r for (_, label), r in rows[1].items() if label != study.BASE]
    assert len(po_rows) == 2 and all(r["alive"] and r["steps"] == 2 for r in po_rows)
    assert po_rows[0]["train_loss"] != po_rows[1]["train_loss"]  # two different runs, not one repeated
