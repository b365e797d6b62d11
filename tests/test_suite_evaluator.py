"""Evaluator: batched returns equal per-policy Gymnasium rollouts; workers do not change results."""

import gymnasium as gym
import numpy as np
import torch

from symmpo.suite.evaluator import eval_seeds, evaluate, greedy
from symmpo.suite.tasks import from_bins, normalized_score

torch.set_num_threads(1)  # the suite runs single-threaded (shared 2-core machines)


def _table_policy(obs):
    # deterministic, state-dependent bins: sign pattern of the first observation entries
    p, e, _ = obs.shape
    return np.where(obs[..., :3] > 0, 7, 3).astype(np.int64) + np.arange(p)[:, None, None] % 2


def test_matches_gymnasium_and_workers():
    seeds = eval_seeds(3)
    res = evaluate("hopper", _table_policy, 2, seeds, max_steps=80)
    assert res.returns.shape == (2, 3) and res.normalized.shape == (2, 3)
    np.testing.assert_allclose(res.normalized, normalized_score("hopper", res.returns))
    for p in range(2):
        for k, seed in enumerate(seeds):
            env = gym.make("Hopper-v5")
            obs, total, n = env.reset(seed=int(seed))[0], 0.0, 0
            for _ in range(80):
                bins = _table_policy(np.repeat(obs[None, None].astype(np.float32), 2, axis=0))[p, 0]
                obs, r, term, trunc, _ = env.step(from_bins(bins))
                total, n = total + r, n + 1
                if term or trunc:
                    break
            assert abs(res.returns[p, k] - total) < 1e-6 and res.lengths[p, k] == n
    res2 = evaluate("hopper", _table_policy, 2, seeds, max_steps=80, workers=2)
    np.testing.assert_array_equal(res.returns, res2.returns)


def test_greedy_argmax():
    logits = np.zeros((2, 4, 3, 11))
    logits[..., 5] = 1.0
    assert (greedy(logits) == 5).all() and greedy(logits).shape == (2, 4, 3)


def _sigterm_is_default(_: int) -> bool:
    import signal

    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_forked_workers_die_on_sigterm_whatever_the_parent_installed():
    """Ray's driver installs a ``sys.exit`` SIGTERM handler and keeps it after shutdown; inherited by fork
    workers, it made leaving the pool (which SIGTERMs them) hang. Workers must be forked with the default."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from symmpo.suite.evaluator import fork_pool

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
    try:
        with fork_pool(2) as pool:
            assert pool.map(_sigterm_is_default, range(4)) == [True] * 4
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the parent keeps its own handler
        seeds = eval_seeds(2)  # and evaluate's workers still give the single-process numbers
        one = evaluate("hopper", _table_policy, 2, seeds, max_steps=20)
        two = evaluate("hopper", _table_policy, 2, seeds, max_steps=20, workers=2)
        np.testing.assert_array_equal(one.returns, two.returns)
    finally:
        signal.signal(signal.SIGTERM, previous)
    # Pools ended at once, before a worker could run any code of its own: the window where a worker still
    # held the inherited handler. A hang here is the bug; the timeout only turns it into a failure.
    code = (
        "import signal, sys\n"
        "from symmpo.suite.evaluator import fork_pool\n"
        "signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))\n"
        "for _ in range(30):\n"
        "    with fork_pool(2):\n"
        "        pass\n"
        "print('ended')\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    res = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ended", res.stderr[-2000:]
