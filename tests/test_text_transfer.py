"""The text suite's training side on a tiny configuration: tokenizer and model built offline, the cached SFT
reference, PO runs through MPOTrainer, the held-out protocol, and ``symmpo transfer text`` end to end."""

from __future__ import annotations

import dataclasses
import json

import pytest
import trl_tiny
import yaml
from test_integrations_trl import TA_OBJECTIVE

trl_tiny.require_trl()

import torch  # noqa: E402

from symmpo import Objective, protocol  # noqa: E402
from symmpo.cli import main  # noqa: E402
from symmpo.studies import text as study  # noqa: E402
from symmpo.studies.members import resolve_objectives  # noqa: E402
from symmpo.text import lm, po  # noqa: E402
from symmpo.text.config import TextConfig  # noqa: E402
from symmpo.text.task import VOCAB, eval_prompts  # noqa: E402

CFG = TextConfig.preset("tiny").heldout()

torch.set_num_threads(1)


@pytest.fixture
def hof(tmp_path):
    """A discovered TA-MPO objective inside a search-run layout (config.yaml + objectives/hof_01.yaml)."""
    run = tmp_path / "study-ta-hopper-mixed"
    (run / "objectives").mkdir(parents=True)
    (run / "config.yaml").write_text("tasks: [hopper-mixed-0.5]\n")
    path = run / "objectives" / "hof_01.yaml"
    path.write_text(yaml.safe_dump(TA_OBJECTIVE))
    return path


def test_tokenizer_is_local_and_word_level():
    tok = lm.tokenizer()
    ids = tok("3 1 =")["input_ids"]
    assert [VOCAB[i] for i in ids] == ["3", "1", "="]
    assert tok.eos_token_id == VOCAB.index("<eos>") and tok.pad_token_id == VOCAB.index("<pad>")
    assert tok(" 1 3<eos>")["input_ids"][-1] == tok.eos_token_id  # TRL appends EOS to completions like this


def test_reference_is_cached_and_greedy_is_deterministic(tmp_path):
    ds, ref, key, secs = po.load("clean", 1000, CFG, tmp_path)
    assert secs > 0 and len(list((tmp_path / "text" / "reference").glob(f"{key}.safetensors"))) == 1
    _, again, key2, secs2 = po.load("clean", 1000, CFG, tmp_path)
    assert key2 == key and secs2 == 0.0
    assert all(
        torch.equal(a, b) for a, b in zip(ref.state_dict().values(), again.state_dict().values(), strict=True)
    )
    prompts = eval_prompts(CFG.spec, "heldout", 12)
    gens = lm.greedy(ref, prompts, CFG.spec)
    assert gens == lm.greedy(again, prompts, CFG.spec)
    assert all(len(g) <= CFG.spec.max_response + 1 for g in gens)
    scored = lm.evaluate(ref, prompts, CFG.spec)
    assert 0.0 <= scored["score"] <= 100.0


def test_po_run_through_mpotrainer_is_deterministic(tmp_path):
    dpo = Objective.named("dpo", beta=0.5)
    a = po.run(dpo, "length", 1000, CFG, 1e-3, tmp_path)
    b = po.run(dpo, "length", 1000, CFG, 1e-3, tmp_path)
    for k in ("score", "exact", "extra_tokens", "train_loss", "rewards_margins"):
        assert a[k] == b[k], k
    assert a["alive"] and a["steps"] == 3 and a["dataset"] == b["dataset"]
    # training moved the policy away from π_ref
    ds, ref, _, _ = po.load("length", 1000, CFG, tmp_path)
    policy, metrics = po.train(dpo, ref, ds, 1000, CFG, 1e-3)
    moved = [not torch.equal(p, q) for p, q in zip(policy.parameters(), ref.parameters(), strict=True)]
    assert any(moved) and metrics["train_loss"] == a["train_loss"]
    # a reference-free loss runs without a reference model
    simpo = po.run(Objective.named("simpo"), "length", 1000, CFG, 1e-3, tmp_path)
    assert simpo["alive"] and simpo["train_loss"] != a["train_loss"]


def test_heldout_protocol_refuses_overlaps():
    study.check_heldout(CFG, [1000, 1001], [0, 1])  # the default: fine
    with pytest.raises(protocol.ProtocolError, match="dataset seed"):
        study.check_heldout(CFG.heldout(dataset_seed=0), [1000], [])
    with pytest.raises(protocol.ProtocolError, match="training seeds"):
        study.check_heldout(CFG, [1, 1000], [])  # seed 1 chose the default configuration
    with pytest.raises(protocol.ProtocolError, match="training seeds"):
        study.check_heldout(CFG, [1000, 1005], [1005])
    with pytest.raises(protocol.ProtocolError, match="fitness evaluation prompts"):
        study.check_heldout(dataclasses.replace(CFG, eval_split="fitness"), [1000], [])


