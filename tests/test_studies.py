"""The study runner's shared pieces: rows keyed by their configuration (resume, latest dataset), the choice per
column (ties, divergence, missing seeds, edges of the grid) and the baseline set derived from the named table."""

from __future__ import annotations

import math

from symmpo.files import append_jsonl
from symmpo.objective import named
from symmpo.studies.members import BASELINES, baseline_set, sweep_members
from symmpo.studies.rows import Rows, ident
from symmpo.studies.sweep import choose, sweep_columns


def row(label: str, seed: int, score: float, params: dict, lr: float | None, **kw) -> dict:
    name = label.split("[")[0]
    return {
        "kind": "sweep",
        "task": "t",
        "seed": seed,
        "label": label,
        "objective": name,
        "params": params,
        "lr": lr,
        "config": "c1",
        "dataset": "d1",
        "score": score,
        **kw,
    }


def test_rows_resume_by_configuration_member_and_dataset(tmp_path):
    store = Rows(tmp_path, "sweep", "c1")
    append_jsonl(
        store.path,
        [
            row("dpo", 0, 1.0, {"beta": 0.1}, 1e-4),
            {**row("dpo", 1, 2.0, {"beta": 0.1}, 1e-4), "config": "c2"},  # another configuration
            {**row("dpo", 2, 3.0, {"beta": 0.1}, 1e-4), "kind": "bench"},  # another kind
        ],
    )
    done = store.done()
    assert done == {ident("t", 0, "dpo", {"beta": 0.1}, 1e-4, "d1")}
    assert ident("t", 0, "dpo", {"beta": 0.3}, 1e-4, "d1") not in done  # other hyperparameters: redone
    assert ident("t", 0, "dpo", {"beta": 0.1}, 1e-4, "d2") not in done  # a rebuilt dataset: redone
    store.append([{**row("dpo", 0, 5.0, {"beta": 0.1}, 1e-4), "dataset": "d2"}])
    assert [r["score"] for r in store.current()] == [5.0]  # the task's latest dataset wins
    # the same cell stored twice (two processes sharing the folder): one row, the first
    store.append([{**row("dpo", 0, 5.5, {"beta": 0.1}, 1e-4), "dataset": "d2"}])
    assert [r["score"] for r in store.current()] == [5.0]


def test_a_fitness_over_two_datasets_keeps_the_seeds_of_both(tmp_path):
    """Seeds 0, 2, 4 train on dataset 0 and 1, 3, 5 on dataset 3 (``dataset_seeds: [0, 3]``): every seed's row
    is current, and a rebuilt dataset supersedes only the rows of the seeds that train on it. (Keeping only
    the dataset written last halved the suite-v3 sweep to seeds 1, 3, 5 until this was fixed.)"""
    from symmpo.train.config import TrainConfig

    slot = TrainConfig(dataset_seeds=(0, 3)).dataset_seed_of
    store = Rows(tmp_path, "sweep", "c1", slot)
    store.append([{**row("dpo", s, float(s), {}, None), "dataset": f"ds{slot(s)}"} for s in range(6)])
    assert sorted(r["seed"] for r in store.current()) == [0, 1, 2, 3, 4, 5]
    assert len(Rows(tmp_path, "sweep", "c1").current()) == 3  # without the slot: one dataset per task
    store.append([{**row("dpo", 1, 10.0, {}, None), "dataset": "ds3-rebuilt"}])
    assert sorted((r["seed"], r["score"]) for r in store.current()) == [
        (0, 0.0),
        (1, 10.0),
        (2, 2.0),
        (4, 4.0),
    ]


def test_choice_per_loss_with_divergence_missing_seeds_and_edges():
    lrs, factors = [1e-4, 3e-4, 1e-3], [0.1, 1.0, 10.0]
    rows = [  # defaults: beta 0.1 for both
        row("dpo[beta=0.01,lr=0.0003]", 0, 5.0, {"beta": 0.01}, 3e-4),
        row("dpo[beta=0.01,lr=0.0003]", 1, 7.0, {"beta": 0.01}, 3e-4),  # best mean at factor 0.1: an edge
        row("dpo[beta=0.1,lr=0.0003]", 0, 9.0, {"beta": 0.1}, 3e-4),
        row("dpo[beta=0.1,lr=0.0003]", 1, -math.inf, {"beta": 0.1}, 3e-4),  # diverged on a seed: never chosen
        row("ipo[beta=0.1,lr=0.0003]", 0, 2.0, {"beta": 0.1}, 3e-4),
        row("ipo[beta=0.1,lr=0.0003]", 1, 2.0, {"beta": 0.1}, 3e-4),
        row("ipo[beta=0.3,lr=0.0003]", 0, 4.0, {"beta": 0.3}, 3e-4),  # best mean, but one seed only
    ]
    col = choose(rows, factors=factors, lrs=lrs)
    assert col.chosen["dpo"] == {"params": {"beta": 0.01}, "lr": 3e-4}
    assert col.chosen["ipo"] == {"params": {"beta": 0.3}, "lr": 3e-4}  # a mean over the seeds it has
    assert col.edges == ["dpo"] and col.best() == "dpo"
    strict = choose(rows, n_seeds=2)  # --tune's rule: a point missing a seed is never chosen
    assert strict.chosen["ipo"] == {"params": {"beta": 0.1}, "lr": 3e-4} and strict.edges == []
    assert strict.label["ipo"] == "ipo[beta=0.1,lr=0.0003]"
    # a tie keeps the first point stored
    tie = choose([row("dpo[a]", 0, 1.0, {"beta": 0.1}, 1e-4), row("dpo[b]", 0, 1.0, {"beta": 1.0}, 1e-4)])
    assert tie.label["dpo"] == "dpo[a]"


