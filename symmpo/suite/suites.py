"""Suite versions: the dataset design a task name selects (``hopper-clean`` is suite v2, ``hopper-clean@v3``).

A suite fixes, per environment, what a preference dataset and its π_ref are made of: the response horizon H,
the steps over which a response is judged (``label_horizon``), the behaviour levels whose separate SFT data
π_ref is cloned from (empty: the chosen responses of the pairs, as in suite v2), and the PO steps its validity
evidence was measured at. Old suites stay, labelled, so that every committed result can be re-derived; the
evidence for each design is in ``results/explore-validity/`` and ``docs/benchmark.md``. A published design is
never edited: stored rows are keyed by task name, training configuration and dataset hash, and the dataset hash
does not cover the SFT levels, so a different design is a new suite.
"""

from __future__ import annotations

from dataclasses import dataclass

from symmpo.errors import DataError
from symmpo.suite.envs import ENVS


@dataclass(frozen=True)
class Design:
    """One environment's dataset design in one suite."""

    horizon: int = 100
    label_horizon: int | None = None  # None: a response is judged by its own H steps
    sft_levels: tuple[str, ...] = ()  # π_ref's separate SFT data; () = the chosen responses (suite v2)
    po_steps: int = 300  # PO steps the suite's validity evidence was measured at (the CLI's default for it)


DEFAULT_SUITE = "v2"
SUITES: dict[str, dict[str, Design]] = {
    # suite v2: 100-step responses, π_ref cloned from the chosen responses (results/bench/)
    "v2": {env: Design() for env in ENVS},
    # suite v3: 20-step responses judged over 200 steps (the strongest level continues greedily), π_ref cloned
    # from a separate pool of the weak and medium levels, 1000 PO steps (results/explore-validity/ section 7)
    "v3": {
        env: Design(horizon=20, label_horizon=200, sft_levels=("weak", "medium"), po_steps=1000)
        for env in ENVS
    },
}


def parse_suite(name: str) -> str:
    """A suite's canonical name, or a DataError listing the suites."""
    key = name.strip().lower()
    if key not in SUITES:
        raise DataError(f"unknown suite {name!r}; valid: {', '.join(SUITES)}")
    return key


def design(suite: str, env: str) -> Design:
    """The design of ``env`` in ``suite`` (every suite covers every environment)."""
    return SUITES[parse_suite(suite)][env]
