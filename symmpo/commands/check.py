"""``symmpo check FORMULA --component phi_inv|psi|g``: validity verdict per property.

Exit status: 0 valid, 1 invalid, 2 when the formula cannot be parsed.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a component formula against the MPO validity conditions",
        epilog='a formula starting with "-" goes after "--": symmpo check --component phi_inv -- "-1/p"',
    )
    p.add_argument("formula", help='e.g. "log(p) + p**2"')
    p.add_argument("--component", required=True, choices=["phi_inv", "psi", "g", "w_po", "w_sft"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from symmpo.symbolic.validity import check_formula

    verdict = check_formula(args.formula, args.component)  # FormulaError -> exit 2 in symmpo.cli
    print(verdict.summary())
    return 0 if verdict.valid else 1
