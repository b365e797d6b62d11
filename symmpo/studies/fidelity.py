"""Fitness fidelity: does the search's cheap fitness rank objectives the way a held-out evaluation does?

A search is only as good as its fitness. Here a fixed, diverse set of objectives — the named baselines, the
SFT-only reference and grammar samples — is scored twice per training setting (PO steps, learning rate):

* **fitness**: the search's own measurement, on the fitness split (dataset seed 0, fitness training seeds
  0..S-1, evaluation resets from 0); it is run once with the largest seed count and episode count of the sweep
  and every cheaper variant (fewer seeds, fewer episodes) is read off the same runs, since training does not
  depend on the number of evaluation episodes and resets 0..E-1 are a prefix of 0..E'-1; with
  ``fitness_datasets`` D > 1 the same runs are repeated on D − 1 more fitness-side datasets
  (``protocol.FITNESS_EXTRA_DATASET_SEEDS``) and the variants average over the first d ≤ D of them, because a
  loss's score depends on the draw of the preference data as much as on its training seed;
* **held out**: the protocol of ``symmpo.protocol`` (fresh dataset seed, training seeds from 1000, resets from
  50,000), more seeds and episodes: what a claim about a discovered loss is measured with.

Fidelity is Spearman's ρ between the two score vectors, with a bootstrap 95 % CI over objectives. Each
variant's cost is the core-seconds one candidate costs (training time per seed + evaluation time per episode,
both measured, divided by the number of objectives trained together), so fidelity can be plotted against cost.
How far each objective moved the policy from π_ref is measured on the held-out dataset's states
(``symmpo.train.shift``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from symmpo import protocol, stats
from symmpo.errors import SymmpoError
from symmpo.files import dumps
from symmpo.studies.mujoco import fitness_config, heldout_config, split
from symmpo.train.config import TrainConfig

SFT = "sft"


@dataclass(frozen=True)
class Setting:
    """The training knobs that change what a candidate's score means (and its cost)."""

    steps: int
    lr: float

    @property
    def label(self) -> str:
        return f"steps={self.steps},lr={self.lr:g}"


def objective_set(grammar: str, n_samples: int, seed: int = 0) -> list[tuple[str, Any]]:
    """The default baselines (``bench.BASELINES`` at their defaults, plain ones included) and ``n_samples``
    distinct, checker-valid grammar samples."""
    from symmpo.objective import Objective
    from symmpo.search.space import ObjectiveSpace
    from symmpo.studies.members import BASELINES

    out: list[tuple[str, Any]] = [(name, Objective.named(name)) for name in BASELINES]
    space = ObjectiveSpace.load(grammar)
    rng = np.random.default_rng([seed, 7])
    seen = {o.canonical_key() for _, o in out}
    tries = 0
    while len(out) < len(BASELINES) + n_samples:
        tries += 1
        if tries > 100 * max(n_samples, 1):
            raise SymmpoError(f"could not draw {n_samples} distinct valid samples from {grammar}")
        obj = space.sample(rng)
        if space.check(obj) is not None or obj.canonical_key() in seen:
            continue
        seen.add(obj.canonical_key())
        out.append(
            (
                f"sample{len(out) - len(BASELINES) + 1:02d}",
                obj.renamed(f"sample{len(out) - len(BASELINES) + 1:02d}"),
            )
        )
    return out