def test_sweep_columns_count_the_reference_as_a_candidate_best():
    rows = [
        row("dpo[beta=0.1,lr=0.0001]", 0, 5.0, {"beta": 0.1}, 1e-4),
        row("dpo[beta=0.1,lr=0.001]", 0, 6.0, {"beta": 0.1}, 1e-3),
        {**row("sft", 0, 8.0, {}, None), "objective": "sft"},
    ]
    sweep = sweep_columns(rows, "sft", ["t"])
    assert sweep.best == {"t": "sft"} and sweep.fitness["t"] == {"dpo": 6.0, "sft": 8.0}
    assert sweep.chosen["t"]["dpo"]["lr"] == 1e-3 and sweep.seeds == [0]
    assert "| sft (reference) | | | 8.0 |" in "\n".join(sweep.lines)
    assert sweep.summary("h")["best_baseline"] == {"t": "sft"}


def test_the_baseline_set_is_the_named_table_with_its_scale_parameters():
    assert BASELINES == named.baselines()
    for b in baseline_set():
        assert b.scale == named.scale_param(b.name) and b.defaults == named.defaults(b.name)
        assert b.scale is None or b.scale in b.defaults
    grid = sweep_members(["orpo"], (0.5, 2.0), (1e-4,))
    assert [m.params["lam"] for m in grid] == [named.defaults("orpo")["lam"] * f for f in (0.5, 2.0)]


def test_the_anchor_grid_sweeps_the_nll_weight_and_keeps_the_default_grid_labels():
    """--anchor-factors: rpo and cpo also get their NLL weight at multiples of its default; at 1 a point keeps
    the label (and so the stored rows) of the default grid, and losses without an NLL weight are unchanged."""
    plain = sweep_members(["rpo", "dpo"], (1.0, 3.0), (1e-4,))
    wide = sweep_members(["rpo", "dpo"], (1.0, 3.0), (1e-4,), anchors=(0.3, 1.0))
    assert {m.label for m in plain} < {m.label for m in wide}
    assert len(wide) == len(plain) + 2  # rpo's two scale points at anchor 0.3; dpo has no NLL weight
    extra = [m for m in wide if m.label not in {p.label for p in plain}]
    assert {m.params["rpo_alpha"] for m in extra} == {0.3} and all("rpo_alpha=0.3" in m.label for m in extra)
    assert named.anchor_param("rpo") == "rpo_alpha" and named.anchor_param("dpo") is None
    # the choice flags an NLL weight at an end of its grid as an edge
    rows = [
        row("rpo[beta=0.1,lr=0.0001]", 0, 1.0, {"beta": 0.1, "rpo_alpha": 1.0}, 1e-4),
        row("rpo[beta=0.1,rpo_alpha=0.1,lr=0.0001]", 0, 2.0, {"beta": 0.1, "rpo_alpha": 0.1}, 1e-4),
        row("rpo[beta=0.1,rpo_alpha=0.3,lr=0.0001]", 0, 1.5, {"beta": 0.1, "rpo_alpha": 0.3}, 1e-4),
    ]
    col = choose(rows, anchors=[0.1, 0.3, 1.0])
    assert col.chosen["rpo"]["params"]["rpo_alpha"] == 0.1 and col.edges == ["rpo"]
    assert choose(rows[1:], anchors=[0.05, 0.1, 0.3]).edges == []
    sweep = sweep_columns(rows, "sft", ["t"])
    assert "| rpo | beta=0.1, rpo_alpha=0.1 | 0.0001 | **2.0** |" in sweep.lines


def test_bench_refuses_anchor_factors_without_a_sweep_or_below_zero(tmp_path, capsys):
    from symmpo.cli import main

    out = str(tmp_path / "b")
    assert main(["bench", "--anchor-factors", "0.3", "--out", out]) == 2
    assert "use it with --sweep" in capsys.readouterr().err
    assert main(["bench", "--sweep", "--anchor-factors", "0.3", "-1", "--out", out]) == 2
    assert "must be positive numbers, got -1" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()  # refused before anything is written
