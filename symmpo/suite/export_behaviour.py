"""Pick graded quality levels from the training snapshots and ship them as npz + JSON (numpy/torch only).

    python -m symmpo.suite.export_behaviour --env hopper [--episodes 10]

Candidates are every actor snapshot of ``results/behaviour_training/<env>/actors`` plus the best snapshot with
epsilon-random steps (epsilon in 0.1, 0.25, 0.5). Each is measured acting in the *discretized* action space, the
way the dataset builder acts (Gaussian sample -> tanh -> nearest of K bins), on fixed reset seeds with one random
stream per episode, so the stored per-episode returns are reproducible. Levels: ``random`` = the untrained actor
(step 0); ``expert`` = the best candidate; ``weak`` / ``medium`` / ``good`` = the candidates whose normalized score
is closest to 25 / 50 / 75 % of the expert's.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np

from symmpo.suite.behaviour import BehaviourPolicy, assets_dir
from symmpo.suite.evaluator import evaluate
from symmpo.suite.tasks import N_BINS, get_env_spec, normalized_score

BEHAVIOUR_SEED_BASE = 500_000  # reset seeds of the measured episodes (disjoint from eval and dataset seeds)
EPISODE_RNG_SEED = 12345
LEVEL_TARGETS = {"weak": 0.25, "medium": 0.5, "good": 0.75}


def episode_policy_fn(policies: list[BehaviourPolicy], n_episodes: int, greedy: bool = False):
    """policy_fn for the evaluator: policy p, episode e draws from its own generator ([rng seed, e])."""
    rngs = [[np.random.default_rng([EPISODE_RNG_SEED, e]) for e in range(n_episodes)] for _ in policies]

    def fn(obs: np.ndarray) -> np.ndarray:
        out = np.zeros((len(policies), n_episodes, policies[0].act_dim), dtype=np.int64)
        for p, pol in enumerate(policies):
            for e in range(n_episodes):
                out[p, e] = pol.act_rng(obs[p, e : e + 1], rngs[p][e], greedy=greedy)[0]
        return out

    return fn


def measure(env: str, policies: list[BehaviourPolicy], n_episodes: int, greedy: bool = False) -> np.ndarray:
    """Per-episode returns [P, n_episodes] on the behaviour seeds."""
    seeds = np.arange(BEHAVIOUR_SEED_BASE, BEHAVIOUR_SEED_BASE + n_episodes)
    return evaluate(env, episode_policy_fn(policies, n_episodes, greedy), len(policies), seeds).returns


def _summary(env: str, returns: np.ndarray, mode: str) -> dict:
    norm = normalized_score(env, returns)
    return {
        "mode": mode,
        "reset_seeds": list(range(BEHAVIOUR_SEED_BASE, BEHAVIOUR_SEED_BASE + len(returns))),
        "episode_rng": f"numpy default_rng([{EPISODE_RNG_SEED}, episode_index])",
        "episode_returns": [round(float(r), 4) for r in returns],
        "mean_return": round(float(returns.mean()), 2),
        "std_return": round(float(returns.std()), 2),
        "normalized_mean": round(float(norm.mean()), 2),
        "normalized_std": round(float(norm.std()), 2),
    }


def export(env: str, train_dir: Path, n_episodes: int) -> list[dict]:
    spec = get_env_spec(env)
    snaps = sorted((train_dir / env / "actors").glob("step_*.npz"))
    if not snaps:
        raise SystemExit(f"no snapshots under {train_dir / env / 'actors'}: train first")
    steps = [int(re.search(r"step_(\d+)", s.name).group(1)) for s in snaps]
    arrays = {s: {k: v.astype(np.float32) for k, v in np.load(s).items()} for s in snaps}
    cands = [(s, st, 0.0) for s, st in zip(snaps, steps, strict=True)]
    pols = [BehaviourPolicy.from_arrays(env, s.stem, arrays[s]) for s in snaps]
    print(f"{env}: measuring {len(pols)} snapshots x {n_episodes} episodes", flush=True)
    ret = measure(env, pols, n_episodes)
    best = int(np.argmax(ret.mean(axis=1)))
    for eps in (0.1, 0.25, 0.5):
        cands.append((snaps[best], steps[best], eps))
    eps_pols = [
        BehaviourPolicy.from_arrays(env, "eps", arrays[snaps[best]], epsilon=e) for _, _, e in cands[-3:]
    ]
    ret = np.concatenate([ret, measure(env, eps_pols, n_episodes)])
    score = normalized_score(env, ret.mean(axis=1))
    for (_, st, e), sc in zip(cands, score, strict=True):
        print(f"  step {st:>7d} eps {e:.2f}: normalized {sc:6.1f}")

    chosen = {"random": 0, "expert": int(np.argmax(score))}
    for name, frac in LEVEL_TARGETS.items():
        free = [i for i in range(len(cands)) if i not in chosen.values()]
        chosen[name] = min(free, key=lambda i: abs(score[i] - frac * score[chosen["expert"]]))
    order = sorted(chosen, key=lambda n: score[chosen[n]])

    out = assets_dir() / env
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    greedy_pols = [
        BehaviourPolicy.from_arrays(env, n, arrays[cands[chosen[n]][0]], epsilon=cands[chosen[n]][2])
        for n in order
    ]
    greedy_ret = measure(env, greedy_pols, n_episodes, greedy=True)
    train_meta = json.loads(snaps[-1].with_suffix(".json").read_text())
    infos = []
    for k, name in enumerate(order):
        snap, step, eps = cands[chosen[name]]
        weights = f"sac_step_{step:07d}.npz"
        if not (out / weights).exists():
            np.savez(out / weights, **arrays[snap])
        hidden = [int(arrays[snap][f"hidden_{i}_bias"].shape[0]) for i in range(len(arrays[snap]) // 2 - 2)]
        info = {
            "env": env,
            "env_id": spec.env_id,
            "level": name,
            "rank": k,
            "weights": weights,
            "architecture": {
                "type": "mlp -> tanh-squashed Gaussian (SB3 SAC actor)",
                "hidden": hidden,
                "activation": "relu",
                "heads": ["mu", "log_std"],
                "log_std_clip": [-20.0, 2.0],
            },
            "observation_normalization": "none (raw Gymnasium observations)",
            "action_mapping": "a = tanh(mu + std * N(0, I)) (greedy: tanh(mu)); bin = round((a + 1) / 2 * (K - 1)); "
            "with probability epsilon per step, all bins uniform in [0, K)",
            "n_bins": N_BINS,
            "epsilon": eps,
            "algorithm": train_meta["algorithm"],
            "training_steps": step,
            "training_command": train_meta["command"],
            "export_command": f"python -m symmpo.suite.export_behaviour --env {env} --episodes {n_episodes}",
            "eval": _summary(env, ret[chosen[name]], "sampled"),
            "eval_greedy": _summary(env, greedy_ret[k], "greedy"),
        }
        (out / f"{name}.json").write_text(json.dumps(info, indent=1) + "\n")
        infos.append(info)
    (out / "index.json").write_text(json.dumps({"env": env, "levels": order}, indent=1) + "\n")
    for info in infos:
        ev, eg = info["eval"], info["eval_greedy"]
        print(
            f"{env:12s} {info['level']:7s} step {info['training_steps']:>7d} eps {info['epsilon']:.2f} "
            f"sampled {ev['mean_return']:8.1f} ± {ev['std_return']:6.1f} (norm {ev['normalized_mean']:5.1f})  "
            f"greedy {eg['mean_return']:8.1f} (norm {eg['normalized_mean']:5.1f})"
        )
    return infos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", nargs="+", required=True)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--train-dir", default="results/behaviour_training")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for env in args.env:
        export(env, Path(args.train_dir), args.episodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