def run_split(
    objectives: Sequence[tuple[str, Any]],
    task: str,
    config: TrainConfig,
    seeds: Sequence[int],
    states: np.ndarray | None,
    cache_dir: str | None = None,
    log=print,
) -> dict[str, Any]:
    """Train the objectives together per seed and evaluate them (and SFT) on ``config``'s resets.

    Returns per-seed, per-episode normalized scores ``{label: [[...E...] per seed]}``, the measured training
    and evaluation seconds per seed, and (with ``states``) the policy shift of each objective per seed.
    """
    from symmpo.train import fitness
    from symmpo.train.shift import policy_shift
    from symmpo.train.trainer import train_population

    labels = [lab for lab, _ in objectives]
    episodes: dict[str, list[list[float]]] = {lab: [] for lab in [*labels, SFT]}
    shift: dict[str, list[dict[str, float]]] = {lab: [] for lab in labels}
    train_s, eval_s, cpu_s = [], [], []
    evaluator = fitness.make_evaluator(task, config)
    for seed in seeds:
        t0 = time.perf_counter()
        dataset, reference = fitness.prepare(task, seed, config, cache_dir)
        c0 = time.process_time()  # after the (cached, once per run) dataset and reference
        results, policy = train_population(
            [o for _, o in objectives],
            dataset,
            reference,
            config,
            seed,
            evaluator=evaluator,
            names=labels,
            return_policy=True,
        )
        t1 = time.perf_counter()
        sft = fitness.evaluate_reference(reference, evaluator)
        sft_s = time.perf_counter() - t1
        cpu_s.append(time.process_time() - c0)
        for lab, r in zip(labels, results, strict=True):
            episodes[lab].append(list(r.normalized) if r.alive else [float("-inf")] * config.eval_episodes)
        episodes[SFT].append(list(sft.normalized))
        if states is not None:
            for lab, s in zip(labels, policy_shift(policy, reference.policy, states), strict=True):
                shift[lab].append(s)
        train_s.append(results[0].train_seconds)
        eval_s.append(results[0].eval_seconds + sft_s)
        log(
            f"  {task} seed {seed}: train {results[0].train_seconds:.0f} s, eval {eval_s[-1]:.0f} s "
            f"(total {time.perf_counter() - t0:.0f} s incl. data/reference)"
        )
    return {
        "episodes": episodes,
        "train_seconds": train_s,
        "eval_seconds": eval_s,
        "cpu_seconds": cpu_s,  # process CPU time of training + evaluation per seed: immune to other jobs' load
        "shift": shift,
        "n_trained": len(labels),
    }


def _score(eps: list[list[float]], n_seeds: int, n_episodes: int) -> float:
    """Mean over the first ``n_seeds`` seeds of the mean of their first ``n_episodes`` episodes."""
    vals = [float(np.mean(stats.finite_scores(e[:n_episodes]))) for e in eps[:n_seeds]]
    return float(np.mean(vals))


def variant_scores(
    split: dict[str, Any], n_seeds: int, n_episodes: int, full_episodes: int
) -> dict[str, Any]:
    """Scores and core-seconds per candidate of a cheaper variant read off a larger fitness run.

    Cost is wall-clock training time per seed plus evaluation time scaled to ``n_episodes``; when the run
    recorded process CPU time, the wall times are rescaled to it (so a loaded machine does not inflate them).
    """
    scores = {lab: _score(eps, n_seeds, n_episodes) for lab, eps in split["episodes"].items()}
    per_seed = [
        t + e * n_episodes / full_episodes
        for t, e in zip(split["train_seconds"][:n_seeds], split["eval_seconds"][:n_seeds], strict=True)
    ]
    if split.get("cpu_seconds"):
        wall = [t + e for t, e in zip(split["train_seconds"], split["eval_seconds"], strict=True)]
        per_seed = [p * c / w for p, c, w in zip(per_seed, split["cpu_seconds"], wall, strict=False)]
    cost = float(sum(per_seed)) / (split["n_trained"] + 1)  # + the SFT evaluation
    return {"scores": scores, "core_seconds_per_candidate": cost}


def over_datasets(
    splits: Sequence[dict[str, Any]], n_seeds: int, n_episodes: int, full_episodes: int
) -> dict[str, Any]:
    """A variant averaged over fitness datasets: the mean of each dataset's scores, the sum of their costs."""
    vs = [variant_scores(s, n_seeds, n_episodes, full_episodes) for s in splits]
    labels = vs[0]["scores"]
    return {
        "scores": {lab: float(np.mean([v["scores"][lab] for v in vs])) for lab in labels},
        "core_seconds_per_candidate": float(sum(v["core_seconds_per_candidate"] for v in vs)),
    }


