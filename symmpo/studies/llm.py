"""The LLM transfer table: named baselines and discovered objectives training SmolLM2-135M-Instruct (LoRA),
judged with the MuJoCo and text tables' statistics on a held-out split.

Resumable like ``symmpo transfer text``: one JSON line per finished run in ``transfer.jsonl`` (a rerun skips
what is done). Every run of a (setting, seed) cell trains fresh adapters on the same cached on-policy data and
is scored on the same held-out prompts, so comparisons are paired. The row ``instruct`` is the model without
preference optimization: greedy decoding makes it one evaluation, recorded under every training seed (its
paired comparisons are then one-sample tests against that score).

Not yet here (issue 23, item 4): the sweep that tunes the named baselines on the fitness split (they run at
their named defaults and the configuration's learning rate) and a measured 2-hour CPU study.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from symmpo import protocol
from symmpo.errors import SymmpoError
from symmpo.files import append_jsonl, dumps, read_jsonl
from symmpo.llm.po import LLMConfig
from symmpo.report import diverged_lines, iqm_table, plot_iqm, verdict_lines, write_csv
from symmpo.studies.rows import current_rows as config_rows
from symmpo.text.datasets import canonical_setting

BASE = "instruct"


def task_name(cfg: LLMConfig, setting: str) -> str:
    return f"{cfg.task}-{canonical_setting(setting)}"


def check_heldout(cfg: LLMConfig, seeds: Sequence[int]) -> None:
    """Refuse a table on the fitness dataset seed or prompts, or on training seeds below the held-out range."""
    problems = []
    if cfg.dataset_seed == protocol.FITNESS_DATASET_SEED:
        problems.append(f"dataset seed {cfg.dataset_seed} (the fitness data)")
    if cfg.eval_split != "heldout":
        problems.append(f"the {cfg.eval_split} evaluation prompts")
    low = [s for s in seeds if s < protocol.HELDOUT_SEED_MIN]
    if low:
        problems.append(f"training seeds {low} (< {protocol.HELDOUT_SEED_MIN})")
    if problems:
        raise protocol.ProtocolError(f"the LLM transfer table is not held out: it uses {'; '.join(problems)}")


def current_rows(path: Path, cfg: LLMConfig) -> list[dict[str, Any]]:
    """Rows of this configuration on each task's most recent dataset (the text study's rule)."""
    return config_rows(read_jsonl(path), cfg.hash())


def run_table(
    out_dir: Path,
    cfg: LLMConfig,
    settings: Sequence[str],
    seeds: Sequence[int],
    members: Sequence[Any],
    cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
    check: bool = True,
) -> None:
    """Train every member on every (setting, seed) not yet in ``transfer.jsonl``, plus the instruct rows."""
    from symmpo.llm import po

    if check:
        check_heldout(cfg, seeds)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "transfer.jsonl"
    base_score: dict[str, Any] | None = None
    for setting in settings:
        task = task_name(cfg, setting)
        dataset = _dataset(cfg, setting, cache_dir)  # generated here the first time (minutes)
        done = {
            (r["task"], r["seed"], r["label"])
            for r in read_jsonl(path)
            if r.get("config") == cfg.hash() and r.get("dataset") == dataset
        }
        for seed in seeds:
            if (task, seed, BASE) not in done:
                if base_score is None:
                    base_score = po.evaluate_base(cfg, cache_dir)
                    log(f"{BASE}: score {base_score['score']:.1f} ({base_score['eval_seconds']:.0f} s)")
                append_jsonl(path, [_row(cfg, task, seed, None, {**base_score, "dataset": dataset})])
            for m in members:
                if (task, seed, m.label) in done:
                    continue
                result = po.run(m.objective(), setting, seed, cfg, m.lr, cache_dir)
                log(
                    f"{task} seed {seed} {m.label}: {result['score']:.1f} "
                    f"({result['train_seconds']:.0f} s training, {result.get('steps', 0)} steps)"
                )
                append_jsonl(path, [_row(cfg, task, seed, m, result)])


def _dataset(cfg: LLMConfig, setting: str, cache_dir: Path | None) -> str:
    from symmpo.llm.datasets import load_dataset

    return load_dataset(cfg.data_config(setting), cache_dir).meta["sha256"]


def _row(cfg: LLMConfig, task: str, seed: int, m: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "transfer",
        "task": task,
        "seed": seed,
        "label": BASE if m is None else m.label,
        "objective": BASE if m is None else m.name,
        "params": {} if m is None else m.params,
        "lr": None if m is None else (m.lr if m.lr is not None else cfg.lr),
        "path": getattr(m, "path", None),
        "config": cfg.hash(),
        **result,
    }


def write_report(
    out_dir: Path, cfg: LLMConfig, labels: Sequence[str], discovered: Sequence[str], header: str = ""
) -> str:
    """table.md / table.csv / table.png / stats.json from the stored rows of this configuration."""
    from symmpo.train import table_stats

    rows = current_rows(out_dir / "transfer.jsonl", cfg)
    if not rows:
        raise SymmpoError(f"no LLM transfer results for this configuration in {out_dir / 'transfer.jsonl'}")
    tasks = sorted({r["task"] for r in rows}, key=lambda t: (not t.endswith("-clean"), t))
    present = {r["label"] for r in rows}
    labels = [BASE] + [lab for lab in labels if lab in present and lab != BASE]
    found = [d for d in discovered if d in present]
    baselines = [lab for lab in labels if lab not in found]
    rows = [r for r in rows if r["label"] in labels]
    # every objective is tested against the model without PO (the validity target: DPO beats it) and
    # against the column's best baseline; the model without PO is not itself judged (no test spent twice)
    st = table_stats.table_stats(
        rows,
        labels,
        tasks,
        baselines=baselines,
        reference=BASE,
        judged=found or [x for x in labels if x != BASE],
    )
    seeds = sorted({r["seed"] for r in rows})
    st["seeds"], st["config"] = seeds, cfg.to_dict()
    st["score"] = "100 x mean true reward of greedy answers"
    (out_dir / "stats.json").write_text(dumps(st, indent=1) + "\n")
    po_rows = [r for r in rows if r["label"] != BASE and "train_seconds" in r]
    wall = statistics.median([r["train_seconds"] for r in po_rows]) if po_rows else float("nan")
    md = [
        f"# Transfer to a pretrained LLM: SmolLM2-135M-Instruct, task `{cfg.task}` ({cfg.eval_split} split)",
        "",
        header,
        "",
        f"Score = 100 × mean true reward of the greedy answers to {cfg.eval_prompts} {cfg.eval_split} prompts: "
        f"**interquartile mean over training seeds {seeds}** with its 95 % bootstrap CI. `{BASE}` = the model "
        f"without preference optimization. LoRA r = {cfg.lora_r} on q/v, {cfg.epochs:g} epoch(s) at batch "
        f"{cfg.batch_size} pairs, lr {cfg.lr:g}, on-policy data of dataset seed {cfg.dataset_seed}. Named "
        "baselines run at their named defaults (no sweep yet).",
        "",
        *iqm_table(st, labels, tasks, len(seeds)),
        *[v.replace("against DPO", f"against `{BASE}` (no PO)") for v in verdict_lines(st, tasks)],
        "",
        f"Cost: {len(po_rows)} PO runs, median {wall:.0f} s of training each.",
        "",
        f"Configuration `{json.dumps(cfg.to_dict())}`.",
        *diverged_lines(rows),
    ]
    text = "\n".join(md) + "\n"
    (out_dir / "table.md").write_text(text)
    write_csv(out_dir / "table.csv", st, labels, tasks)
    plot_iqm(
        st,
        labels,
        tasks,
        out_dir / "table.png",
        [cfg.task],
        highlight=BASE,
        dashed=found,
        ylabel="100 × true reward (IQM, 95% CI)",
        titles={cfg.task: f"SmolLM2-135M-Instruct, {cfg.task} ({cfg.eval_split})"},
    )
    return text
