"""Many copies of one MuJoCo model stepped together, with Gymnasium v5's observation, reward and termination.

Why not a list of Gymnasium envs: per step a Gymnasium MuJoCo env adds ~1x the cost of the physics itself in
Python (wrappers, ``info`` dicts, scalar numpy calls, ``mj_rnePostConstraint`` which these rewards do not use).
Here each copy is one ``MjData`` of a shared ``MjModel``; physics is ``mj_step(nstep=frame_skip)``, everything
else is vectorized over the batch. Resets go through a real Gymnasium env (same seeds -> same initial states)
and ``tests/test_suite_sim.py`` checks returns equal Gymnasium's step for step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symmpo.suite.tasks import get_env_spec


@dataclass(frozen=True)
class Dynamics:
    """The v5 defaults of Gymnasium's Hopper / Walker2d / HalfCheetah (see gymnasium/envs/mujoco/*_v5.py)."""

    frame_skip: int
    ctrl_cost_weight: float
    healthy_reward: float = 0.0  # 0 and no termination for HalfCheetah
    healthy_z: tuple[float, float] | None = None
    healthy_angle: tuple[float, float] | None = None
    healthy_state: tuple[float, float] | None = None  # Hopper only: qpos[2:], qvel
    clip_qvel: float | None = 10.0


def make_env(env: str):
    """The unwrapped Gymnasium v5 env of ``env``, built without MuJoCo's ``settotalmass`` deprecation warning.

    Gymnasium's half_cheetah.xml sets ``<compiler settotalmass="14"/>``, which MuJoCo now warns about on every
    compile. The same model is compiled from a copy without the attribute, then ``mj_setTotalmass`` and
    ``mj_setConst`` apply the mass: every float array of the model is bit-identical to the compiler's (checked in
    tests/test_suite_sim.py), so physics and datasets do not change. Other environments load as shipped.
    """
    import re

    import gymnasium as gym

    spec = get_env_spec(env)
    probe = gym.spec(spec.env_id).kwargs.get("xml_file")
    path = _asset_path(probe or _DEFAULT_XML.get(env, ""))
    text = path.read_text() if path is not None and path.is_file() else ""
    found = re.search(r'\s*settotalmass="([0-9.eE+-]+)"', text)
    if found is None:
        return gym.make(spec.env_id).unwrapped
    import mujoco

    patched = _patched_copy(text.replace(found.group(0), ""), path.name)
    e = gym.make(spec.env_id, xml_file=str(patched)).unwrapped
    mujoco.mj_setTotalmass(e.model, float(found.group(1)))
    mujoco.mj_setConst(e.model, e.data)
    return e


_DEFAULT_XML = {"halfcheetah": "half_cheetah.xml", "hopper": "hopper.xml", "walker2d": "walker2d_v5.xml"}


def _asset_path(name: str):
    """Gymnasium's asset of that name (its envs take a file name relative to their assets folder)."""
    from pathlib import Path

    import gymnasium

    if not name:
        return None
    p = Path(name)
    return p if p.is_absolute() else Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / name


def _patched_copy(text: str, name: str):
    """The patched XML in the cache (written once, atomically; named by its content)."""
    import hashlib
    import os

    from symmpo.suite.cache import default_cache_dir

    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = default_cache_dir() / "models" / f"{digest}-{name}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


DYNAMICS = {
    "hopper": Dynamics(4, 1e-3, 1.0, (0.7, float("inf")), (-0.2, 0.2), (-100.0, 100.0)),
    "walker2d": Dynamics(4, 1e-3, 1.0, (0.8, 2.0), (-1.0, 1.0)),
    "halfcheetah": Dynamics(5, 0.1, clip_qvel=None),
}


