"""Run plots: fitness per generation, and discovered φ⁻¹, ψ, g drawn against DPO's and ORPO's.

Component curves come from the search space (``space.curves``), which evaluates the compiled
components, so a plot shows exactly what was trained. τ-dependent (TA-MPO) components are drawn at
τ = 0 (dashed) and τ = 1 (solid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from symmpo.symbolic.component import COMPONENTS

P_GRID = np.logspace(-6, 0, 200)
Z_GRID = np.linspace(-6.0, 6.0, 200)
ALIGN = int(np.argmin(np.abs(P_GRID - 0.5)))
PLOTTED = [COMPONENTS[k] for k in ("phi_inv", "psi", "g")]  # the weights are not plotted


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fitness(history: Sequence[dict[str, Any]], path: Path) -> None:
    """Best and median fitness per generation, with DPO's fitness on the same seeds."""
    plt = _pyplot()
    gens = [h["generation"] for h in history]

    def clean(key: str) -> list[float]:
        return [h[key] if math.isfinite(h[key]) else np.nan for h in history]

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(gens, clean("best"), "o-", label="best of generation")
    ax.plot(gens, clean("median"), "s--", label="median of generation")
    ax.plot(gens, clean("hof_best"), "-", lw=2, alpha=0.6, label="best so far")
    ax.plot(gens, clean("reference"), "k:", label="DPO (same seeds)")
    ax.set_xlabel("generation")
    ax.set_ylabel("normalized score")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_components(space: Any, discovered: Sequence[Any], path: Path) -> None:
    """φ⁻¹, ψ, g of the hall-of-fame leaders against DPO and ORPO (φ⁻¹ and ψ shifted to 0 at p = 1/2)."""
    plt = _pyplot()
    baselines = [
        ("DPO", space.reference("dpo", beta=0.1), "k"),
        ("ORPO", space.reference("orpo"), "tab:gray"),
    ]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    entries = [(n, g, c) for n, g, c in baselines]
    entries += [(f"#{i + 1}", g, colors[i % len(colors)]) for i, g in enumerate(discovered)]
    for name, genome, color in entries:
        for tau, style in ((1.0, "-"), (0.0, "--")):
            curves = space.curves(genome, P_GRID, Z_GRID, tau)
            if tau == 0.0 and not curves.get("tau_dependent", False):
                continue
            for ax, comp in zip(axes, (c.name for c in PLOTTED), strict=True):
                y = np.asarray(curves[comp], dtype=float)
                if comp != "g" and np.isfinite(y[ALIGN]):
                    y = y - y[ALIGN]  # mirror maps are defined up to a constant: align at p = 1/2
                label = name if tau == 1.0 else f"{name} (τ=0)"
                ax.plot(P_GRID if comp != "g" else Z_GRID, y, style, color=color, label=label)
    for ax, spec in zip(axes, PLOTTED, strict=True):
        ax.set_title(spec.title)
        ax.set_xlabel(spec.var)
        if spec.name != "g":
            ax.set_xscale("log")
            ax.set_ylim(-15, 3)
        else:
            ax.set_ylim(-8, 2)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
