"""A population of categorical MLP policies stored as stacked parameters.

Every parameter tensor has a leading population axis ``P``, so P policies run in one batched pass
(``torch.baddbmm``) instead of P small ones: that is what makes training many candidate losses at once
cheap on a CPU. A single policy is simply ``P = 1``; there is no second code path to keep in sync.

Actions are factorized categoricals: one softmax over ``K`` bins per action dimension, so the log-probability
of a response is a true log-probability, summed over its steps and action dimensions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from symmpo.suite.types import SIDES, PreferenceDataset, Responses

MEMBER_CHUNK = 2  # members per batched pass in training; see PolicyPopulation.step_logps


@dataclass(frozen=True)
class PolicySpec:
    """Shape of one policy; two policies with equal specs can share a population."""

    obs_dim: int
    act_dim: int
    n_bins: int
    hidden: tuple[int, ...] = (64, 64)

    def layer_sizes(self) -> list[tuple[int, int]]:
        sizes = [self.obs_dim, *self.hidden, self.act_dim * self.n_bins]
        return list(zip(sizes[:-1], sizes[1:], strict=True))


def obs_normalizer(dataset: PreferenceDataset) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of every real (unpadded) observation of the dataset, chosen and rejected."""
    obs = real_observations(dataset).astype(np.float64)
    mean = obs.mean(0)
    std = np.maximum(obs.std(0), 1e-3)  # constant features (a fixed joint) must not blow up
    return mean.astype(np.float32), std.astype(np.float32)


def real_observations(dataset: PreferenceDataset) -> np.ndarray:
    """Every real (unpadded) observation of the dataset: the chosen side's, then the rejected side's."""
    return np.concatenate([packed_rows(side.obs, side.length) for side in map(dataset.side, SIDES)])


