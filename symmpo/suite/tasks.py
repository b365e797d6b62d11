"""Task specs: which MuJoCo environment, how actions are discretized, how returns are normalized.

A task name is ``<env>-<setting>[@<suite>]``, e.g. ``hopper-clean``, ``hopper-noisy-0.2``,
``halfcheetah-mixed-0.5``, ``walker2d-bt``, ``halfcheetah-clean@v3``; without a suite it is suite v2
(``symmpo.suite.suites``; the environments themselves are ``symmpo.suite.envs``). Parsing lives here so the CLI,
the dataset builder and the trainer agree on one grammar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symmpo.errors import DataError
from symmpo.suite import pathologies
from symmpo.suite.envs import ENVS as ENVS
from symmpo.suite.envs import EnvSpec as EnvSpec
from symmpo.suite.envs import get_env_spec as get_env_spec
from symmpo.suite.suites import DEFAULT_SUITE, design, parse_suite

# K bins per action dimension. 11 bins on [-1, 1] gives a 0.2 grid that contains 0 and both torque limits;
# the shipped behaviour policies are trained *through* this grid, so their quality is the discrete quality.
N_BINS = 11


DEFAULT_SUITE_ENVS = ("hopper", "halfcheetah")

NOISE_LEVELS = (0.1, 0.2, 0.3, 0.4)
MIX_LEVELS = (0.25, 0.5, 0.75)
SETTINGS: tuple[str, ...] = (
    ("clean",) + tuple(f"noisy-{e}" for e in NOISE_LEVELS) + tuple(f"mixed-{r}" for r in MIX_LEVELS) + ("bt",)
)


def to_bins(action: np.ndarray, n_bins: int = N_BINS, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Snap continuous actions to the nearest bin index (int64, same shape)."""
    scaled = (np.clip(action, low, high) - low) / (high - low) * (n_bins - 1)
    return np.rint(scaled).astype(np.int64)


def from_bins(bins: np.ndarray, n_bins: int = N_BINS, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Bin indices -> continuous actions (float32), what the simulator receives."""
    return (low + np.asarray(bins, dtype=np.float32) * ((high - low) / (n_bins - 1))).astype(np.float32)


def normalized_score(env: str, returns: np.ndarray | float) -> np.ndarray:
    """D4RL-style score 100 * (R - R_random) / (R_expert - R_random)."""
    spec = get_env_spec(env)
    return (
        100.0
        * (np.asarray(returns, dtype=np.float64) - spec.ref_random)
        / (spec.ref_expert - spec.ref_random)
    )


@dataclass(frozen=True)
class TaskSpec:
    """A parsed task name: environment + setting kind + its parameter (epsilon, rho or None)."""

    name: str
    env: str
    kind: str  # clean | noisy | mixed | bt
    param: float | None = None
    suite: str = "v2"  # symmpo.suite.suites: the dataset design (horizon, labels, π_ref's SFT data)

    @property
    def setting(self) -> str:
        return pathologies.setting_name(self.kind, self.param)


def all_task_names(envs: tuple[str, ...] | None = None) -> list[str]:
    return [f"{e}-{s}" for e in (envs or tuple(ENVS)) for s in SETTINGS]


def parse_setting(setting: str) -> tuple[str, float | None]:
    """``noisy-0.2`` -> ("noisy", 0.2): the MuJoCo suite's settings of the pathology registry."""
    return pathologies.parse_setting(setting, "mujoco", SETTINGS)


def parse_task(name: str) -> TaskSpec:
    """``hopper-noisy-0.2`` -> TaskSpec; a clear DataError listing valid names otherwise."""
    body, at, suite = name.strip().lower().partition("@")
    try:
        suite = parse_suite(suite) if at else DEFAULT_SUITE
    except DataError as err:
        raise DataError(f"unknown task {name!r}: {err}") from None
    env, _, setting = body.partition("-")
    if env not in ENVS or not setting:
        raise DataError(
            f"unknown task {name!r}; tasks are ENV-SETTING with ENV in {{{', '.join(ENVS)}}}, e.g. "
            f"{', '.join(all_task_names(('hopper',)))}"
        )
    try:
        kind, param = parse_setting(setting)
    except DataError as err:
        raise DataError(f"unknown task {name!r}: {err}") from None
    canonical = f"{env}-{pathologies.setting_name(kind, param)}"
    if suite != DEFAULT_SUITE:
        canonical += f"@{suite}"
    return TaskSpec(canonical, env, kind, param, suite)


def po_steps(tasks: list[str] | tuple[str, ...]) -> int | None:
    """The PO steps the tasks' suite was validated at (a command's default when ``--steps`` is not given);
    None for suite v2, whose presets set the steps. Tasks of different suites or steps are an error: one run,
    one training budget."""
    specs = [parse_task(t) for t in tasks]
    steps = {design(s.suite, s.env).po_steps for s in specs if s.suite != DEFAULT_SUITE}
    suites = {s.suite for s in specs}
    if len(suites) > 1 or len(steps) > 1:
        raise DataError(
            f"one run trains one suite at one step budget; got tasks of {', '.join(sorted(suites))}"
        )
    return steps.pop() if steps else None
