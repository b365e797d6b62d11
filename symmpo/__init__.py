"""symmpo: discover preference-optimization losses as readable formulas (Mirror Preference Optimization).

import symmpo
best = symmpo.search("tiny", tasks=["hopper-mixed-0.5"], generations=2)[0]
print(best.fitness, best.latex())
"""

from __future__ import annotations

import sys
import types
from typing import Any

import symmpo.search as _search_package
from symmpo.objective import Objective

__all__ = ["Objective", "search"]
__version__ = "0.1.0"


class _SearchPackage(types.ModuleType):
    """``symmpo.search`` is both the package of the search loop (``symmpo.search.loop``, ...) and, called, the
    function that runs a search: Python binds the package to that name whenever a submodule is imported, so the
    function cannot be a separate attribute without being overwritten."""

    def __call__(self, preset: str = "tiny", **options: Any) -> list[Any]:
        """Run a search and return its hall of fame, best first: entries with ``.objective``, ``.fitness``,
        ``.heldout``, ``.latex()`` and ``.to_torch_source()``. ``options`` are those of
        :func:`symmpo.strategies.run_search` (``strategy``, ``tasks``, ``generations``, ``population``,
        ``seeds``, ``rescore_seeds``, ``seed``, ``grammar``, ``fidelity``, ``out``, ``executor``, ``workers``,
        ``progress``)."""
        from symmpo.strategies import run_search

        return run_search(preset, **options)


_search_package.__class__ = _SearchPackage
search = sys.modules["symmpo.search"]
