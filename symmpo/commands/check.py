"""``symmpo check FORMULA --component phi_inv|psi|g|w_po|w_sft``: validity verdict per property.

Each property is proved, not disproved (checked numerically; the reason says on which domain and how
densely) or invalid (with a witness). Exit status: 0 valid (proved or not disproved), 1 invalid, 2 when
the input is refused (cannot be parsed, or breaks a limit): 1 always means "invalid component".
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a component formula against the MPO validity conditions (proved / not disproved / invalid)",
        epilog='a formula may start with "-": symmpo check "-1/p" --component phi_inv (or after "--")',
    )
    p.add_argument("formula", help='e.g. "log(p) + p**2"')
    p.add_argument("--component", required=True, choices=["phi_inv", "psi", "g", "w_po", "w_sft"])
    p.set_defaults(func=run)


def normalize_argv(argv: list[str]) -> list[str]:
    """Let a formula start with a minus sign (``symmpo check "-1/p" --component phi_inv``).

    argparse would read ``-1/p`` as an unknown option; an argument after ``check`` that starts with ``-`` but is
    not one of this command's options (nor the value of ``--component``) is moved behind ``--``.
    """
    if not argv or argv[0] != "check" or "--" in argv:
        return argv
    options = {"-h", "--help", "--component"}
    keep, formulas = [argv[0]], []
    rest = iter(argv[1:])
    for arg in rest:
        if arg in options or not arg.startswith("-") or arg.startswith("--component="):
            keep.append(arg)
            if arg == "--component":
                keep.append(next(rest, ""))
        else:
            formulas.append(arg)
    return keep + (["--", *formulas] if formulas else [])


def run(args: argparse.Namespace) -> int:
    from symmpo.symbolic.tree_checks import check_formula

    verdict = check_formula(args.formula, args.component)  # FormulaError -> exit 2 in symmpo.cli
    print(verdict.summary())
    return 0 if verdict.valid else 1
