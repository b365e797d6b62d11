"""``symmpo show NAME|FILE [--latex]``: an objective's components, constants and (optionally) LaTeX; for a plain
baseline (outside the MPO family), what it is and that it has no formula."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="show a named objective or an objective file")
    p.add_argument("objective", help="a name (dpo, ipo, simpo, orpo, ...) or an objective YAML file")
    p.add_argument(
        "--latex", action="store_true", help="also print the whole loss and its components as LaTeX"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.commands._objectives import resolve

    obj = resolve(args.objective)
    if not obj.is_symbolic and getattr(obj, "family", None) == "plain":
        return _show_plain(obj, args.latex)
    f = obj.formulas()
    grain = ", granularity=token" if getattr(obj, "granularity", "sequence") == "token" else ""
    print(
        f"objective {obj.name}: beta={obj.beta:g}, reduce={obj.reduce}{grain}, needs lengths: {obj.needs_lengths}"
    )
    print(f"  phi_inv(p) = {f['phi_inv']}")
    print(f"  psi(p)     = {'phi_inv(p) (tied)' if obj.psi_tied else f['psi']}")
    print(f"  g(z)       = {f['g']}")
    print(f"  w_po(tau)  = {f['w_po']}")
    print(f"  w_sft(tau) = {f['w_sft']}")
    for name, (kind, value) in obj.constant_specs().items():
        print(f"  constant {name} = {value:.6g} ({kind})")
    print(f"  key {obj.canonical_key()}")
    if args.latex:
        print()
        print(obj.latex())
        for k, tex in obj.component_latex().items():
            print(f"% {k}: {tex}")
    return 0


def _show_plain(obj: Any, latex: bool) -> int:
    """A plain baseline has no components: say so, with its parameters and what it is."""
    if latex:
        obj.latex()  # the one-line ObjectiveError: no formula to write
    params = ", ".join(f"{k}={v:g}" for k, v in obj.params.items())
    print(f"objective {obj.name}: {obj.description}")
    print(f"  parameters: {params or 'none'}; needs lengths: {obj.needs_lengths}")
    print(
        "  not a formula: never sampled by a grammar, no LaTeX or MPO export (`symmpo export --format torch`"
    )
    print("  prints its torch code)")
    print(f"  key {obj.canonical_key()}")
    return 0
