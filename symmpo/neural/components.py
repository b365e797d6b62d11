"""Neural MPO components that are valid by construction, parameterized by one flat vector (for ES).

* φ⁻¹(p) = a·log p + m(p), a = softplus(·) > 0 and m a monotone non-decreasing *bounded* network of p
  (positive weights, tanh). So φ⁻¹ is strictly increasing (a·log p is, m does not decrease), → −∞ at 0⁺
  (m is bounded) and integrable on (0, 1] (|φ⁻¹| ≤ a|log p| + sup|m|, and log p is integrable).
* g(z) = c·logsigmoid(z) + n(z), c = softplus(·) ≥ 0 and n a monotone non-decreasing network of z:
  non-decreasing in z. The logsigmoid skip term lets the search start at DPO (n ≈ 0 at initialization)
  and explore around it; the network can still cancel it (c → 0) and learn any monotone shape.
* ψ: ``tied`` (ψ = φ⁻¹, mirror-consistent), ``zero`` (reference-free) or ``free`` (a second φ⁻¹-type
  network, which is non-decreasing as ψ must be).
* τ (temporally aware): τ enters the first hidden layer with a *free* weight, the main argument with a
  positive one, so each component stays monotone in its argument for every τ.
* The imitation weight (``sft``, optional): w_sft = softplus(θ) ≥ 0, one more parameter, started at 0.05 (near
  DPO's 0). The grammar's objectives have it; without it a neural run could not find the NLL anchor that the
  symbolic searches on suite v3 all chose, so symbolic and neural searches would not explore the same family.

A monotone network: h₀ = x; h_{k+1} = tanh(softplus(W_k) h_k + b_k (+ u_k τ)); out = softplus(w)·h + b.
Positive weights and increasing activations compose to a non-decreasing map; tanh keeps it bounded.
"""

from __future__ import annotations

import hashlib
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from symmpo.errors import ObjectiveError
from symmpo.symbolic import limits

FORMAT = "symmpo-neural/1"
PSI_MODES = ("tied", "zero", "free")
_SOFTPLUS_INV_1 = math.log(math.e - 1.0)  # softplus(this) == 1
SFT_INIT = 0.05  # the imitation weight a neural run starts from (near DPO's 0)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    return F.softplus(x)


@dataclass(frozen=True)
class MonotoneNet:
    """Shapes of one monotone network of a scalar input (plus an optional τ input).

    ``input_scale`` maps the input to the range where tanh units are useful (1 for p ∈ (0, 1], a few
    units of z for g); it is a fixed architecture choice, not a parameter.
    """

    hidden: tuple[int, ...] = (8,)
    tau: bool = False
    input_scale: float = 1.0

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        out: list[tuple[str, tuple[int, ...]]] = []
        fan_in = 1
        for k, h in enumerate(self.hidden):
            out.append((f"W{k}", (h, fan_in)))  # positive (softplus)
            out.append((f"b{k}", (h,)))
            if self.tau and k == 0:
                out.append(("u0", (h,)))  # free: monotone only in the main argument
            fan_in = h
        out.append(("w_out", (fan_in,)))  # positive (softplus)
        out.append(("b_out", (1,)))
        return out

    @property
    def size(self) -> int:
        return sum(int(np.prod(s)) for _, s in self.shapes())

    def init(self, rng: np.random.Generator, out_raw: float = -3.0) -> np.ndarray:
        """Raw parameters: tanh units spread over the input range; small output (residual starts near 0)."""
        parts = []
        fan_in = 1
        for _k, h in enumerate(self.hidden):
            # softplus(raw) ≈ weight; spread breakpoints b over the (scaled) input range
            parts.append(rng.normal(0.5, 0.5, size=(h, fan_in)).ravel() - math.log(fan_in))
            parts.append(rng.uniform(-2.0, 2.0, size=h) if fan_in == 1 else rng.normal(0.0, 0.5, size=h))
            if self.tau and _k == 0:
                parts.append(rng.normal(0.0, 0.5, size=h))
            fan_in = h
        parts.append(rng.normal(out_raw, 0.5, size=fan_in))
        parts.append(np.zeros(1))
        return np.concatenate(parts).astype(np.float64)

    def unpack(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        out, i = {}, 0
        for name, shape in self.shapes():
            n = int(np.prod(shape))
            out[name] = theta[i : i + n].reshape(shape)
            i += n
        return out

    def forward(self, params: Mapping[str, torch.Tensor], x: torch.Tensor, tau: Any) -> torch.Tensor:
        """Non-decreasing in x for every τ; bounded by Σ softplus(w_out) + |b_out|."""
        h = (x * self.input_scale).unsqueeze(-1)
        for k in range(len(self.hidden)):
            pre = h @ _softplus(params[f"W{k}"]).T + params[f"b{k}"]
            if self.tau and k == 0:
                t = torch.as_tensor(tau, dtype=x.dtype, device=x.device)
                pre = pre + t.unsqueeze(-1) * params["u0"] if t.dim() > 0 else pre + t * params["u0"]
            h = torch.tanh(pre)
        return h @ _softplus(params["w_out"]) + params["b_out"][0]

    def to_dict(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden), "tau": self.tau, "input_scale": self.input_scale}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MonotoneNet:
        return cls(
            tuple(int(h) for h in d["hidden"]), bool(d.get("tau", False)), float(d.get("input_scale", 1.0))
        )


