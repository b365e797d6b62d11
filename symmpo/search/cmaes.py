"""CMA-ES (``cma``, ask/tell) on the raw constant vector of one promising structure.

The constants of an objective are stored unconstrained (positive = exp(c), unit interval = σ(c), ...),
so CMA-ES may move them anywhere. A :class:`ConstantSearch` lives across generations: each generation
asks a few constant vectors, they are trained alongside the GP offspring on the same seeds and batches
(common random numbers), and their fitness is told back.

Checkpointing without pickle: ``cma`` draws from NumPy's *global* random state, so every ask and tell
runs under a seed drawn from the search's own generator and the global state is restored afterwards.
The search is then a deterministic function of (x0, σ0, options, seeds, told fitness), and the
checkpoint stores exactly that; :meth:`ConstantSearch.from_state` replays the history (cheap: a few
small vectors) and checks that the replay asks the same vectors as the original run did.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import cma
import numpy as np

from symmpo.errors import SymmpoError

# cma minimizes; -inf fitness (a diverged run) becomes this large finite penalty.
DIVERGED_PENALTY = 1e6


@contextlib.contextmanager
def _seeded_global_numpy(seed: int) -> Iterator[None]:
    """Run a block with NumPy's legacy global RNG seeded, then put the caller's state back."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


class ConstantSearch:
    """Ask/tell CMA-ES over the constants of one structure; maximizes fitness.

    ``structure`` identifies the structure (any JSON value, e.g. its canonical key without constants);
    ``template`` is the objective dict whose constants are being moved.
    """

    def __init__(
        self,
        structure: str,
        template: dict[str, Any],
        x0: Sequence[float],
        sigma0: float = 0.5,
        popsize: int = 6,
        seed: int = 0,
        bound: float = 8.0,
    ):
        if len(x0) == 0:
            raise SymmpoError("CMA-ES needs at least one constant to optimize")
        self.structure = structure
        self.template = template
        self.x0 = [float(v) for v in x0]
        self.sigma0 = float(sigma0)
        self.popsize = int(popsize)
        self.seed = int(seed)
        self.bound = float(bound)
        self.history: list[dict[str, Any]] = []  # one entry per completed ask/tell round
        self._pending: dict[str, Any] | None = None
        self._es = self._new_es()

    # -- pycma plumbing --------------------------------------------------------------------
    def _new_es(self) -> cma.CMAEvolutionStrategy:
        # A 1-D problem is legal for us but cma warns about it; the optimizer still works.
        opts = {
            "popsize": self.popsize,
            "seed": self.seed + 1,  # cma treats seed 0 as "time-based"
            "bounds": [-self.bound, self.bound],
            "verbose": -9,
            "verb_disp": 0,
            "verb_log": 0,
            "CMA_diagonal": len(self.x0) > 20,
            "tolx": 1e-6,
            "tolfun": 1e-9,
        }
        with _seeded_global_numpy(self.seed + 1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cma.CMAEvolutionStrategy(self.x0, self.sigma0, opts)

    @property
    def iterations(self) -> int:
        return len(self.history)

    @property
    def sigma(self) -> float:
        """The current overall step size (how far the next asks spread)."""
        return float(self._es.sigma)

    @property
    def separable(self) -> bool:
        """Whether the covariance is diagonal (``CMA_diagonal``: long vectors such as network weights)."""
        return bool(self._es.opts["CMA_diagonal"])

    def stopped(self) -> bool:
        """cma's own termination criteria (tolerances reached, ill-conditioning)."""
        return bool(self._es.stop())

    def best(self) -> tuple[list[float], float]:
        """Best constant vector told so far and its fitness (maximized)."""
        best_x, best_f = list(self.x0), -math.inf
        for rnd in self.history:
            for x, f in zip(rnd["solutions"], rnd["fitness"], strict=True):
                if f > best_f:
                    best_x, best_f = list(x), f
        return best_x, best_f

    # -- ask / tell ------------------------------------------------------------------------
    def ask(self, seed: int) -> list[list[float]]:
        """``popsize`` raw constant vectors to evaluate; ``seed`` comes from the search's own RNG."""
        if self._pending is not None:
            raise SymmpoError("ConstantSearch.ask called twice without tell")
        with _seeded_global_numpy(seed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solutions = [np.asarray(x, dtype=float) for x in self._es.ask()]
        self._pending = {"seed": int(seed), "solutions": [x.tolist() for x in solutions], "arrays": solutions}
        return [x.tolist() for x in solutions]

    def tell(self, fitness: Sequence[float]) -> None:
        """Fitness (higher is better, −inf allowed) of the vectors of the last :meth:`ask`, in order."""
        if self._pending is None:
            raise SymmpoError("ConstantSearch.tell called without ask")
        pending, self._pending = self._pending, None
        if len(fitness) != len(pending["arrays"]):
            raise SymmpoError(f"tell got {len(fitness)} values for {len(pending['arrays'])} solutions")
        costs = [-f if math.isfinite(f) else DIVERGED_PENALTY for f in fitness]
        with _seeded_global_numpy(pending["seed"] + 7919), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._es.tell(pending["arrays"], costs)
        self.history.append(
            {
                "seed": pending["seed"],
                "solutions": pending["solutions"],
                "fitness": [float(f) for f in fitness],
            }
        )

    # -- checkpoint ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-able state from which :meth:`from_state` rebuilds this search exactly."""
        if self._pending is not None:
            raise SymmpoError("cannot checkpoint a ConstantSearch between ask and tell")
        return {
            "structure": self.structure,
            "template": self.template,
            "x0": self.x0,
            "sigma0": self.sigma0,
            "popsize": self.popsize,
            "seed": self.seed,
            "bound": self.bound,
            "history": self.history,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ConstantSearch:
        """Replay the recorded rounds; raises if the replay diverges from what was recorded."""
        search = cls(
            state["structure"],
            state["template"],
            state["x0"],
            state["sigma0"],
            state["popsize"],
            state["seed"],
            state["bound"],
        )
        for rnd in state["history"]:
            asked = search.ask(rnd["seed"])
            if asked != rnd["solutions"]:
                raise SymmpoError("CMA-ES replay diverged from the checkpoint (different cma version?)")
            search.tell(rnd["fitness"])
        return search