def fidelity_study(
    task: str,
    settings: Sequence[Setting],
    objectives: Sequence[tuple[str, Any]],
    base: TrainConfig,
    fitness_seeds: int,
    fitness_episodes: Sequence[int],
    heldout_seeds: Sequence[int],
    heldout_episodes: int,
    out_dir: Path,
    cache_dir: str | None = None,
    log=print,
    fitness_datasets: int = 1,
) -> dict[str, Any]:
    """Run (or resume from ``raw.json``) every setting's fitness and held-out splits; write the report files."""
    from symmpo.train import fitness

    out_dir.mkdir(parents=True, exist_ok=True)
    raw_path = out_dir / "raw.json"
    raw: dict[str, Any] = json.loads(raw_path.read_text()) if raw_path.exists() else {}
    fit_seeds = list(range(fitness_seeds))
    e_max = max(fitness_episodes)
    held_cfg = dataclasses.replace(heldout_config(base), eval_episodes=heldout_episodes)
    extra = extra_dataset_seeds(fitness_datasets)
    for ds in (None, *extra):
        fit = fitness_config(dataclasses.replace(base, eval_episodes=e_max))
        fit = fit if ds is None else dataclasses.replace(fit, dataset_seed=ds)
        protocol.check_heldout(
            split(fit, fit_seeds), split(held_cfg, heldout_seeds), "the fidelity study's held-out side"
        )
    states = None
    for setting in settings:
        key = setting.label
        done = raw.get(key, {})
        if {"fitness", "heldout"} <= set(done) and all(
            str(d) in done.get("fitness_datasets", {}) for d in extra
        ):
            continue
        fit_cfg = fitness_config(
            dataclasses.replace(base, steps=setting.steps, lr=setting.lr, eval_episodes=e_max)
        )
        hcfg = dataclasses.replace(held_cfg, steps=setting.steps, lr=setting.lr)
        if states is None:
            from symmpo.train.shift import held_out_states

            states = held_out_states(fitness.load_dataset(task, hcfg, heldout_seeds[0], cache_dir))
        entry = raw.get(key, {})
        if "fitness" not in entry:
            log(f"{task} {key}: fitness split, seeds {fit_seeds}, {e_max} episodes")
            entry["fitness"] = run_split(objectives, task, fit_cfg, fit_seeds, states, cache_dir, log)
            raw[key] = entry
            raw_path.write_text(dumps(raw))
        for ds in extra:
            more = entry.setdefault("fitness_datasets", {})
            if str(ds) in more:
                continue
            log(f"{task} {key}: fitness split on dataset seed {ds}, seeds {fit_seeds}, {e_max} episodes")
            ds_cfg = dataclasses.replace(fit_cfg, dataset_seed=ds)
            more[str(ds)] = run_split(objectives, task, ds_cfg, fit_seeds, None, cache_dir, log)
            raw[key] = entry
            raw_path.write_text(dumps(raw))
        if "heldout" not in entry:
            log(f"{task} {key}: held-out split, seeds {list(heldout_seeds)}, {heldout_episodes} episodes")
            entry["heldout"] = run_split(objectives, task, hcfg, heldout_seeds, None, cache_dir, log)
            raw[key] = entry
            raw_path.write_text(dumps(raw))
    return report(
        task,
        settings,
        raw,
        fitness_seeds,
        fitness_episodes,
        heldout_seeds,
        heldout_episodes,
        out_dir,
        fitness_datasets,
    )


def extra_dataset_seeds(fitness_datasets: int) -> tuple[int, ...]:
    """The fitness-side dataset seeds besides ``FITNESS_DATASET_SEED`` that ``fitness_datasets`` asks for."""
    more = protocol.FITNESS_EXTRA_DATASET_SEEDS
    if not 1 <= fitness_datasets <= len(more) + 1:
        raise SymmpoError(f"--fitness-datasets must be 1..{len(more) + 1}, got {fitness_datasets}")
    return more[: fitness_datasets - 1]


