"""``symmpo export NAME|FILE --format torch|latex``: paste-ready code or LaTeX."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export an objective as standalone PyTorch source or LaTeX")
    p.add_argument("objective", help="a name (dpo, ...) or an objective YAML file")
    p.add_argument("--format", choices=["torch", "latex"], default="torch")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.commands._objectives import resolve

    obj = resolve(args.objective)
    text = obj.to_torch_source() if args.format == "torch" else obj.latex() + "\n"
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    else:
        print(text, end="")
    return 0
