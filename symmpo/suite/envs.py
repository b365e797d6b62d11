"""The MuJoCo environments of the suite (below the task names and the suite designs, which both read it)."""

from __future__ import annotations

from dataclasses import dataclass

from symmpo.errors import DataError


@dataclass(frozen=True)
class EnvSpec:
    """One MuJoCo environment of the suite and its D4RL reference returns (random, expert)."""

    name: str
    env_id: str
    obs_dim: int
    act_dim: int
    ref_random: float
    ref_expert: float
    held_out: bool = False  # the transfer environment: no evolution preset optimizes on it


# D4RL's published reference returns (d4rl/infos.py: REF_MIN_SCORE / REF_MAX_SCORE); docs/benchmark.md says why.
ENVS: dict[str, EnvSpec] = {
    "hopper": EnvSpec("hopper", "Hopper-v5", 11, 3, -20.272305, 3234.3),
    "halfcheetah": EnvSpec("halfcheetah", "HalfCheetah-v5", 17, 6, -280.178953, 12135.0),
    "walker2d": EnvSpec("walker2d", "Walker2d-v5", 17, 6, 1.629008, 4592.3, held_out=True),
}


def get_env_spec(env: str) -> EnvSpec:
    try:
        return ENVS[env]
    except KeyError:
        raise DataError(f"unknown environment {env!r}; valid: {', '.join(ENVS)}") from None
