"""``symmpo grammar check FILE`` and ``symmpo grammar sample FILE -n 5 --seed 0``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grammar", help="check a grammar file or sample objectives from it")
    gs = p.add_subparsers(dest="grammar_command", metavar="ACTION", required=True)
    c = gs.add_parser("check", help="load and type-check a grammar (names the faulty rule)")
    c.add_argument("grammar", help="grammar YAML file or shipped name (mirror, mirror.yaml, ta_mirror)")
    c.set_defaults(func=run_check)
    s = gs.add_parser("sample", help="print random objectives with their LaTeX")
    s.add_argument("grammar")
    s.add_argument("-n", type=int, default=5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--yaml", action="store_true", help="print each sample in the objective-file format")
    s.set_defaults(func=run_sample)


def run_check(args: argparse.Namespace) -> int:
    from symmpo.symbolic.grammar import Grammar

    g = Grammar.load(args.grammar)
    print(g.describe())
    print("grammar OK")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import yaml

    from symmpo.objective import sample_objective
    from symmpo.symbolic.grammar import Grammar

    g = Grammar.load(args.grammar)
    rng = np.random.default_rng(args.seed)
    for i in range(args.n):
        obj = sample_objective(g, rng, name=f"{g.name}-s{args.seed}-{i}")
        print(f"# {obj.name}  (size {obj.size()}, key {obj.canonical_key()})")
        if args.yaml:
            print(yaml.safe_dump(obj.to_dict(), sort_keys=False).rstrip())
        else:
            f = obj.formulas()
            psi = "phi_inv (tied)" if obj.psi_tied else f["psi"]
            print(
                f"phi_inv = {f['phi_inv']}; psi = {psi}; g = {f['g']}; w_po = {f['w_po']}; "
                f"w_sft = {f['w_sft']}; beta = {obj.beta:.4g}; reduce = {obj.reduce}"
                + ("; granularity = token" if obj.granularity == "token" else "")
            )
        print(f"$$ {obj.latex()} $$")
        print()
    return 0
