"""Shipped behaviour policies: library-free (npz weights + JSON), batched acting in numpy.

A level's JSON names its weights file (several levels may share one: the epsilon-random variants of the best
actor), the architecture (ReLU MLP -> tanh-squashed Gaussian, as SB3's SAC), the action mapping (tanh -> snap
to the nearest of K bins), the epsilon of uniform-random bins, and the measured returns. Acting needs numpy and torch only
(torch for the matmuls).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.errors import DataError
from symmpo.suite.tasks import N_BINS, get_env_spec, to_bins

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SB3 SAC's clamp


def assets_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "assets" / "behaviour"


@dataclass
class BehaviourPolicy:
    """A Gaussian MLP actor whose actions are squashed to [-1, 1] and snapped to K bins.

    Two actor families are shipped: SB3 SAC (ReLU MLP, state-dependent log-std head, tanh squash, raw
    observations) and SB3 PPO (tanh MLP, state-independent log-std vector, actions clipped to [-1, 1],
    observations normalized with the running statistics frozen at the snapshot). Epsilon replaces a step by
    uniform-random bins.
    """

    env: str
    level: str
    hidden: list[tuple[np.ndarray, np.ndarray]]  # (W [out, in], b [out]) per hidden layer
    mu: tuple[np.ndarray, np.ndarray]
    log_std: tuple[np.ndarray, np.ndarray] | np.ndarray  # (W, b) head, or a state-independent vector
    epsilon: float = 0.0
    n_bins: int = N_BINS
    info: dict[str, Any] = field(default_factory=dict)
    activation: str = "relu"
    squash: str = "tanh"  # "tanh" (SAC) or "clip" (PPO)
    obs_mean: np.ndarray | None = None
    obs_var: np.ndarray | None = None
    obs_clip: float = 10.0

    @classmethod
    def from_arrays(cls, env: str, level: str, arrays: dict[str, np.ndarray], **kw: Any) -> BehaviourPolicy:
        n_hidden = sum(1 for k in arrays if k.startswith("hidden_") and k.endswith("_weight"))
        hidden = [(arrays[f"hidden_{i}_weight"], arrays[f"hidden_{i}_bias"]) for i in range(n_hidden)]
        mu = (arrays["mu_weight"], arrays["mu_bias"])
        if "log_std" in arrays:
            log_std: Any = np.asarray(arrays["log_std"], dtype=np.float32)
        else:
            log_std = (arrays["log_std_weight"], arrays["log_std_bias"])
        extra: dict[str, Any] = {}
        if "activation" in arrays:
            extra["activation"] = str(arrays["activation"])
        if "squash" in arrays:
            extra["squash"] = str(arrays["squash"])
        if "obs_mean" in arrays:
            extra["obs_mean"] = np.asarray(arrays["obs_mean"], dtype=np.float32)
            extra["obs_var"] = np.asarray(arrays["obs_var"], dtype=np.float32)
            extra["obs_clip"] = float(arrays["obs_clip"])
        if extra.get("activation", "relu") not in ("relu", "tanh"):
            raise DataError(f"behaviour actor {env}/{level}: unknown activation {extra['activation']!r}")
        if extra.get("squash", "tanh") not in ("tanh", "clip"):
            raise DataError(f"behaviour actor {env}/{level}: unknown squash {extra['squash']!r}")
        return cls(env, level, hidden, mu, log_std, **{**extra, **kw})

    @property
    def act_dim(self) -> int:
        return int(self.mu[1].shape[0])

    def _torch_layers(self) -> list:
        """Weights as torch tensors, cached: torch's single-thread matmul is ~2x numpy's here."""
        if "_layers" not in self.__dict__:
            import torch

            def t(w: np.ndarray, b: np.ndarray) -> tuple:
                return torch.from_numpy(np.ascontiguousarray(w.T)), torch.from_numpy(b)

            layers = [t(w, b) for w, b in self.hidden] + [t(*self.mu)]
            if isinstance(self.log_std, tuple):
                layers.append(t(*self.log_std))
            self.__dict__["_layers"] = layers
        return self.__dict__["_layers"]

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """The observation the network saw during training (frozen running mean/var for PPO actors)."""
        obs = np.asarray(obs, dtype=np.float32)
        if self.obs_mean is None:
            return obs
        z = (obs - self.obs_mean) / np.sqrt(self.obs_var + np.float32(1e-8))
        return np.clip(z, -self.obs_clip, self.obs_clip).astype(np.float32)

    def distribution(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pre-squash Gaussian mean and std, float32 [B, act_dim]."""
        import torch

        layers = self._torch_layers()
        act = torch.relu if self.activation == "relu" else torch.tanh
        n_hidden = len(self.hidden)
        with torch.no_grad():
            h = torch.from_numpy(np.ascontiguousarray(self.normalize(obs)))
            for w, b in layers[:n_hidden]:
                h = act(torch.addmm(b, h, w))
            mean = torch.addmm(layers[n_hidden][1], h, layers[n_hidden][0])
            if isinstance(self.log_std, tuple):
                log_std = torch.addmm(layers[-1][1], h, layers[-1][0]).clamp(LOG_STD_MIN, LOG_STD_MAX).numpy()
            else:
                log_std = np.broadcast_to(self.log_std, mean.shape)
        return mean.numpy(), np.exp(log_std).astype(np.float32)

    def squash_action(self, pre: np.ndarray) -> np.ndarray:
        return np.tanh(pre) if self.squash == "tanh" else np.clip(pre, -1.0, 1.0)

    def act(
        self,
        obs: np.ndarray,
        noise: np.ndarray | None = None,
        uniform: np.ndarray | None = None,
        random_bins: np.ndarray | None = None,
    ) -> np.ndarray:
        """Bins int64 [B, act_dim] for obs [B, obs_dim].

        ``noise`` (standard normal [B, act_dim]) samples the Gaussian; None acts greedily (tanh of the mean).
        ``uniform`` ([B] in [0,1)) and ``random_bins`` ([B, act_dim]) apply epsilon-random steps; the caller draws
        them so that every response owns its random stream (results independent of batching).
        """
        mean, std = self.distribution(obs)
        pre = mean if noise is None else mean + std * noise
        bins = to_bins(self.squash_action(pre), self.n_bins)
        if self.epsilon > 0.0 and uniform is not None:
            take = uniform < self.epsilon
            bins[take] = random_bins[take]
        return bins

    def act_rng(self, obs: np.ndarray, rng: np.random.Generator, greedy: bool = False) -> np.ndarray:
        """Convenience: draw the noise from one generator (evaluation, not dataset building)."""
        b = obs.shape[0]
        noise = None if greedy else rng.standard_normal((b, self.act_dim)).astype(np.float32)
        return self.act(obs, noise, rng.random(b), rng.integers(0, self.n_bins, (b, self.act_dim)))