def test_resolve_objectives(tmp_path, hof):
    members = resolve_objectives(["dpo", str(hof), f"mine={hof}"])
    assert [m.label for m in members] == ["dpo", "study-ta-hopper-mixed", "mine"]
    assert members[1].objective().name == Objective.load(hof).name
    for bad, match in (("nope", "neither a named loss"), ("dpo", "unique")):
        with pytest.raises(Exception, match=match):
            resolve_objectives([bad, "dpo"] if bad == "dpo" else [bad])
    broken = tmp_path / "bad.yaml"
    broken.write_text("format: symmpo-objective/1\nphi_inv: 'import os'\n")
    with pytest.raises(Exception):  # noqa: B017 - the loader's own error class
        resolve_objectives([str(broken)])


def test_transfer_command_end_to_end(tmp_path, capsys, hof):
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["transfer", "text", "--preset", "tiny", "--objectives", "dpo", str(hof), "--settings", "clean"]
    argv += ["--seeds", "2", "--no-sweep", "--executor", "inline", "--no-progress"]
    argv += ["--out", str(out), "--cache-dir", str(cache)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    rows = [json.loads(x) for x in (out / "transfer.jsonl").read_text().splitlines()]
    assert sorted((r["label"], r["seed"]) for r in rows) == sorted(
        (lab, s) for lab in ("sft", "dpo", "study-ta-hopper-mixed") for s in (1000, 1001)
    )
    assert {r["task"] for r in rows} == {"sort-clean"} and len({r["dataset"] for r in rows}) == 1
    st = json.loads((out / "stats.json").read_text())
    objs = st["tasks"]["sort-clean"]["objectives"]
    assert set(objs) == {"sft", "dpo", "study-ta-hopper-mixed"} and st["seeds"] == [1000, 1001]
    assert st["config"]["eval_split"] == "heldout" and st["config"]["dataset_seed"] == 1
    comps = st["tasks"]["sort-clean"]["comparisons"]
    assert {c["objective"] for c in comps} == {"study-ta-hopper-mixed"}  # only discovered losses are judged
    assert all("p_holm" in c and c["verdict"] in ("beats", "ties", "loses") for c in comps)
    assert "| study-ta-hopper-mixed |" in text and (out / "table.png").stat().st_size > 0
    assert (out / "table.csv").read_text().startswith("objective,task,iqm")
    # rerunning resumes: nothing is trained again
    assert main(argv) == 0
    assert len((out / "transfer.jsonl").read_text().splitlines()) == len(rows)
    # the held-out protocol is enforced on the command line
    assert main([*argv, "--dataset-seed", "0"]) == 2
    assert "not held out" in capsys.readouterr().err
    assert main([*argv[:-4], "--settings", "sorted"]) == 2


def test_sweep_choice_is_read_back_and_applied(tmp_path):
    from symmpo.files import append_jsonl

    fit = CFG.fitness()
    members = {m.label: m for m in study.sweep_members(["dpo", "orpo"], (0.2, 1.0), (1e-4,))}
    scores = {"dpo[beta=0.02,lr=0.0001]": (50, 52), "dpo[beta=0.1,lr=0.0001]": (60, 58)}
    scores |= {"orpo[lam=0.02,lr=0.0001]": (40, 44), "orpo[lam=0.1,lr=0.0001]": (41, 42)}
    rows = [
        {
            "kind": "sweep",
            "task": study.SWEEP_TASK,
            "seed": seed,
            "label": label,
            "objective": members[label].name,
            "params": members[label].params,
            "lr": members[label].lr,
            "config": fit.hash(),
            "dataset": "d",
            "score": s,
        }
        for label, pair in scores.items()
        for seed, s in zip((0, 1), pair, strict=True)
    ]
    append_jsonl(tmp_path / "sweep.jsonl", rows)
    chosen = study.write_sweep(tmp_path, CFG)
    assert chosen == {
        "dpo": {"params": {"beta": 0.1}, "lr": 1e-4},
        "orpo": {"params": {"lam": 0.02}, "lr": 1e-4},
    }
    assert "**59.0 ± 1.0**" in (tmp_path / "sweep.md").read_text()
    read, seeds = study.chosen_params(tmp_path, CFG, require=True)
    assert read == chosen and seeds == [0, 1]
    applied = study.with_params(resolve_objectives(["dpo", "simpo"]), read)
    assert (applied[0].params, applied[0].lr) == ({"beta": 0.1}, 1e-4)
    assert applied[1].params == {"beta": 2.0, "gamma": 0.5} and applied[1].lr is None  # not swept: defaults
    other = dataclasses.replace(CFG, lr=3e-4)  # another configuration: this sweep does not apply
    with pytest.raises(Exception, match="no text sweep"):
        study.chosen_params(tmp_path, other, require=True)


def test_file_learning_rate(hof):
    """Objective files train at the configuration's rate, a given one, or a swept baseline's chosen one."""
    chosen = {"dpo": {"params": {"beta": 0.5}, "lr": 3e-5}}
    members = resolve_objectives(["dpo", f"mine={hof}"])
    assert study.with_params(members, chosen)[1].lr is None
    assert study.with_params(members, chosen, "dpo")[1].lr == 3e-5
    applied = study.with_params(members, chosen, "2e-4")
    assert applied[1].lr == 2e-4 and applied[0].lr == 3e-5 and applied[1].path == str(hof)
    for bad, match in (
        ("orpo", "no learning rate for orpo"),
        ("fast", "learning rate or"),
        ("-1", "positive"),
    ):
        with pytest.raises(Exception, match=match):
            study.with_params(members, chosen, bad)


def test_separate_sft_data_gives_its_own_reference_shared_by_settings(tmp_path):
    _, _, key, _ = po.load("clean", 1000, CFG, tmp_path)
    _, _, same, _ = po.load("clean", 1000, dataclasses.replace(CFG, sft_levels=()), tmp_path)
    assert same == key  # off: the reference of every earlier run
    sep = dataclasses.replace(CFG, sft_levels=("poor", "fair"))
    ds, ref, key_sep, secs = po.load("clean", 1000, sep, tmp_path)
    assert key_sep != key and secs > 0
    _, _, key_mixed, secs_mixed = po.load("mixed-0.5", 1000, sep, tmp_path)
    assert key_mixed == key_sep and secs_mixed == 0  # labels play no part in SFT data
    _, _, key_fair, _ = po.load("clean", 1000, dataclasses.replace(sep, sft_levels=("fair",)), tmp_path)
    assert key_fair not in (key, key_sep)


def test_transfer_command_with_sft_levels(tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["transfer", "text", "--preset", "tiny", "--objectives", "dpo", "--settings", "clean"]
    argv += ["--seeds", "2", "--no-sweep", "--executor", "inline", "--no-progress"]
    argv += ["--out", str(out), "--cache-dir", str(cache)]
    argv += ["--sft-levels", "fair", "poor", "--sft-epochs", "2"]
    assert main(argv) == 0
    st = json.loads((out / "stats.json").read_text())
    assert st["config"]["sft_levels"] == ["poor", "fair"] and st["config"]["sft"]["epochs"] == 2.0
    assert "separate data: poor and fair responses" in (out / "table.md").read_text()
    rows = [json.loads(x) for x in (out / "transfer.jsonl").read_text().splitlines()]
    assert len({r["config"] for r in rows}) == 1
    # the same output directory without the option: other rows, never mixed with these
    assert main(argv[:-5]) == 0
    rows2 = [json.loads(x) for x in (out / "transfer.jsonl").read_text().splitlines()]
    assert len(rows2) == 2 * len(rows) and len({r["config"] for r in rows2}) == 2
    assert "sft_levels" not in json.loads((out / "stats.json").read_text())["config"]
    capsys.readouterr()
    assert main([*argv[:-3], "weak"]) == 2
    err = capsys.readouterr().err
    assert "unknown behaviour level(s) 'weak'" in err and len(err.strip().splitlines()) == 1
    assert main([*argv[:-1], "0"]) == 2 and "--sft-epochs must be positive" in capsys.readouterr().err


def test_continued_sft_runs_on_text(tmp_path):
    """sft_chosen has no beta: TRL gets the objective's reward scale (it was a KeyError), the others their own."""
    from symmpo.integrations.trl import trl_beta

    sft_chosen = Objective.named("sft_chosen")
    assert trl_beta(sft_chosen) == sft_chosen.beta
    assert (
        trl_beta(Objective.named("dpo", beta=0.3)) == 0.3
        and trl_beta(Objective.named("orpo", lam=0.7)) == 0.7
    )
    r = po.run(sft_chosen, "clean", 1000, CFG, 1e-3, tmp_path)
    assert r["alive"] and 0.0 <= r["score"] <= 100.0 and r["nll_chosen"] > 0