class BatchSim:
    """n simulators of one environment; ``step`` advances a subset and returns (obs, reward, terminated)."""

    def __init__(self, env: str, n: int):
        import mujoco

        self._mj = mujoco
        self.env = env
        self.dyn = DYNAMICS[env]
        self._reset_env = make_env(env)
        self.model = self._reset_env.model
        self.dt = self.model.opt.timestep * self.dyn.frame_skip
        self._state_spec = mujoco.mjtState.mjSTATE_INTEGRATION
        self.data: list = []
        self.grow(n)

    def grow(self, n: int) -> None:
        while len(self.data) < n:
            self.data.append(self._mj.MjData(self.model))

    def __len__(self) -> int:
        return len(self.data)

    def get_state(self, i: int) -> np.ndarray:
        """Full integration state (incl. solver warm start): restoring it continues bit-identically."""
        state = np.empty(self._mj.mj_stateSize(self.model, self._state_spec))
        self._mj.mj_getState(self.model, self.data[i], state, self._state_spec)
        return state

    def set_state(self, i: int, state: np.ndarray) -> None:
        self._mj.mj_setState(self.model, self.data[i], state, self._state_spec)
        self._mj.mj_forward(self.model, self.data[i])

    def reset(self, idx: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Gymnasium's reset for each (sim, seed); returns obs float32 [len(idx), obs_dim]."""
        for i, seed in zip(idx, seeds, strict=True):
            self._reset_env.reset(seed=int(seed))
            self._mj.mj_getState(
                self.model,
                self._reset_env.data,
                buf := np.empty(self._mj.mj_stateSize(self.model, self._state_spec)),
                self._state_spec,
            )
            self.set_state(int(i), buf)
        return self.observe(idx)

    def observe(self, idx: np.ndarray) -> np.ndarray:
        qpos = np.stack([self.data[i].qpos for i in idx])
        qvel = np.stack([self.data[i].qvel for i in idx])
        return self._obs(qpos, qvel)

    def _obs(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        if self.dyn.clip_qvel is not None:
            qvel = np.clip(qvel, -self.dyn.clip_qvel, self.dyn.clip_qvel)
        return np.concatenate([qpos[:, 1:], qvel], axis=1).astype(np.float32)

    def step(self, idx: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply float32 actions [len(idx), act_dim] to sims ``idx``; obs float32, reward float64, terminated bool."""
        mj_step, model, fs = self._mj.mj_step, self.model, self.dyn.frame_skip
        x_before = np.empty(len(idx))
        for k, i in enumerate(idx):
            d = self.data[i]
            x_before[k] = d.qpos[0]
            d.ctrl[:] = actions[k]
            mj_step(model, d, nstep=fs)
        qpos = np.stack([self.data[i].qpos for i in idx])
        qvel = np.stack([self.data[i].qvel for i in idx])
        dyn = self.dyn
        reward = (qpos[:, 0] - x_before) / self.dt  # forward reward; same operation order as Gymnasium
        terminated = np.zeros(len(idx), dtype=bool)
        if dyn.healthy_z is not None:
            z, angle = qpos[:, 1], qpos[:, 2]
            healthy = (dyn.healthy_z[0] < z) & (z < dyn.healthy_z[1])
            healthy &= (dyn.healthy_angle[0] < angle) & (angle < dyn.healthy_angle[1])
            if dyn.healthy_state is not None:
                state = np.concatenate([qpos[:, 2:], qvel], axis=1)
                healthy &= np.all((dyn.healthy_state[0] < state) & (state < dyn.healthy_state[1]), axis=1)
            reward = reward + dyn.healthy_reward * healthy
            terminated = ~healthy
        reward = reward - dyn.ctrl_cost_weight * np.sum(np.square(actions), axis=1)
        return self._obs(qpos, qvel), reward, terminated


_SIMS: dict[str, BatchSim] = {}


def batch_sim(env: str, n: int) -> BatchSim:
    """A per-process BatchSim with at least n copies (reused: MjData allocation is cheap, models are shared)."""
    sim = _SIMS.get(env)
    if sim is None:
        sim = _SIMS[env] = BatchSim(env, n)
    sim.grow(n)
    return sim
