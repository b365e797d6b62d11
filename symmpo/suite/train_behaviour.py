"""Train graded behaviour policies with stable-baselines3 (PPO or SAC) through the discretized action space.

Why two algorithms: on one core SB3's SAC runs at ~70 env steps/s here, PPO over 16 vectorized envs at
~3,000 (measured, docs/suite.md). PPO's wall-clock advantage (45x per step) outweighs its lower sample
efficiency on Hopper and Walker2d; SAC stays available (and resumable) for HalfCheetah, where PPO is known to
plateau lower. The environment snaps every action to the K-bin grid during training, so the learned policy is
good *in the discrete action space the datasets use*.

Training (background, resumable, stops cleanly after ``--minutes``)::

    python -m symmpo.suite.train_behaviour --env walker2d --algo ppo --steps 3000000 --minutes 30

writes under ``results/behaviour_training/<env>/`` (``<env>-ppo/`` for PPO): ``actors/step_<n>.npz``
(library-free actor weights, every ``--checkpoint-every`` steps, step 0 = untrained = near-random),
``latest.zip`` (full SB3 state; PPO adds ``latest_vecnormalize.pkl``, SAC ``latest_replay.pkl``) and
``train.log``. Resume by running the same command again. A PPO resume is complete (PPO keeps no buffer across
rollouts); a SAC resume without its replay buffer (not committed: ~100 MB) restarts the buffer with
``--learning-starts`` uniform-random steps, which is logged. Export of the quality levels is
``python -m symmpo.suite.export_behaviour --env hopper`` (numpy/torch only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import SymmpoError, exit_status
from symmpo.suite.tasks import ENVS, N_BINS, from_bins, get_env_spec, to_bins

DEFAULT_OUT = Path("results/behaviour_training")


def _require_sb3():
    try:
        import stable_baselines3  # noqa: F401
    except ModuleNotFoundError:
        raise SymmpoError(
            "training behaviour policies needs stable-baselines3: pip install 'symmpo[agents]' "
            "(the shipped policies in symmpo/assets/behaviour load without it)"
        ) from None


def make_env(env: str, n_bins: int = N_BINS):
    """Gymnasium env whose actions are snapped to the K-bin grid before the simulator sees them."""
    import gymnasium as gym

    class SnapToBins(gym.ActionWrapper):
        def action(self, action):
            return from_bins(to_bins(np.asarray(action), n_bins))

    return SnapToBins(gym.make(get_env_spec(env).env_id))


def actor_to_arrays(model) -> dict[str, np.ndarray]:
    """SB3 SAC actor -> plain arrays: hidden ReLU layers, mean head, log-std head (tanh-squashed Gaussian)."""
    actor = model.actor
    arrays: dict[str, np.ndarray] = {}
    linears = [m for m in actor.latent_pi if m.__class__.__name__ == "Linear"]
    for i, layer in enumerate(linears):
        arrays[f"hidden_{i}_weight"] = layer.weight.detach().cpu().numpy().astype(np.float32)
        arrays[f"hidden_{i}_bias"] = layer.bias.detach().cpu().numpy().astype(np.float32)
    arrays["mu_weight"] = actor.mu.weight.detach().cpu().numpy().astype(np.float32)
    arrays["mu_bias"] = actor.mu.bias.detach().cpu().numpy().astype(np.float32)
    arrays["log_std_weight"] = actor.log_std.weight.detach().cpu().numpy().astype(np.float32)
    arrays["log_std_bias"] = actor.log_std.bias.detach().cpu().numpy().astype(np.float32)
    return arrays


def ppo_actor_to_arrays(model, vecnorm) -> dict[str, np.ndarray]:
    """SB3 PPO actor + VecNormalize statistics -> plain arrays (state-independent log-std, clipped actions)."""
    policy = model.policy
    arrays: dict[str, np.ndarray] = {}
    linears = [m for m in policy.mlp_extractor.policy_net if m.__class__.__name__ == "Linear"]
    for i, layer in enumerate(linears):
        arrays[f"hidden_{i}_weight"] = layer.weight.detach().cpu().numpy().astype(np.float32)
        arrays[f"hidden_{i}_bias"] = layer.bias.detach().cpu().numpy().astype(np.float32)
    arrays["mu_weight"] = policy.action_net.weight.detach().cpu().numpy().astype(np.float32)
    arrays["mu_bias"] = policy.action_net.bias.detach().cpu().numpy().astype(np.float32)
    arrays["log_std"] = policy.log_std.detach().cpu().numpy().astype(np.float32)
    arrays["obs_mean"] = vecnorm.obs_rms.mean.astype(np.float32)
    arrays["obs_var"] = vecnorm.obs_rms.var.astype(np.float32)
    arrays["obs_clip"] = np.asarray(vecnorm.clip_obs, dtype=np.float32)
    arrays["activation"] = np.asarray("tanh")
    arrays["squash"] = np.asarray("clip")
    return arrays


def write_snapshot(out: Path, step: int, arrays: dict[str, np.ndarray], env: str, algorithm: str) -> None:
    """``actors/step_<n>.npz`` (library-free arrays) and its JSON (algorithm, step, the command that trained it)."""
    command = "python -m symmpo.suite.train_behaviour " + " ".join(sys.argv[1:])
    np.savez(out / "actors" / f"step_{step:07d}.npz", **arrays)
    meta = {"env": env, "algorithm": algorithm, "step": step, "command": command}
    (out / "actors" / f"step_{step:07d}.json").write_text(json.dumps(meta, indent=1))


def _log(path: Path, message: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {message}"
    print(line, flush=True)
    with path.open("a") as fh:
        fh.write(line + "\n")


def _save_state(model: Any, latest: Path, extra: Path, save_extra: Callable[[Path], None]) -> None:
    """The resumable state (the model, and its observation normalizer or replay buffer at ``extra``) written to
    temporary files and then renamed, so an interruption leaves the previous state whole."""
    tmp_model, tmp_extra = latest.with_suffix(".tmp.zip"), extra.with_suffix(".tmp" + extra.suffix)
    model.save(tmp_model)
    save_extra(tmp_extra)
    os.replace(tmp_model, latest)
    os.replace(tmp_extra, extra)


def _start(
    model: Any, save_actor: Callable[[int], None], minutes: float, log_path: Path
) -> tuple[float, Callable[[int], None]]:
    """Snapshot 0 of a fresh run; the wall-clock deadline of this invocation, and the progress log line (steps
    per second since now, mean return of the recent training episodes)."""
    if model.num_timesteps == 0:
        save_actor(0)
    deadline = time.time() + 60.0 * minutes
    t0, s0 = time.time(), model.num_timesteps

    def log_progress(n: int) -> None:
        eps = [e["r"] for e in model.ep_info_buffer]
        fps = (n - s0) / max(time.time() - t0, 1e-9)
        mean = float(np.mean(eps)) if eps else float("nan")
        _log(log_path, f"step {n} fps {fps:.0f} train-episode-return(last {len(eps)}) {mean:.1f}")

    return deadline, log_progress


def _learn_until(
    model: Any,
    total: int,
    callback: Any,
    deadline: float,
    save_actor: Callable[[int], None],
    save_full: Callable[[], None],
    log_path: Path,
) -> None:
    """Train up to ``total`` steps (the callback stops at the wall-clock deadline), then save and log why it stopped."""
    model.learn(
        total_timesteps=total - model.num_timesteps,
        callback=callback,
        reset_num_timesteps=False,
        progress_bar=False,
    )
    save_actor(model.num_timesteps)
    save_full()
    why = "budget" if time.time() >= deadline else "done"
    _log(log_path, f"stopped at step {model.num_timesteps} ({why})")


def train_ppo(args: argparse.Namespace) -> None:
    """PPO over ``--n-envs`` vectorized envs in one process, observation and reward normalization."""
    _require_sb3()
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    out = Path(args.out) / f"{args.env}-ppo"
    (out / "actors").mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"
    latest, norm_path = out / "latest.zip", out / "latest_vecnormalize.pkl"
    venv = make_vec_env(lambda: make_env(args.env), n_envs=args.n_envs, seed=args.seed)
    total = args.steps

    def lr_schedule(progress_remaining: float) -> float:  # linear decay to 0 over the full budget
        return args.learning_rate * progress_remaining

    if latest.exists() and norm_path.exists():
        vecnorm = VecNormalize.load(str(norm_path), venv)
        model = PPO.load(latest, env=vecnorm, device="cpu", custom_objects={"learning_rate": lr_schedule})
        _log(log_path, f"resumed from {latest} at step {model.num_timesteps}")
    else:
        vecnorm = VecNormalize(venv, gamma=0.99, clip_obs=10.0)
        model = PPO(
            "MlpPolicy",
            vecnorm,
            n_steps=args.n_steps,
            batch_size=args.batch_size,
            n_epochs=10,
            learning_rate=lr_schedule,
            gamma=0.99,
            gae_lambda=0.95,
            clip_range=0.2,
            ent_coef=0.0,
            max_grad_norm=0.5,
            policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "log_std_init": args.log_std_init},
            seed=args.seed,
            device="cpu",
            verbose=0,
        )
        _log(log_path, f"new PPO run: {json.dumps(vars(args))}")

    def save_actor(step: int) -> None:
        write_snapshot(out, step, ppo_actor_to_arrays(model, vecnorm), args.env, "PPO (stable-baselines3)")

    def save_full() -> None:
        _save_state(model, latest, norm_path, lambda path: vecnorm.save(str(path)))

    deadline, log_progress = _start(model, save_actor, args.minutes, log_path)
    state = {"next_ckpt": (model.num_timesteps // args.checkpoint_every + 1) * args.checkpoint_every}

    class Progress(BaseCallback):
        def _on_rollout_end(self) -> None:
            n = self.model.num_timesteps
            if n >= state["next_ckpt"]:
                save_actor(n)
                save_full()
                log_progress(n)
                state["next_ckpt"] = (n // args.checkpoint_every + 1) * args.checkpoint_every

        def _on_step(self) -> bool:
            return time.time() < deadline

    _learn_until(model, total, Progress(), deadline, save_actor, save_full, log_path)


def train(args: argparse.Namespace) -> None:
    if args.algo == "ppo":
        train_ppo(args)
        return
    _require_sb3()
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    out = Path(args.out) / args.env
    (out / "actors").mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"
    env = make_env(args.env)
    latest, replay = out / "latest.zip", out / "latest_replay.pkl"
    if latest.exists() and replay.exists():
        model = SAC.load(latest, env=env, device="cpu")
        model.load_replay_buffer(replay)
        _log(log_path, f"resumed from {latest} at step {model.num_timesteps}")
    elif latest.exists():  # replay buffers are not committed: refill with uniform-random steps first
        model = SAC.load(latest, env=env, device="cpu")
        model.learning_starts = model.num_timesteps + args.learning_starts
        _log(
            log_path,
            f"resumed from {latest} at step {model.num_timesteps} WITHOUT replay buffer: "
            f"{args.learning_starts} uniform-random steps refill it before updates resume",
        )
    else:
        model = SAC(
            "MlpPolicy",
            env,
            learning_starts=args.learning_starts,
            buffer_size=args.buffer_size,
            seed=args.seed,
            device="cpu",
            verbose=0,
        )
        _log(log_path, f"new SAC run: {json.dumps(vars(args))}")

    def save_actor(step: int) -> None:
        write_snapshot(out, step, actor_to_arrays(model), args.env, "SAC (stable-baselines3)")

    def save_full() -> None:
        _save_state(model, latest, replay, model.save_replay_buffer)

    deadline, log_progress = _start(model, save_actor, args.minutes, log_path)

    class Progress(BaseCallback):
        def _on_step(self) -> bool:
            n = self.model.num_timesteps
            if n % args.checkpoint_every == 0:
                save_actor(n)
            if n % args.save_every == 0:
                save_full()
            if n % 5000 == 0:
                log_progress(n)
            return time.time() < deadline

    _learn_until(model, args.steps, Progress(), deadline, save_actor, save_full, log_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", choices=list(ENVS), required=True)
    parser.add_argument("--algo", choices=["sac", "ppo"], default="sac")
    parser.add_argument("--n-envs", type=int, default=16, help="PPO: vectorized envs in one process")
    parser.add_argument("--n-steps", type=int, default=256, help="PPO: steps per env per rollout")
    parser.add_argument("--batch-size", type=int, default=512, help="PPO: minibatch size")
    parser.add_argument("--learning-rate", type=float, default=3e-4, help="PPO: initial (linearly decayed)")
    parser.add_argument("--log-std-init", type=float, default=-0.5, help="PPO: initial log-std")
    parser.add_argument("--steps", type=int, default=1_000_000, help="total env steps (across resumes)")
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget of this invocation")
    parser.add_argument("--checkpoint-every", type=int, default=10_000, help="actor npz snapshot period")
    parser.add_argument("--save-every", type=int, default=20_000, help="full resumable state period")
    parser.add_argument("--learning-starts", type=int, default=5_000)
    parser.add_argument("--buffer-size", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    return exit_status("train_behaviour", lambda: train(args))


if __name__ == "__main__":
    sys.exit(main())
