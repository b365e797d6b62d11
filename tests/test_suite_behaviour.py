"""Every shipped behaviour level loads without an RL library and reproduces its stored returns."""

import re

import numpy as np
import pytest
import torch

from symmpo.suite.behaviour import list_levels, load_behaviour
from symmpo.suite.export_behaviour import measure
from symmpo.suite.tasks import ENVS, normalized_score

SHIPPED = [(env, lv) for env in ENVS for lv in list_levels(env)]

torch.set_num_threads(1)  # the suite runs single-threaded (shared 2-core machines)


@pytest.mark.parametrize("env", list(ENVS))
def test_levels_shipped_graded_and_separated(env):
    """>= 5 distinct snapshots, greedy means >= 5 points apart with disjoint 95 % intervals, >= 20 episodes."""
    levels = list_levels(env)
    assert len(levels) >= 5
    infos = [load_behaviour(env, lv).info for lv in levels]
    if any(info["eval_greedy"].get("episodes", 0) < 20 for info in infos):
        pytest.skip(f"{env}: levels from an older export (fewer than 20 episodes)")
    assert len({info["weights"] for info in infos}) == len(levels)  # distinct policies, not noise variants
    assert all(info["epsilon"] == 0.0 for info in infos)
    stats = []
    for info in infos:
        norm = normalized_score(env, np.asarray(info["eval_greedy"]["episode_returns"]))
        stats.append((norm.mean(), norm.std(ddof=1) / np.sqrt(len(norm))))
    assert stats[0][0] < 10  # near-random
    for (m_lo, se_lo), (m_hi, se_hi) in zip(stats[:-1], stats[1:], strict=True):
        assert m_hi - m_lo >= 5.0
        assert m_hi - 1.96 * se_hi > m_lo + 1.96 * se_lo


@pytest.mark.parametrize("env,level", SHIPPED)
def test_stored_return_reproduced(env, level):
    pol = load_behaviour(env, level)
    stored = np.array(pol.info["eval"]["episode_returns"][:2])
    got = measure(env, [pol], 2)[0]  # the same reset seeds and per-episode random streams as the export
    np.testing.assert_allclose(got, stored, rtol=0.02, atol=5.0)


@pytest.mark.parametrize("env,level", SHIPPED)
def test_stored_greedy_return_reproduced(env, level):
    pol = load_behaviour(env, level)
    stored = np.array(pol.info["eval_greedy"]["episode_returns"][:2])
    got = measure(env, [pol], 2, greedy=True)[0]
    np.testing.assert_allclose(got, stored, rtol=0.02, atol=5.0)


class _FakeModel:
    """What the training script's state helpers read of an SB3 model (no RL library needed)."""

    num_timesteps = 0
    ep_info_buffer = [{"r": 1.0}, {"r": 3.0}]

    def save(self, path):
        path.write_text("model")


def test_training_state_is_renamed_into_place(tmp_path):
    from symmpo.suite.train_behaviour import _save_state

    latest, replay = tmp_path / "latest.zip", tmp_path / "latest_replay.pkl"
    latest.write_text("old")
    _save_state(_FakeModel(), latest, replay, lambda path: path.write_text("replay"))
    assert (latest.read_text(), replay.read_text()) == ("model", "replay")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.zip", "latest_replay.pkl"]  # no .tmp left


def test_training_start_snapshots_a_fresh_run_and_logs_progress(tmp_path):
    from symmpo.suite.train_behaviour import _start

    saved: list[int] = []
    model = _FakeModel()
    _, log_progress = _start(model, saved.append, 1.0, tmp_path / "train.log")
    model.num_timesteps = 10
    _start(model, saved.append, 1.0, tmp_path / "train.log")  # a resumed run: no second step-0 snapshot
    assert saved == [0]
    log_progress(10)
    line = (tmp_path / "train.log").read_text().splitlines()[-1]
    assert re.search(r" step 10 fps \d+ train-episode-return\(last 2\) 2\.0$", line), line


def test_scripts_exit_2_with_one_line(capsys):
    from symmpo.errors import DataError, exit_status

    def fail() -> None:
        raise DataError("no snapshots")

    assert exit_status("export_behaviour", fail) == 2
    assert capsys.readouterr().err == "export_behaviour: error: no snapshots\n"
    assert exit_status("export_behaviour", lambda: None) == 0
