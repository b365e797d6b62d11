"""BatchSim reproduces Gymnasium's v5 envs step for step (observation, reward, termination)."""

import gymnasium as gym
import numpy as np
import pytest

from symmpo.suite.sim import BatchSim
from symmpo.suite.tasks import ENVS, N_BINS, from_bins


@pytest.mark.parametrize("env", list(ENVS))
def test_batch_sim_matches_gymnasium(env):
    rng = np.random.default_rng(0)
    seeds = np.array([3, 7])
    sim = BatchSim(env, 2)
    obs = sim.reset(np.arange(2), seeds)
    for k, seed in enumerate(seeds):
        ref = gym.make(ENVS[env].env_id).unwrapped
        ref_obs = ref.reset(seed=int(seed))[0]
        np.testing.assert_array_equal(obs[k], ref_obs.astype(np.float32))
        sim_k = BatchSim(env, 1)
        sim_k.set_state(0, sim.get_state(k))
        for _ in range(60):
            a = from_bins(rng.integers(0, N_BINS, ENVS[env].act_dim))
            o, r, term, _, _ = ref.step(a)
            o2, r2, t2 = sim_k.step(np.array([0]), a[None])
            np.testing.assert_array_equal(o2[0], o.astype(np.float32))
            assert r2[0] == pytest.approx(r, rel=1e-12, abs=1e-12)
            assert bool(t2[0]) == term
            if term:
                break


def test_halfcheetah_model_equals_the_compilers_without_its_deprecation_warning(tmp_path, monkeypatch):
    """make_env compiles half_cheetah.xml without ``settotalmass`` and applies the mass itself: every float
    array of the model must equal the one MuJoCo's compiler makes from the shipped file."""
    import gymnasium as gym
    import numpy as np

    from symmpo.suite.sim import make_env

    monkeypatch.setenv("SYMMPO_CACHE", str(tmp_path))
    ours = make_env("halfcheetah").model
    shipped = gym.make("HalfCheetah-v5").unwrapped.model
    compared = 0
    for name in dir(shipped):
        a = getattr(shipped, name)
        if name.startswith("_") or not isinstance(a, np.ndarray):
            continue
        assert np.array_equal(a, getattr(ours, name)), name
        compared += 1
    assert compared > 50
    assert "settotalmass" not in next((tmp_path / "models").glob("*.xml")).read_text()
