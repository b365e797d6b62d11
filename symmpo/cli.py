"""The ``symmpo`` command line.

Each sub-command lives in its own module under :mod:`symmpo.commands` and exposes
``register(subparsers)``; this file only wires them together, so the modules that own a
command can change it without touching the others.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

from symmpo.errors import SymmpoError

# Modules under symmpo.commands that provide sub-commands, in the order `symmpo --help` lists them.
COMMAND_MODULES = [
    "evolve",
    "train",
    "bench",
    "compare",
    "runs",
    "fidelity",
    "transfer",
    "data",
    "llm",
    "show",
    "export",
    "check",
    "grammar",
    "distill",
    "neural",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (``symmpo evolve: error: ...``), exit status 2, like symmpo's own."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="symmpo",
        description="Discover preference-optimization losses as readable formulas (Mirror Preference Optimization).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"symmpo.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"symmpo.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    from symmpo.commands.check import normalize_argv

    args = parser.parse_args(normalize_argv(argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SymmpoError as err:
        print(f"symmpo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `symmpo show dpo | head -c 20`: the reader left; end quietly, as shells do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not raise again
        os.close(devnull)
        return 141


if __name__ == "__main__":
    sys.exit(main())
