"""``symmpo transfer llm`` without the model: the table's cells, resumption, the held-out check and the report
(the PO runs are replaced by a fake with known scores; tests/test_llm_model.py runs a real one)."""

from __future__ import annotations

import json

import pytest

from symmpo import protocol
from symmpo.cli import main
from symmpo.llm import po
from symmpo.llm.po import LLMConfig
from symmpo.studies import llm as study
from symmpo.studies.members import resolve_objectives

SEEDS = [1000, 1001, 1002]
GAIN = {"dpo": 20.0, "simpo": 0.5}
WOBBLE = {"dpo": 0.1, "simpo": 0.3}  # per seed, so paired differences vary


@pytest.fixture
def fake_runs(monkeypatch):
    calls = {"base": 0, "run": []}

    def base(cfg, cache_dir=None):
        calls["base"] += 1
        return {"score": 30.0, "eval_seconds": 1.0, "alive": True, "reason": ""}

    def run(objective, setting, seed, cfg, lr=None, cache_dir=None):
        calls["run"].append((objective.name, setting, seed))
        wobble = (seed - 1000) ** 2 * WOBBLE[objective.name]
        return {
            "dataset": f"data-{setting}",
            "score": 30.0 + GAIN[objective.name] + wobble,
            "train_seconds": 2.0,
            "steps": 16,
            "alive": True,
            "reason": "",
        }

    monkeypatch.setattr(po, "evaluate_base", base)
    monkeypatch.setattr(po, "run", run)
    monkeypatch.setattr(study, "_dataset", lambda cfg, setting, cache_dir: f"data-{setting}")
    return calls


def test_table_runs_every_cell_once_and_reports(tmp_path, fake_runs):
    cfg = LLMConfig().heldout()
    members = resolve_objectives(["dpo", "simpo"])
    study.run_table(tmp_path, cfg, ["clean", "mixed-0.5"], SEEDS, members, log=lambda s: None)
    rows = [json.loads(x) for x in (tmp_path / "transfer.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3 * 3 and fake_runs["base"] == 1  # greedy: one evaluation of the instruct model
    assert len(fake_runs["run"]) == 12
    study.run_table(tmp_path, cfg, ["clean", "mixed-0.5"], SEEDS, members, log=lambda s: None)
    assert len(fake_runs["run"]) == 12  # resumed: nothing ran twice
    text = study.write_report(tmp_path, cfg, ["dpo", "simpo"], [], header="Produced by a test.")
    assert "| instruct |" in text and "| dpo |" in text and "sort-mixed-0.5" in text
    st = json.loads((tmp_path / "stats.json").read_text())
    clean = st["tasks"]["sort-clean"]["objectives"]
    assert clean["dpo"]["iqm"] == pytest.approx(50.1, abs=0.2) and clean["instruct"]["iqm"] == pytest.approx(
        30.0
    )
    verdicts = {
        (c["objective"], c["against"]): c["verdict"] for c in st["tasks"]["sort-clean"]["comparisons"]
    }
    assert verdicts[("dpo", "instruct")] == "beats"  # tested against the model without PO
    assert verdicts[("simpo", "dpo")] == "loses"  # and against the column's best baseline
    assert "against `instruct` (no PO)" in text
    for name in ("table.md", "table.csv", "table.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_held_out_check():
    cfg = LLMConfig()
    with pytest.raises(protocol.ProtocolError, match="fitness"):
        study.check_heldout(cfg, SEEDS)
    with pytest.raises(protocol.ProtocolError, match="training seeds"):
        study.check_heldout(cfg.heldout(), [0, 1000])
    study.check_heldout(cfg.heldout(), SEEDS)


def test_config_hash_ignores_the_device_only():
    cfg = LLMConfig()
    assert cfg.hash() == LLMConfig(device="cuda").hash() != LLMConfig(lr=1e-4).hash()
    assert LLMConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.data_config("mixed-0.5").name == "sort-mixed-0.5"


def test_cli_refuses_one_seed(capsys):
    assert main(["transfer", "llm", "--seeds", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err