class _Component:
    """Shared plumbing: a view on a slice of the flat vector, cached as tensors per dtype."""

    def __init__(self, theta: np.ndarray):
        self.theta = np.asarray(theta, dtype=np.float64)
        self._cache: dict[Any, torch.Tensor] = {}

    def _t(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = torch.as_tensor(self.theta, dtype=like.dtype, device=like.device)
        return self._cache[key]


class NeuralPhiInv(_Component):
    """φ⁻¹(p) = softplus(θ_a)·log p + m(p); reads L = log p (the compiler's convention). Also used for a free ψ."""

    def __init__(self, net: MonotoneNet, theta: np.ndarray, symbol: str = r"\varphi^{-1}"):
        super().__init__(theta)
        if self.theta.shape != (net.size + 1,):
            raise ObjectiveError(
                f"neural phi_inv: expected {net.size + 1} parameters, got {self.theta.shape}"
            )
        self.net = net
        self.symbol = symbol

    @property
    def slope(self) -> float:
        """a, the coefficient of log p (> 0)."""
        return float(F.softplus(torch.tensor(self.theta[0])))

    def torch_fn(self, x: Any, tau: Any) -> torch.Tensor:
        x = torch.as_tensor(x)
        t = self._t(x)
        p = torch.exp(torch.clamp(x, max=0.0))
        return _softplus(t[0]) * x + self.net.forward(self.net.unpack(t[1:]), p, tau)

    def latex(self) -> str:
        args = r"p, \tau" if self.net.tau else "p"
        return rf"{self.slope:.3g}\,\log p + m_\theta({args})"

    @property
    def validity(self) -> dict[str, bool]:
        return {"strictly increasing": True, "-inf at 0+": True, "integrable": True}


class NeuralG(_Component):
    """g(z) = softplus(θ_c)·logsigmoid(z) + n(z): non-decreasing in z."""

    def __init__(self, net: MonotoneNet, theta: np.ndarray):
        super().__init__(theta)
        if self.theta.shape != (net.size + 1,):
            raise ObjectiveError(f"neural g: expected {net.size + 1} parameters, got {self.theta.shape}")
        self.net = net

    @property
    def skip(self) -> float:
        return float(F.softplus(torch.tensor(self.theta[0])))

    def torch_fn(self, x: Any, tau: Any) -> torch.Tensor:
        x = torch.as_tensor(x)
        t = self._t(x)
        return _softplus(t[0]) * F.logsigmoid(x) + self.net.forward(self.net.unpack(t[1:]), x, tau)

    def latex(self) -> str:
        args = r"z, \tau" if self.net.tau else "z"
        return rf"{self.skip:.3g}\,\log\sigma(z) + n_\theta({args})"

    @property
    def validity(self) -> dict[str, bool]:
        return {"non-decreasing in z": True}


@dataclass(frozen=True)
class NeuralArch:
    """The architecture of a neural objective: which components are networks and their shapes."""

    phi_hidden: tuple[int, ...] = (8,)
    g_hidden: tuple[int, ...] = (8,)
    psi: str = "tied"
    tau: bool = False
    g_scale: float = 0.5  # z is spread over a few units; tanh units see z * g_scale
    beta: float = 0.1
    reduce: str = "sum"
    sft: bool = False  # learn an imitation (NLL) weight w_sft = softplus(θ) ≥ 0

    def __post_init__(self) -> None:
        if self.psi not in PSI_MODES:
            raise ObjectiveError(f"neural psi must be one of {', '.join(PSI_MODES)}, got {self.psi!r}")
        if self.reduce not in ("sum", "mean"):
            raise ObjectiveError(f"reduce must be 'sum' or 'mean', got {self.reduce!r}")

    @property
    def phi_net(self) -> MonotoneNet:
        return MonotoneNet(self.phi_hidden, self.tau, 1.0)

    @property
    def g_net(self) -> MonotoneNet:
        return MonotoneNet(self.g_hidden, self.tau, self.g_scale)

    def blocks(self) -> list[tuple[str, int]]:
        """(component, number of parameters) in flat-vector order."""
        out = [("phi_inv", self.phi_net.size + 1)]
        if self.psi == "free":
            out.append(("psi", self.phi_net.size + 1))
        out.append(("g", self.g_net.size + 1))
        if self.sft:
            out.append(("w_sft", 1))
        return out

    @property
    def size(self) -> int:
        return sum(n for _, n in self.blocks())

    def split(self, theta: Sequence[float]) -> dict[str, np.ndarray]:
        theta = np.asarray(theta, dtype=np.float64).ravel()
        if theta.shape[0] != self.size:
            raise ObjectiveError(f"neural objective: expected {self.size} parameters, got {theta.shape[0]}")
        out, i = {}, 0
        for name, n in self.blocks():
            out[name] = theta[i : i + n]
            i += n
        return out

    def init(self, seed: int) -> np.ndarray:
        """Deterministic initial vector: φ⁻¹ ≈ log p, g ≈ logsigmoid (DPO) plus small monotone residuals."""
        rng = np.random.default_rng(seed)
        parts = []
        for name, _ in self.blocks():
            if name == "w_sft":
                parts.append(np.array([math.log(math.expm1(SFT_INIT))]))  # softplus(this) == SFT_INIT
                continue
            net = self.g_net if name == "g" else self.phi_net
            parts.append(np.concatenate([[_SOFTPLUS_INV_1], net.init(rng)]))
        return np.concatenate(parts)

    def sft_weight(self, theta: Sequence[float]) -> float:
        """The imitation weight at ``theta`` (0 without ``sft``)."""
        if not self.sft:
            return 0.0
        return float(F.softplus(torch.tensor(self.split(theta)["w_sft"][0], dtype=torch.float64)))

    def objective(self, theta: Sequence[float], name: str = "neural") -> Any:
        """An :class:`~symmpo.Objective` whose components are these networks at ``theta``."""
        from symmpo.objective import Objective
        from symmpo.symbolic.expr import Const

        parts = self.split(theta)
        phi = NeuralPhiInv(self.phi_net, parts["phi_inv"])
        psi: Any = Const(0.0)
        if self.psi == "free":
            psi = NeuralPhiInv(self.phi_net, parts["psi"], symbol=r"\psi")
        g = NeuralG(self.g_net, parts["g"])
        w_sft = Const(self.sft_weight(theta)) if self.sft else None  # the network's value, fixed
        return Objective(
            phi,
            psi,
            g,
            w_sft=w_sft,
            beta=self.beta,
            reduce=self.reduce,
            name=name,
            psi_tied=self.psi == "tied",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "phi_hidden": list(self.phi_hidden),
            "g_hidden": list(self.g_hidden),
            "psi": self.psi,
            "tau": self.tau,
            "g_scale": self.g_scale,
            "beta": self.beta,
            "reduce": self.reduce,
            **({"sft": True} if self.sft else {}),  # absent when off: older runs' files and digests unchanged
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NeuralArch:
        known = {"phi_hidden", "g_hidden", "psi", "tau", "g_scale", "beta", "reduce", "sft"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ObjectiveError(f"neural architecture: unknown key(s) {', '.join(unknown)}")
        return cls(
            tuple(int(h) for h in d.get("phi_hidden", (8,))),
            tuple(int(h) for h in d.get("g_hidden", (8,))),
            str(d.get("psi", "tied")),
            bool(d.get("tau", False)),
            float(d.get("g_scale", 0.5)),
            float(d.get("beta", 0.1)),
            str(d.get("reduce", "sum")),
            bool(d.get("sft", False)),
        )


@dataclass
class NeuralObjective:
    """Architecture + weights: what is stored, shipped to fitness workers and reloaded for distillation."""

    arch: NeuralArch
    theta: np.ndarray
    name: str = "neural"

    def objective(self) -> Any:
        return self.arch.objective(self.theta, self.name)

    def components(self) -> dict[str, Any]:
        """The learned component objects (φ⁻¹, ψ when free, g)."""
        comps = self.objective().components
        out = {"phi_inv": comps["phi_inv"], "g": comps["g"]}
        if self.arch.psi == "free":
            out["psi"] = comps["psi"]
        return out

    def digest(self) -> str:
        """Exact identity of architecture and weights (the fitness cache key)."""
        h = hashlib.sha256(repr(sorted(self.arch.to_dict().items())).encode())
        h.update(np.ascontiguousarray(self.theta, dtype=np.float64).tobytes())
        return h.hexdigest()[:16]

    # -- in-memory dicts (fitness jobs, checkpoints): JSON-able, exact (float64 repr round-trips) ----
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "arch": self.arch.to_dict(),
            "theta": self.theta.tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NeuralObjective:
        if d.get("format") != FORMAT:
            raise ObjectiveError(f"not a neural objective (format {d.get('format')!r}, expected {FORMAT})")
        arch = NeuralArch.from_dict(d["arch"])
        theta = np.asarray(d["theta"], dtype=np.float64)
        arch.split(theta)  # checks the length
        return cls(arch, theta, str(d.get("name", "neural")))

    # -- files: YAML (architecture, metadata) + npz (weights) ----------------------------------------
    def save(self, path: str | Path, extra: Mapping[str, Any] | None = None) -> Path:
        """Write ``path`` (.yaml) and its weights next to it (.npz); returns the YAML path."""
        from symmpo.files import atomic_write_bytes, atomic_write_text, dump_yaml

        path = Path(path).with_suffix(".yaml")
        weights = path.with_suffix(".npz")
        import io

        buf = io.BytesIO()
        np.savez(buf, theta=self.theta)
        atomic_write_bytes(weights, buf.getvalue())
        meta = {
            "format": FORMAT,
            "name": self.name,
            "arch": self.arch.to_dict(),
            "weights": weights.name,
            "n_params": int(self.theta.size),
            "digest": self.digest(),
            **dict(extra or {}),
        }
        atomic_write_text(path, dump_yaml(meta))
        return path

    @classmethod
    def load(cls, path: str | Path) -> NeuralObjective:
        from symmpo.symbolic.safeyaml import load_file

        path = Path(path)
        meta = load_file(path, "neural objective file", ObjectiveError)  # bounded safe YAML
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ObjectiveError(f"{path}: not a neural objective file (format {FORMAT})")
        name = meta.get("weights")
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise ObjectiveError(f"{path}: 'weights' must name a file beside it, got {limits.shown(name)}")
        try:
            with np.load(path.parent / name, allow_pickle=False) as z:
                theta = np.asarray(z["theta"], dtype=np.float64)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            reason = getattr(err, "strerror", None) or str(err).split("\n")[0][:120]
            raise ObjectiveError(f"{path}: cannot read its weights {name}: {reason}") from None
        obj = cls(NeuralArch.from_dict(meta["arch"]), theta, str(meta.get("name", "neural")))
        if meta.get("digest") and meta["digest"] != obj.digest():
            raise ObjectiveError(
                f"{path}: weights do not match the recorded digest (file edited or mixed up)"
            )
        # the architecture makes a valid mirror map by construction; weights from a file are checked anyway
        # (non-finite or overflowing values), with the core checker's numeric tests
        from symmpo.neural.network_checks import check_neural

        bad = [f"{k}: {v.failures()[0].name}" for k, v in check_neural(obj).items() if not v.valid]
        if bad:
            raise ObjectiveError(
                f"{path}: the learned components fail the validity checks ({'; '.join(bad)})"
            )
        return obj


def load_objective(path: str | Path) -> Any:
    """An objective file of either kind as an Objective: neural (``symmpo-neural/1``: architecture here, weights
    next to it) or symbolic (the objective file format). Studies take both, so a search's best network can be
    judged beside the formula distilled from it."""
    from symmpo.objective import Objective
    from symmpo.objective import files as objective_files

    data = objective_files.read(path)  # bounded safe YAML, one-line error on a bad file
    if isinstance(data, Mapping) and data.get("format") == FORMAT:
        return NeuralObjective.load(path).objective()
    return Objective.from_dict(data, where=str(path))


def objective_from_any(d: Mapping[str, Any]) -> Any:
    """An Objective from a fitness-job dict: neural (``symmpo-neural/1``) or symbolic (objective file format)."""
    if d.get("format") == FORMAT:
        return NeuralObjective.from_dict(d).objective()
    from symmpo.objective import Objective

    return Objective.from_dict(d)
