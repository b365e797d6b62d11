"""``symmpo export NAME|FILE --format torch|trl|latex``: paste-ready code or LaTeX."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export an objective as standalone PyTorch source, a TRL trainer file (torch and trl only) or LaTeX",
    )
    p.add_argument("objective", help="a name (dpo, ...) or an objective YAML file")
    p.add_argument("--format", choices=["torch", "trl", "latex"], default="torch")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument(
        "--allow-unproved",
        action="store_true",
        help="export code (torch, trl) for an objective whose components are not all proved valid",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.commands._objectives import resolve

    obj = resolve(args.objective)
    if args.format != "latex" and not args.allow_unproved:
        from symmpo.objective.component_checks import require_proved

        require_proved(obj, "--allow-unproved")
    if args.format == "trl":
        from symmpo.integrations.trl_export import trl_source

        text = trl_source(obj)
    else:
        text = obj.to_torch_source() if args.format == "torch" else obj.latex() + "\n"
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    else:
        print(text, end="")
    return 0
