"""Exceptions users see: one line that names the problem, never a bare traceback.

Every error caused by user input is a :class:`SymmpoError`; catch that to catch them all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class SymmpoError(Exception):
    """Base class for errors caused by user input (files, formulas, arguments)."""


class GrammarError(SymmpoError):
    """A grammar file is malformed; the message names the faulty rule."""


class ObjectiveError(SymmpoError):
    """An objective file or objective call is invalid (missing lengths, bad parameter...)."""


class FormulaError(ObjectiveError):
    """A formula string cannot be parsed (unknown token, bad syntax); carries the position.

    An ObjectiveError: a typo in an objective's formula is caught where objective errors are.
    """

    def __init__(self, message: str, formula: str = "", position: int | None = None):
        self.formula = formula
        self.position = position
        where = f" at position {position}" if position is not None else ""
        if len(formula) > 80:  # one line, whatever the input
            formula = formula[:77] + "..."
        shown = f" in {formula!r}" if formula else ""
        super().__init__(f"{message}{where}{shown}")


class DataError(SymmpoError):
    """A dataset, cache entry or task name is invalid."""


def exit_status(prog: str, work: Callable[[], object]) -> int:
    """A script's exit status: 0, or 2 after one ``PROG: error: MESSAGE`` line on stderr when ``work`` raises a
    :class:`SymmpoError` (the ``python -m symmpo.suite.*`` scripts; ``symmpo`` itself has more cases)."""
    try:
        work()
    except SymmpoError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0