def search_fidelity(fitness: dict[str, float], heldout: dict[str, float]) -> dict[str, Any]:
    """What matters to a search, beyond the rank correlation over all objectives: the correlation among the top
    quarter by fitness (where selection happens), and how far the fitness winner regresses from its fitness
    score to its held-out score, also measured against the held-out best (how much selection on fitness loses)."""
    labels = sorted(fitness, key=lambda lab: fitness[lab], reverse=True)
    top = labels[: max(3, len(labels) // 4)]
    rho_top = stats.spearman_ci([fitness[lab] for lab in top], [heldout[lab] for lab in top])
    winner = labels[0]
    best_held = max(heldout.values())
    return {
        "top_quarter": {"spearman": rho_top["spearman"], "ci": rho_top["ci"], "n_objectives": len(top)},
        "winner": {
            "label": winner,
            "fitness": fitness[winner],
            "heldout": heldout[winner],
            "regression": fitness[winner] - heldout[winner],
            "heldout_rank": 1 + sorted(heldout.values(), reverse=True).index(heldout[winner]),
            "shortfall_to_heldout_best": best_held - heldout[winner],
        },
    }


def report(
    task: str,
    settings: Sequence[Setting],
    raw: dict[str, Any],
    fitness_seeds: int,
    fitness_episodes: Sequence[int],
    heldout_seeds: Sequence[int],
    heldout_episodes: int,
    out_dir: Path,
    fitness_datasets: int = 1,
) -> dict[str, Any]:
    """fidelity.json (every variant: spearman, ci, the top quarter's spearman, the fitness winner's regression,
    cost, shift) and the two plots."""
    variants = []
    for setting in settings:
        entry = raw[setting.label]
        held = entry["heldout"]
        h_scores = {
            lab: _score(eps, len(heldout_seeds), heldout_episodes) for lab, eps in held["episodes"].items()
        }
        labels = sorted(h_scores)
        shift = {
            lab: {k: float(np.mean([s[k] for s in v])) for k in v[0]}
            for lab, v in entry["fitness"]["shift"].items()
            if v
        }
        splits = [
            entry["fitness"],
            *(entry["fitness_datasets"][str(d)] for d in extra_dataset_seeds(fitness_datasets)),
        ]
        for n_data, n_seeds, n_eps in itertools.product(
            range(1, fitness_datasets + 1), range(1, fitness_seeds + 1), sorted(fitness_episodes)
        ):
            v = over_datasets(splits[:n_data], n_seeds, n_eps, max(fitness_episodes))
            rho = stats.spearman_ci([v["scores"][lab] for lab in labels], [h_scores[lab] for lab in labels])
            search = search_fidelity(v["scores"], h_scores)
            variants.append(
                {
                    "setting": setting.label,
                    "steps": setting.steps,
                    "lr": setting.lr,
                    "fitness_datasets": n_data,
                    "fitness_seeds": n_seeds,
                    "eval_episodes": n_eps,
                    "spearman": rho["spearman"],
                    "ci": rho["ci"],
                    "n_objectives": rho["n"],
                    "core_seconds_per_candidate": v["core_seconds_per_candidate"],
                    **search,
                    "fitness_scores": v["scores"],
                    "heldout_scores": h_scores,
                    "shift": shift,
                }
            )
    result = {
        "task": task,
        "config": {
            "fitness_split": "dataset seed 0, training seeds 0..S-1, evaluation resets 0..E-1"
            + (
                f"; variants with fitness_datasets d > 1 average over dataset seeds "
                f"{[protocol.FITNESS_DATASET_SEED, *extra_dataset_seeds(fitness_datasets)]}[:d]"
                if fitness_datasets > 1
                else ""
            ),
            "heldout_split": f"dataset seed {protocol.HELDOUT_DATASET_SEED}, training seeds {list(heldout_seeds)}, "
            f"evaluation resets {protocol.HELDOUT_RESET_OFFSET}..+{heldout_episodes}",
        },
        "variants": variants,
    }
    (out_dir / "fidelity.json").write_text(dumps(result, indent=1) + "\n")
    plot(result, out_dir)
    return result


def plot(result: dict[str, Any], out_dir: Path) -> None:
    """fidelity_vs_cost.png (ρ with CI against core-seconds per candidate) and scatter_<best>.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vs = result["variants"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for setting in dict.fromkeys(v["setting"] for v in vs):
        pts = sorted(
            (v for v in vs if v["setting"] == setting), key=lambda v: v["core_seconds_per_candidate"]
        )
        xs = [v["core_seconds_per_candidate"] for v in pts]
        ys = [v["spearman"] for v in pts]
        lo = [v["spearman"] - v["ci"][0] for v in pts]
        hi = [v["ci"][1] - v["spearman"] for v in pts]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=2, label=setting, lw=1)
        for v in pts:
            ax.annotate(
                f"{v.get('fitness_datasets', 1)}d×{v['fitness_seeds']}s×{v['eval_episodes']}e"
                if v.get("fitness_datasets", 1) > 1
                else f"{v['fitness_seeds']}s×{v['eval_episodes']}e",
                (v["core_seconds_per_candidate"], v["spearman"]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.axhline(0.7, color="grey", ls=":", lw=1)
    ax.axvline(2 * 3600 / 500, color="grey", ls="--", lw=1)
    ax.set(
        xlabel="core-seconds per candidate (dashed: 500 candidates/hour on 2 cores)",
        ylabel="Spearman ρ, fitness vs held out (95% CI)",
        title=f"fitness fidelity on {result['task']}",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "fidelity_vs_cost.png", dpi=120)
    plt.close(fig)

    best = max(vs, key=lambda v: v["spearman"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    labels = sorted(best["heldout_scores"])
    xs = [best["fitness_scores"][lab] for lab in labels]
    ys = [best["heldout_scores"][lab] for lab in labels]
    ax.scatter(xs, ys, s=14)
    for lab, x, y in zip(labels, xs, ys, strict=True):
        if not lab.startswith("sample"):
            ax.annotate(lab, (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.set(
        xlabel=f"fitness ({best['fitness_seeds']} seed(s) × {best['eval_episodes']} episodes)",
        ylabel="held-out score",
        title=f"{result['task']} {best['setting']}: ρ = {best['spearman']:.2f}",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "scatter.png", dpi=120)
    plt.close(fig)
