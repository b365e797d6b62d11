"""Pick graded quality levels from training snapshots and ship them as npz + JSON (numpy/torch only).

    python -m symmpo.suite.export_behaviour --env walker2d [--episodes 20]

Candidates are the actor snapshots of every training run of the environment (``results/behaviour_training/
<env>-ppo/actors`` and ``<env>/actors``, or ``--sources``) plus the weights already shipped. Each is measured
acting **greedily in the discretized action space** (mean -> squash -> nearest of K bins) on fixed reset seeds:
first a screen of ``--screen-episodes`` episodes for every candidate, then ``--episodes`` greedy and sampled
episodes (Gaussian sample -> squash -> bin, the way the dataset builder acts, one random stream per episode so
the stored returns are reproducible) for a shortlist.

Levels are distinct snapshots (no epsilon-noise variants of one actor): ``random`` = an untrained actor
(step 0), ``expert`` = the best greedy mean, and ``weak`` / ``medium`` / ``good`` = the snapshots nearest to 25 /
50 / 75 % of the expert's normalized score among those whose greedy mean is at least ``MIN_GAP`` points from
the neighbouring level's with non-overlapping 95 % intervals. If no such set exists the export fails and says
which gap could not be filled.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import DataError, exit_status
from symmpo.suite.behaviour import BehaviourPolicy, assets_dir
from symmpo.suite.evaluator import evaluate
from symmpo.suite.tasks import N_BINS, get_env_spec, normalized_score

BEHAVIOUR_SEED_BASE = 500_000  # reset seeds of the measured episodes (disjoint from eval and dataset seeds)
EPISODE_RNG_SEED = 12345
LEVEL_TARGETS = {"good": 0.75, "medium": 0.5, "weak": 0.25}
LEVELS = ("random", "weak", "medium", "good", "expert")
MIN_GAP = 5.0  # normalized points between neighbouring levels
Z95 = 1.96


@dataclass
class Candidate:
    """One snapshot: where it came from, its weights and its measurements."""

    source: str
    algo: str  # "ppo" / "sac", with the training run's folder when it is not the default one ("ppo-dense")
    step: int
    arrays: dict[str, np.ndarray]
    command: str = ""
    greedy: np.ndarray | None = None  # per-episode returns
    sampled: np.ndarray | None = None
    screen: float = float("nan")
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.algo}_step_{self.step:07d}"

    def policy(self, env: str, level: str = "candidate") -> BehaviourPolicy:
        return BehaviourPolicy.from_arrays(env, level, self.arrays)


def episode_policy_fn(policies: list[BehaviourPolicy], n_episodes: int, greedy: bool = False):
    """policy_fn for the evaluator: policy p, episode e draws from its own generator ([rng seed, e])."""
    rngs = [[np.random.default_rng([EPISODE_RNG_SEED, e]) for e in range(n_episodes)] for _ in policies]

    def fn(obs: np.ndarray) -> np.ndarray:
        out = np.zeros((len(policies), n_episodes, policies[0].act_dim), dtype=np.int64)
        for p, pol in enumerate(policies):
            if greedy:  # no random stream is consumed: one batched call per policy
                out[p] = pol.act(obs[p])
                continue
            for e in range(n_episodes):
                out[p, e] = pol.act_rng(obs[p, e : e + 1], rngs[p][e], greedy=False)[0]
        return out

    return fn


def measure(
    env: str, policies: list[BehaviourPolicy], n_episodes: int, greedy: bool = False, workers: int = 1
) -> np.ndarray:
    """Per-episode returns [P, n_episodes] on the behaviour seeds."""
    seeds = np.arange(BEHAVIOUR_SEED_BASE, BEHAVIOUR_SEED_BASE + n_episodes)
    fn = episode_policy_fn(policies, n_episodes, greedy)
    return evaluate(env, fn, len(policies), seeds, workers=workers if greedy else 1).returns


def summary(env: str, returns: np.ndarray, mode: str) -> dict[str, Any]:
    norm = normalized_score(env, returns)
    n = len(returns)
    return {
        "mode": mode,
        "episodes": n,
        "reset_seeds": list(range(BEHAVIOUR_SEED_BASE, BEHAVIOUR_SEED_BASE + n)),
        "episode_rng": f"numpy default_rng([{EPISODE_RNG_SEED}, episode_index])"
        if mode == "sampled"
        else None,
        "episode_returns": [round(float(r), 4) for r in returns],
        "mean_return": round(float(returns.mean()), 2),
        "std_return": round(float(returns.std()), 2),
        "normalized_mean": round(float(norm.mean()), 2),
        "normalized_std": round(float(norm.std()), 2),
        "normalized_se": round(float(norm.std(ddof=1) / np.sqrt(n)), 2) if n > 1 else None,
    }


def _mean_se(env: str, returns: np.ndarray) -> tuple[float, float]:
    norm = normalized_score(env, returns)
    return float(norm.mean()), float(norm.std(ddof=1) / np.sqrt(len(norm)))


def separated(env: str, hi: Candidate, lo: Candidate) -> bool:
    """Greedy means at least MIN_GAP apart and their 95 % intervals disjoint."""
    mh, sh = _mean_se(env, hi.greedy)
    ml, sl = _mean_se(env, lo.greedy)
    return mh - ml >= MIN_GAP and (mh - Z95 * sh) > (ml + Z95 * sl)


def default_sources(env: str, train_dir: Path) -> list[Path]:
    return [d for d in (train_dir / f"{env}-ppo" / "actors", train_dir / env / "actors") if d.is_dir()]


def load_candidates(env: str, sources: list[Path]) -> list[Candidate]:
    """Every snapshot in ``sources`` plus the weights shipped now (deduplicated by algorithm and step)."""
    found: dict[str, Candidate] = {}
    for src in sources:
        for path in sorted(src.glob("step_*.npz")):
            step = int(re.search(r"step_(\d+)", path.name).group(1))
            meta_path = path.with_suffix(".json")
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            algo = "ppo" if "PPO" in meta.get("algorithm", "") else "sac"
            run = src.parent.parent.name  # results/behaviour_training[/<run>]/<env>[-ppo]/actors
            if run != "behaviour_training":
                algo = f"{algo}-{run}"
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
            c = Candidate(str(src), algo, step, arrays, meta.get("command", ""), meta=meta)
            found[c.name] = c
    shipped = assets_dir() / env
    for path in sorted(shipped.glob("*_step_*.npz")):
        algo, step = path.name.split("_step_")[0], int(re.search(r"step_(\d+)", path.name).group(1))
        name = f"{algo}_step_{step:07d}"
        if name in found:
            continue
        info = next(
            (json.loads(j.read_text()) for j in shipped.glob("*.json") if _weights_of(j) == path.name), {}
        )
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        found[name] = Candidate(
            "shipped",
            algo,
            step,
            arrays,
            info.get("training_command", ""),
            meta={"algorithm": info.get("algorithm")},
        )
    return list(found.values())


def _weights_of(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("weights")
    except (json.JSONDecodeError, AttributeError):
        return None


def choose_levels(env: str, cands: list[Candidate]) -> dict[str, Candidate]:
    """The five levels (module docstring); DataError naming the gap that cannot be filled."""
    scored = [c for c in cands if c.greedy is not None]
    mean = {id(c): _mean_se(env, c.greedy)[0] for c in scored}
    expert = max(scored, key=lambda c: (mean[id(c)], c.step))
    randoms = [c for c in scored if c.step == 0]
    if not randoms:
        raise DataError(f"{env}: no untrained (step 0) snapshot to serve as the random level")
    random = min(randoms, key=lambda c: mean[id(c)])
    chosen = {"expert": expert}
    above = expert
    top = mean[id(expert)]
    for name, frac in LEVEL_TARGETS.items():
        ok = [
            c
            for c in scored
            if c is not random
            and c not in chosen.values()
            and separated(env, above, c)
            and separated(env, c, random)
        ]
        if not ok:
            raise DataError(
                f"{env}: no snapshot for level {name!r} at least {MIN_GAP} points below "
                f"{above.name} ({mean[id(above)]:.1f}) with disjoint 95 % intervals and above random"
            )
        pick = min(ok, key=lambda c: abs(mean[id(c)] - frac * top))
        chosen[name] = pick
        above = pick
    chosen["random"] = random
    return {name: chosen[name] for name in LEVELS}


def export(
    env: str, sources: list[Path], n_episodes: int, screen_episodes: int, shortlist: int, workers: int
) -> list[dict]:
    spec = get_env_spec(env)
    cands = load_candidates(env, sources)
    if not cands:
        raise DataError(
            f"{env}: no snapshots found in {', '.join(map(str, sources)) or 'any source'}: train first"
        )
    pols = [c.policy(env) for c in cands]
    print(f"{env}: screening {len(cands)} snapshots x {screen_episodes} greedy episodes", flush=True)
    screen = measure(env, pols, screen_episodes, greedy=True, workers=workers)
    for c, r in zip(cands, screen, strict=True):
        c.screen = float(normalized_score(env, r).mean())
    best = max(c.screen for c in cands)
    keep: set[int] = {max(range(len(cands)), key=lambda i: cands[i].screen)}
    keep |= {i for i, c in enumerate(cands) if c.step == 0}
    order = sorted(range(len(cands)), key=lambda i: -cands[i].screen)
    keep |= set(order[:shortlist])
    for frac in (*LEVEL_TARGETS.values(), 0.9, 0.6, 0.4, 0.1):
        keep |= set(sorted(range(len(cands)), key=lambda i: abs(cands[i].screen - frac * best))[:shortlist])
    short = [cands[i] for i in sorted(keep)]
    print(f"{env}: measuring {len(short)} shortlisted snapshots x {n_episodes} greedy episodes", flush=True)
    greedy = measure(env, [c.policy(env) for c in short], n_episodes, greedy=True, workers=workers)
    for c, r in zip(short, greedy, strict=True):
        c.greedy = r
    for c in sorted(short, key=lambda c: -_mean_se(env, c.greedy)[0]):
        m, se = _mean_se(env, c.greedy)
        print(f"  {c.name:20s} ({c.source}): screen {c.screen:6.1f}  greedy {m:6.1f} ± {se:4.1f}")
    chosen = choose_levels(env, short)
    levels = list(chosen)
    print(f"{env}: measuring the {len(levels)} levels x {n_episodes} sampled episodes", flush=True)
    sampled = measure(env, [chosen[n].policy(env, n) for n in levels], n_episodes, greedy=False)

    out = assets_dir() / env
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    infos = []
    for k, name in enumerate(levels):
        c = chosen[name]
        weights = f"{c.name}.npz"
        if not (out / weights).exists():
            np.savez(out / weights, **c.arrays)
        pol = c.policy(env, name)
        ppo = c.algo.startswith("ppo")
        info = {
            "env": env,
            "env_id": spec.env_id,
            "level": name,
            "rank": k,
            "weights": weights,
            "architecture": {
                "type": "mlp -> Gaussian, actions clipped (SB3 PPO actor)"
                if ppo
                else "mlp -> tanh-squashed Gaussian (SB3 SAC actor)",
                "hidden": [int(b.shape[0]) for _, b in pol.hidden],
                "activation": pol.activation,
                "log_std": "state-independent vector" if ppo else "head, clipped to [-20, 2]",
            },
            "observation_normalization": "(obs - obs_mean) / sqrt(obs_var + 1e-8), clipped to +-obs_clip "
            "(statistics frozen at the snapshot)"
            if pol.obs_mean is not None
            else "none (raw Gymnasium observations)",
            "action_mapping": f"a = {'clip' if ppo else 'tanh'}(mu + std * N(0, I)) (greedy: "
            f"{'clip' if ppo else 'tanh'}(mu)); bin = round((a + 1) / 2 * (K - 1))",
            "n_bins": N_BINS,
            "epsilon": 0.0,
            "algorithm": c.meta.get("algorithm")
            or ("PPO (stable-baselines3)" if ppo else "SAC (stable-baselines3)"),
            "training_steps": c.step,
            "training_command": c.command,
            "export_command": f"python -m symmpo.suite.export_behaviour --env {env} --episodes {n_episodes}",
            "eval": summary(env, sampled[k], "sampled"),
            "eval_greedy": summary(env, c.greedy, "greedy"),
        }
        (out / f"{name}.json").write_text(json.dumps(info, indent=1) + "\n")
        infos.append(info)
    (out / "index.json").write_text(json.dumps({"env": env, "levels": levels}, indent=1) + "\n")
    for info in infos:
        ev, eg = info["eval"], info["eval_greedy"]
        print(
            f"{env:12s} {info['level']:7s} {info['weights']:24s} greedy {eg['normalized_mean']:6.1f} ± "
            f"{eg['normalized_se']:4.1f}  sampled {ev['normalized_mean']:6.1f} ± {ev['normalized_se']:4.1f}"
        )
    return infos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", nargs="+", required=True)
    parser.add_argument("--episodes", type=int, default=20, help="greedy and sampled episodes per level")
    parser.add_argument("--screen-episodes", type=int, default=5)
    parser.add_argument("--shortlist", type=int, default=3, help="snapshots kept per target in the screen")
    parser.add_argument(
        "--sources", nargs="*", help="actor snapshot folders (default: the env's training runs)"
    )
    parser.add_argument("--train-dir", default="results/behaviour_training")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)

    def work() -> None:
        for env in args.env:
            sources = (
                [Path(s) for s in args.sources]
                if args.sources
                else default_sources(env, Path(args.train_dir))
            )
            export(env, sources, args.episodes, args.screen_episodes, args.shortlist, args.workers)

    return exit_status("export_behaviour", work)


if __name__ == "__main__":
    sys.exit(main())
