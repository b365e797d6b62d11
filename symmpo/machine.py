"""Which machine computed a number: CPU model, the vector instructions torch dispatched to, torch's version.

Why: the same training with the same seed gives the same numbers on one machine (tested), but not across CPUs.
MKL and torch's kernels take other code paths on other instruction sets, and an RL rollout amplifies the last-bit
differences: suite-v3 rows computed on two machines differ by 0.3-1.4 points per seed (docs/benchmark.md,
"Reproducibility"). Every study invocation and every search generation records this fingerprint, so a report can
say when its rows come from more than one kind of machine.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """``AMD EPYC · AVX512 · torch 2.13.0+cpu``: CPU model, torch's CPU capability, torch version."""
    import torch

    return " · ".join((_cpu_model(), torch.backends.cpu.get_cpu_capability(), f"torch {torch.__version__}"))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"