def packed_rows(padded: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[N, H, ...]`` padded responses → ``[sum(lengths), ...]`` real steps, response after response."""
    mask = np.arange(padded.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return padded[mask]


class PolicyPopulation:
    """P categorical MLP policies with stacked parameters ``[P, in, out]`` / ``[P, 1, out]``.

    ``params`` is a flat list (weight, bias, weight, bias, ...); the trainer's optimizer works on it directly.
    Observations are normalized with a fixed mean/std from the dataset (shared by all members).
    """

    def __init__(self, spec: PolicySpec, params: list[Tensor], obs_mean: Tensor, obs_std: Tensor):
        self.spec = spec
        self.params = params
        self.obs_mean = obs_mean
        self.obs_std = obs_std

    # ----------------------------------------------------------------- construction
    @classmethod
    def init(
        cls, spec: PolicySpec, n: int, obs_mean: np.ndarray, obs_std: np.ndarray, generator: torch.Generator
    ) -> PolicyPopulation:
        """Fresh random members (PyTorch's default Linear init: U(±1/sqrt(fan_in)))."""
        params: list[Tensor] = []
        for fan_in, fan_out in spec.layer_sizes():
            bound = 1.0 / np.sqrt(fan_in)
            w = (torch.rand(n, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(n, 1, fan_out, generator=generator) * 2 - 1) * bound
            params += [w, b]
        return cls(spec, params, torch.as_tensor(obs_mean), torch.as_tensor(obs_std))

    @property
    def size(self) -> int:
        return int(self.params[0].shape[0])

    def replicate(self, n: int) -> PolicyPopulation:
        """n copies of member 0 (every PO candidate starts from the reference policy)."""
        params = [p[:1].detach().expand(n, *p.shape[1:]).clone() for p in self.params]
        return PolicyPopulation(self.spec, params, self.obs_mean, self.obs_std)

    def select(self, idx: list[int] | Tensor) -> PolicyPopulation:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return PolicyPopulation(
            self.spec, [p.detach()[idx].clone() for p in self.params], self.obs_mean, self.obs_std
        )

    def state_dict(self) -> dict[str, Tensor]:
        out = {f"p{i}": p.detach().clone() for i, p in enumerate(self.params)}
        out["obs_mean"], out["obs_std"] = self.obs_mean, self.obs_std
        return out

    @classmethod
    def from_state_dict(cls, spec: PolicySpec, state: dict[str, Tensor]) -> PolicyPopulation:
        n = 2 * len(spec.layer_sizes())
        return cls(spec, [state[f"p{i}"] for i in range(n)], state["obs_mean"], state["obs_std"])

    # ----------------------------------------------------------------- forward
    def normalize(self, obs: Tensor) -> Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def logits(self, x: Tensor) -> Tensor:
        """Normalized observations → logits ``[P, M, act_dim, K]``.

        ``x`` is ``[M, obs_dim]`` (the same rows for every member: the training case) or ``[P, M, obs_dim]``
        (each member its own rows: the evaluation case, where trajectories diverge).
        """
        w0, b0 = self.params[0], self.params[1]
        n = w0.shape[0]
        # a shared input is broadcast (stride 0, no copy): every layer is then one batched GEMM with the bias
        # fused in, and every activation is contiguous [P, M, h]
        h = torch.baddbmm(b0, x.expand(n, *x.shape) if x.dim() == 2 else x, w0)
        for i in range(2, len(self.params), 2):
            h = torch.relu_(
                h
            )  # in place: one large allocation less per layer (the GEMM's output is not saved)
            h = torch.baddbmm(self.params[i + 1], h, self.params[i])
        return h.view(n, h.shape[1], self.spec.act_dim, self.spec.n_bins)

    def step_logps(self, x: Tensor, act: Tensor, compiled: bool = False, per_dim: bool = False) -> Tensor:
        """log π(a_t|s_t) summed over action dimensions, per step: ``[P, M]``. ``act`` is ``[M, act_dim]``.
        ``per_dim``: one log-prob per action dimension (a token of a granularity=token objective), ``[P, M, D]``
        (never compiled).

        Members are processed ``MEMBER_CHUNK`` at a time (still one autograd graph, one backward): with
        thousands of rows, all P members' activations at once fall out of the CPU cache; chunks of 2 members
        measured ~10% faster than chunks of 4 and ~20% faster than one [P, M, h] pass
        (benchmarks/bench_trainer.py). ``compiled``: each chunk through ``torch.compile`` (inductor's fused
        kernels; same values up to float rounding, see :func:`compiled_chunk_logps`).
        """
        n = self.size
        compiled = compiled and not per_dim  # the compiled chunk sums over dimensions; per_dim runs eagerly
        if n <= MEMBER_CHUNK and not compiled:
            return self._step_logps(x, act, per_dim)
        parts = []
        for s in range(0, n, MEMBER_CHUNK):
            chunk = [p[s : s + MEMBER_CHUNK] for p in self.params]
            if compiled:
                parts.append(compiled_chunk_logps()(x, act, self.spec.act_dim, self.spec.n_bins, *chunk))
            else:
                sub = PolicyPopulation(self.spec, chunk, self.obs_mean, self.obs_std)
                parts.append(sub._step_logps(x, act, per_dim))
        return torch.cat(parts)

    def _step_logps(self, x: Tensor, act: Tensor, per_dim: bool = False) -> Tensor:
        logits = self.logits(x)
        idx = act.unsqueeze(0).unsqueeze(-1).expand(logits.shape[0], -1, -1, 1)
        out = ChosenLogProb.apply(logits, idx)
        return out if per_dim else out.sum(-1)

    @torch.no_grad()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        """Greedy bins per dimension for raw observations ``[P, E, obs_dim]`` → int64 ``[P, E, act_dim]``."""
        x = self.normalize(torch.as_tensor(obs, dtype=torch.float32))
        return self.logits(x).argmax(-1).numpy()


class ChosenLogProb(torch.autograd.Function):
    """log softmax(logits)[idx] over the last axis, with a backward written for it.

    Autograd's ``gather - logsumexp`` makes about eight passes over the ``[P, M, act_dim, K]`` logits (max,
    shift, exp, sum, log, and a shift, exp and product again in backward); here forward keeps the shifted
    exponentials and backward is one product and a scatter: about a fifth of a training step less
    (benchmarks/bench_trainer.py). Same value as ``log_softmax(logits).gather(idx)``.
    """

    @staticmethod
    def forward(ctx: Any, logits: Tensor, idx: Tensor) -> Tensor:
        top = logits.amax(-1, keepdim=True)
        e = (logits - top).exp_()
        total = e.sum(-1, keepdim=True)
        ctx.save_for_backward(e, total, idx)
        return (logits.gather(-1, idx) - top - total.log()).squeeze(-1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        e, total, idx = ctx.saved_tensors
        grad = grad.unsqueeze(-1)
        out = e * (-grad / total)  # −grad · softmax
        return out.scatter_add_(-1, idx, grad), None


def chunk_logps(x: Tensor, act: Tensor, act_dim: int, n_bins: int, *params: Tensor) -> Tensor:
    """:meth:`PolicyPopulation._step_logps` as a function of tensors only (what ``torch.compile`` traces):
    the MLP of a chunk of members on shared rows, then the chosen actions' log-probabilities."""
    n = params[0].shape[0]
    h = torch.baddbmm(params[1], x.expand(n, *x.shape), params[0])
    for i in range(2, len(params), 2):
        h = torch.baddbmm(params[i + 1], torch.relu(h), params[i])
    logits = h.view(n, h.shape[1], act_dim, n_bins)
    idx = act.unsqueeze(0).unsqueeze(-1).expand(n, -1, -1, 1)
    return ChosenLogProb.apply(logits, idx).sum(-1)


@functools.cache
def compiled_chunk_logps() -> Any:
    """:func:`chunk_logps` compiled once per process by inductor, with the row count dynamic (every minibatch
    has its own). Not bit-identical to eager: fused kernels round in another order (benchmarks/bench_trainer.py
    measures the difference)."""
    return torch.compile(chunk_logps, dynamic=True)


@dataclass
class PackedResponses:
    """All responses of one side (chosen or rejected) of a dataset, packed step after step.

    Packing drops the padding once, up front, so the trainer never spends compute on padded steps;
    ``offsets[i]`` is where response i starts.
    """

    obs: Tensor  # float32 [S, obs_dim], normalized
    act: Tensor  # int64 [S, act_dim]
    lengths: np.ndarray  # int64 [N]
    offsets: np.ndarray  # int64 [N]

    @classmethod
    def build(cls, side: Responses, mean: np.ndarray, std: np.ndarray) -> PackedResponses:
        """One side of a dataset packed, its observations normalized with ``mean`` and ``std``."""
        lengths = np.asarray(side.length, dtype=np.int64)
        rows = (packed_rows(side.obs, lengths).astype(np.float32) - mean) / std
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(
            torch.from_numpy(np.ascontiguousarray(rows)),
            torch.from_numpy(packed_rows(side.act, lengths).astype(np.int64)),
            lengths,
            offsets,
        )

    def rows_of(self, idx: np.ndarray) -> np.ndarray:
        """Row indices of the steps of responses ``idx``, in order (vectorized ragged gather)."""
        lens = self.lengths[idx]
        starts = self.offsets[idx]
        shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
        return shift + np.arange(int(lens.sum()))


@dataclass
class PairBatch:
    """One minibatch of pairs, chosen and rejected steps concatenated for a single forward pass."""

    obs: Tensor  # [M, obs_dim]
    act: Tensor  # [M, act_dim]
    segment: Tensor  # [M] response id: 0..B-1 chosen, B..2B-1 rejected
    n_pairs: int
    len_chosen: Tensor  # float32 [B]
    len_rejected: Tensor  # float32 [B]


def make_batch(chosen: PackedResponses, rejected: PackedResponses, idx: np.ndarray) -> PairBatch:
    rows_chosen = torch.from_numpy(chosen.rows_of(idx))
    rows_rejected = torch.from_numpy(rejected.rows_of(idx))
    b = len(idx)
    len_chosen, len_rejected = chosen.lengths[idx], rejected.lengths[idx]
    segment = np.concatenate(
        [np.repeat(np.arange(b), len_chosen), np.repeat(np.arange(b, 2 * b), len_rejected)]
    )
    return PairBatch(
        obs=torch.cat([chosen.obs[rows_chosen], rejected.obs[rows_rejected]]),
        act=torch.cat([chosen.act[rows_chosen], rejected.act[rows_rejected]]),
        segment=torch.from_numpy(segment),
        n_pairs=b,
        len_chosen=torch.from_numpy(len_chosen.astype(np.float32)),
        len_rejected=torch.from_numpy(len_rejected.astype(np.float32)),
    )


def response_logps(
    policy: PolicyPopulation, batch: PairBatch, compiled: bool = False
) -> tuple[Tensor, Tensor]:
    """Summed log-probs of the batch's chosen and rejected responses under every member: two ``[P, B]``."""
    step = policy.step_logps(batch.obs, batch.act, compiled)
    total = step.new_zeros(step.shape[0], 2 * batch.n_pairs).index_add_(1, batch.segment, step)
    return total[:, : batch.n_pairs], total[:, batch.n_pairs :]


@dataclass
class TokenLogps:
    """Log-probs of a batch per token (one action dimension of one step), for granularity=token objectives.

    ``chosen``/``rejected``: ``[P, B, T]`` padded with 0, step after step and dimension after dimension within
    a step (T = the longest response's steps x act_dim); ``len_chosen``/``len_rejected``: tokens per response
    (steps x act_dim), which give the token masks. ``sum_chosen``/``sum_rejected``: the summed ``[P, B]`` log-probs
    from the same forward pass (what sequence objectives read), equal to :func:`response_logps`'s.
    """

    chosen: Tensor
    rejected: Tensor
    len_chosen: Tensor
    len_rejected: Tensor
    sum_chosen: Tensor
    sum_rejected: Tensor


def response_token_logps(policy: PolicyPopulation, batch: PairBatch) -> TokenLogps:
    """Per-token log-probs of the batch's responses under every member (one forward pass, as
    :func:`response_logps`, which stays the path of populations without a token objective)."""
    per_dim = policy.step_logps(
        batch.obs, batch.act, per_dim=True
    )  # [P, M, D]; eager even with config.compile
    n, m, d = per_dim.shape
    b = batch.n_pairs
    step = per_dim.sum(-1)
    total = step.new_zeros(n, 2 * b).index_add_(1, batch.segment, step)
    lens = torch.cat([batch.len_chosen, batch.len_rejected]).long()
    starts = torch.cumsum(lens, 0) - lens
    pos = torch.arange(m) - starts[batch.segment]  # step index within its response
    t = int(lens.max()) * d if m else 0
    flat = (batch.segment * t + pos * d).unsqueeze(1) + torch.arange(d)  # [M, D]
    padded = per_dim.new_zeros(n, 2 * b * t).index_copy(1, flat.reshape(-1), per_dim.reshape(n, m * d))
    padded = padded.view(n, 2 * b, t)
    tokens = lens.to(per_dim.dtype) * d
    return TokenLogps(padded[:, :b], padded[:, b:], tokens[:b], tokens[b:], total[:, :b], total[:, b:])