def list_levels(env: str) -> list[str]:
    """Shipped levels of an environment, weakest first (as ordered in its index.json)."""
    get_env_spec(env)
    index = assets_dir() / env / "index.json"
    if not index.exists():
        return []
    return list(json.loads(index.read_text())["levels"])


def level_info(env: str, level: str) -> dict[str, Any]:
    path = assets_dir() / env / f"{level}.json"
    if not path.exists():
        raise DataError(
            f"no behaviour level {level!r} for {env}; shipped: {', '.join(list_levels(env)) or 'none'}"
        )
    return json.loads(path.read_text())


def load_behaviour(env: str, level: str) -> BehaviourPolicy:
    """Load a shipped level (numpy + torch, no RL library)."""
    info = level_info(env, level)
    with np.load(assets_dir() / env / info["weights"]) as data:
        arrays = {k: data[k] if data[k].dtype.kind == "U" else data[k].astype(np.float32) for k in data.files}
    return BehaviourPolicy.from_arrays(
        env,
        level,
        arrays,
        epsilon=float(info.get("epsilon", 0.0)),
        n_bins=int(info.get("n_bins", N_BINS)),
        info=info,
    )


def assets_fingerprint(env: str) -> str:
    """SHA-256 over the shipped files of an environment: dataset caches built from other policies are stale."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((assets_dir() / env).glob("*")):
        if path.suffix in (".npz", ".json") and path.name != "index.json":
            digest.update(path.name.encode())
            if path.suffix == ".npz":
                digest.update(path.read_bytes())
            else:  # measured returns may be re-measured without changing the policy
                info = json.loads(path.read_text())
                digest.update(json.dumps({k: info.get(k) for k in ("weights", "epsilon", "n_bins")}).encode())
    return digest.hexdigest()
