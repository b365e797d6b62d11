"""The sorting suite's validity check: the best PO loss is chosen on the fitness split (never on held-out
scores, never the continued-SFT control), tested against π_ref and the control with its own Holm family, and
reported by ``symmpo transfer text``'s table."""

from __future__ import annotations

import json

import pytest

from symmpo import stats
from symmpo.studies import text as study
from symmpo.studies.text_validity import CONTROL, fitness_best_po, validity, validity_lines
from symmpo.text.config import TextConfig

SEEDS = range(1000, 1010)


def sweep_row(name: str, value: float, lr: float, seed: int, score: float) -> dict:
    params = {} if name in ("sft", CONTROL) else {"beta": value}
    return {
        "kind": "sweep",
        "task": "sort-clean",
        "seed": seed,
        "label": name if name == "sft" else f"{name}[beta={value:g},lr={lr:g}]",
        "objective": name,
        "params": params,
        "lr": None if name == "sft" else lr,
        "score": score,
    }


def held_row(label: str, task: str, seed: int, score: float) -> dict:
    return {"task": task, "seed": seed, "label": label, "score": score}


def test_best_po_is_the_fitness_choice_never_the_control_or_reference():
    rows = [
        sweep_row("dpo", 0.1, 1e-4, 0, 80.0),
        sweep_row("dpo", 0.1, 1e-4, 1, 82.0),
        sweep_row("dpo", 1.0, 1e-4, 0, 86.0),  # dpo's chosen point: mean 86
        sweep_row("dpo", 1.0, 1e-4, 1, 86.0),
        sweep_row("orpo", 0.1, 1e-4, 0, 85.0),
        sweep_row("orpo", 0.1, 1e-4, 1, 84.0),
        sweep_row(CONTROL, 0.0, 1e-4, 0, 95.0),  # the control scores highest but is not PO
        sweep_row(CONTROL, 0.0, 1e-4, 1, 95.0),
        sweep_row("sft", 0.0, 0.0, 0, 99.0),
    ]
    assert fitness_best_po(rows, "sft") == ("dpo", 86.0)
    assert fitness_best_po([r for r in rows if r["objective"] in ("sft", CONTROL)], "sft") is None


def test_validity_tests_and_target():
    rows = []
    for i, s in enumerate(SEEDS):
        noise = (-1) ** i * 0.5 + 0.12 * i
        for task, gain in (("sort-clean", 7.0), ("sort-mixed-0.5", 2.0)):
            rows += [
                held_row("sft", task, s, 80.0 + 0.3 * i),
                held_row("orpo", task, s, 80.0 + 0.3 * i + gain + noise),
                held_row(CONTROL, task, s, 80.0 + 0.3 * i + gain + 0.2 * noise),
                held_row("dpo", task, s, 99.0 - 0.1 * i),  # best held out: tested, never chosen
            ]
    v = validity(rows, ["sort-clean", "sort-mixed-0.5"], "orpo", "sft")
    assert v["best_po"] == "orpo" and len(v["tests"]) == 10  # (orpo, dpo) x (sft, control), control - sft
    assert ("sort-mixed-0.5", "dpo", CONTROL) in {
        (c["task"], c["objective"], c["against"]) for c in v["tests"]
    }
    raw = [c["p"] for c in v["tests"]]
    assert [c["p_holm"] for c in v["tests"]] == pytest.approx(stats.holm(raw))
    first = v["tests"][0]
    assert (first["task"], first["objective"], first["against"]) == ("sort-clean", "orpo", "sft")
    assert first["diff"] == pytest.approx(7.0 + sum((-1) ** i * 0.5 + 0.12 * i for i in range(10)) / 10)
    assert first["verdict"] == "beats" and first["mde"] > 0
    text = "\n".join(validity_lines(v, 86.0))
    assert "met in: sort-clean." in text  # +2 on mixed-0.5 is significant but below the 5-point target
    assert "| sort-mixed-0.5 | orpo − sft | +2.5 |" in text


def test_transfer_report_carries_the_check(tmp_path):
    cfg = TextConfig.preset("tiny").heldout()
    fit = cfg.fitness()
    sweep = [
        {**sweep_row(n, 1.0, 1e-4, s, sc), "config": fit.hash(), "dataset": "d0"}
        for n, sc in (("dpo", 84.0), ("orpo", 88.0), (CONTROL, 90.0), ("sft", 80.0))
        for s in (0, 1)
    ]
    (tmp_path / "sweep.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sweep))
    rows = []
    for i, s in enumerate(SEEDS):
        for label, score in (("sft", 80.0), ("dpo", 90.0), ("orpo", 86.0), (CONTROL, 86.5), ("d", 85.0)):
            rows.append(
                {
                    **held_row(label, "sort-clean", s, score + 0.4 * i + ((-1) ** i) * (label != "sft")),
                    "kind": "transfer",
                    "objective": label,
                    "params": {},
                    "lr": None if label == "sft" else 1e-4,
                    "path": "d.yaml" if label == "d" else None,
                    "config": cfg.hash(),
                    "dataset": "d1",
                    "extra_tokens": 0.0,
                }
            )
    (tmp_path / "transfer.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = study.write_report(tmp_path, cfg, ["dpo", "orpo", CONTROL, "d"], ["d"])
    assert "best PO baseline chosen on the fitness split is **orpo**" in text  # not dpo, best held out
    assert "| sort-clean | orpo − sft_chosen |" in text
    assert "sft_chosen (lr 0.0001)" in text  # a loss without parameters: its learning rate alone
    st = json.loads((tmp_path / "stats.json").read_text())
    assert st["validity"]["best_po"] == "orpo" and len(st["validity"]["tests"]) == 5
    # the verdicts' best baseline is the fitness choice too (the control here), not dpo, the best held out
    assert st["tasks"]["sort-clean"]["best_baseline"] == CONTROL
    assert "sort-clean: sft_chosen (chosen on the fitness split)" in text
    (tmp_path / "sweep.jsonl").unlink()  # without a sweep there is no fitness choice, so no check
    text = study.write_report(tmp_path, cfg, ["dpo", "orpo", CONTROL, "d"], ["d"])
    assert "Validity check" not in text and "sort-clean: dpo (the highest IQM in this table" in text
