"""The label pathologies of every suite's preference data, in one registry: how a setting parses, which pairs
it draws and what it does to the labels.

The MuJoCo suite (``symmpo.suite.datasets``), the text suite (``symmpo.text.datasets``) and the language-model
suite (``symmpo.llm.datasets``, the text suite's settings) all parse their settings and label their pairs here.
A new pathology is one :class:`Pathology` entry in :data:`PATHOLOGIES` naming the suites that offer it; its
``prefer`` rule decides each pair from the facts every suite's pool has (true scores and lengths) and one
uniform draw per pair that every setting of a seed shares, so settings of one seed differ only in their labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symmpo.errors import DataError

SUITES = ("mujoco", "text")  # the language-model suite offers the text suite's settings


@dataclass(frozen=True)
class PairFacts:
    """What a labelling rule may read about the drawn pairs (response ``a`` against response ``b``)."""

    score_a: np.ndarray  # true return or reward
    score_b: np.ndarray
    len_a: np.ndarray
    len_b: np.ndarray
    temperature: float | None  # the Bradley-Terry judge's, where the suite has one

    @property
    def a_better(self) -> np.ndarray:
        return self.score_a >= self.score_b


@dataclass(frozen=True)
class Pathology:
    """One named setting: its parameter's range, whether it draws poor pairs, and its labelling rule."""

    name: str
    suites: tuple[str, ...]
    usage: str  # how the error message lists it, e.g. "noisy-EPS (0 <= EPS < 0.5)"
    bounds: tuple[float, float, bool] | None = None  # (low, high, high included); None: no parameter
    poor_pairs: bool = False  # exactly round(param * n) pairs become two responses of the poor levels
    prefer: Callable[[PairFacts, float | None, np.ndarray], np.ndarray] | None = None  # None: the clean label


def _noisy(facts: PairFacts, eps: float | None, u: np.ndarray) -> np.ndarray:
    """Flip with probability ε; one shared draw per pair, so noisy-0.1's flips are a subset of noisy-0.2's."""
    return facts.a_better ^ (u < eps)


def _bradley_terry(facts: PairFacts, _: float | None, u: np.ndarray) -> np.ndarray:
    """Sample the label from a Bradley-Terry judge of the returns at the suite's temperature."""
    if facts.temperature is None:
        raise DataError("the bt setting needs a judge temperature; this suite has none")
    p_a = 0.5 * (1.0 + np.tanh((facts.score_a - facts.score_b) / (2.0 * facts.temperature)))  # no overflow
    return u < p_a


def _longer(facts: PairFacts, _: float | None, u: np.ndarray) -> np.ndarray:
    """A judge that favours long answers: the longer response wins; equal lengths keep the clean label."""
    return np.where(facts.len_a != facts.len_b, facts.len_a > facts.len_b, facts.a_better)


PATHOLOGIES: dict[str, Pathology] = {
    p.name: p
    for p in (
        Pathology("clean", SUITES, "clean"),
        Pathology("noisy", SUITES, "noisy-EPS (0 <= EPS < 0.5)", (0.0, 0.5, False), prefer=_noisy),
        Pathology("mixed", SUITES, "mixed-RHO (0 <= RHO <= 1)", (0.0, 1.0, True), poor_pairs=True),
        Pathology("bt", ("mujoco",), "bt", prefer=_bradley_terry),
        Pathology("length", ("text",), "length", prefer=_longer),
    )
}


def _offered(suite: str) -> list[Pathology]:
    return [p for p in PATHOLOGIES.values() if suite in p.suites]


def parse_setting(setting: str, suite: str, presets: tuple[str, ...]) -> tuple[str, float | None]:
    """``noisy-0.2`` -> ("noisy", 0.2): any parameter in the pathology's range, not only the presets."""
    kind, _, value = setting.partition("-")
    p = PATHOLOGIES.get(kind)
    if p is not None and suite in p.suites:
        if p.bounds is None and not value:
            return kind, None
        if p.bounds is not None and value:
            try:
                param = float(value)
            except ValueError:
                param = float("nan")
            low, high, closed = p.bounds
            if low <= param and (param <= high if closed else param < high):
                return kind, param
    label = "setting" if suite == "mujoco" else f"{suite} setting"
    presets_label = "presets:" if suite == "mujoco" else "e.g."
    raise DataError(
        f"unknown {label} {setting!r}; valid: {', '.join(p.usage for p in _offered(suite))}; "
        f"{presets_label} {', '.join(presets)}"
    )


def setting_name(kind: str, param: float | None) -> str:
    """The canonical spelling of a parsed setting (``noisy-0.10`` -> ``noisy-0.1``): cache keys use it."""
    return kind if param is None else f"{kind}-{param:g}"


def draw_pairs(
    seed: int,
    n: int,
    c_total: int,
    m_total: int,
    samples_per_level: int,
    poor_levels: int,
    kind: str,
    param: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(context, a, b, poor_pair) of ``n`` pairs over a pool of ``c_total`` contexts × ``m_total`` responses
    (levels of ``samples_per_level`` responses, weakest first).

    One random stream per purpose, shared by every setting of this seed: settings differ only in their
    pathology. ``a`` is a response of a non-poor level, ``b`` any other response of the context; a pathology
    with ``poor_pairs`` replaces exactly round(param * n) pairs by two distinct responses of the poor levels
    (nested in param).
    """
    poor = np.flatnonzero(np.arange(m_total) // samples_per_level < poor_levels)
    good = np.flatnonzero(np.arange(m_total) // samples_per_level >= poor_levels)
    context = np.arange(n, dtype=np.int64) % c_total
    r_pair = np.random.default_rng([seed, 101])
    a = good[r_pair.integers(0, len(good), n)]
    b = r_pair.integers(0, m_total - 1, n)
    b = b + (b >= a)  # any other response of the context
    poor_pair = np.zeros(n, dtype=bool)
    if PATHOLOGIES[kind].poor_pairs:
        order = np.random.default_rng([seed, 102]).permutation(n)
        poor_pair[order[: int(round(float(param or 0.0) * n))]] = True
        r_poor = np.random.default_rng([seed, 103])
        ia = r_poor.integers(0, len(poor), n)
        ib = r_poor.integers(0, len(poor) - 1, n)
        ib = ib + (ib >= ia)  # two distinct poor responses
        a, b = np.where(poor_pair, poor[ia], a), np.where(poor_pair, poor[ib], b)
    return context, a, b, poor_pair


def label_pairs(
    seed: int,
    kind: str,
    param: float | None,
    drawn: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    score: np.ndarray,
    length: np.ndarray,
    temperature: float | None = None,
) -> dict[str, np.ndarray]:
    """Chosen and rejected of drawn pairs (``context`` indexes the rows of ``score`` and ``length``): the
    better response, unless the pathology's rule decides otherwise from one uniform draw per pair."""
    context, a, b, poor_pair = drawn
    facts = PairFacts(
        score[context, a], score[context, b], length[context, a], length[context, b], temperature
    )
    u = np.random.default_rng([seed, 104]).random(len(a))
    rule = PATHOLOGIES[kind].prefer
    prefer_a = facts.a_better if rule is None else rule(facts, param, u)
    chosen, rejected = np.where(prefer_a, a, b), np.where(prefer_a, b, a)
    return {
        "context": context,
        "chosen": chosen.astype(np.int64),
        "rejected": rejected.astype(np.int64),
        "flipped": prefer_a != facts.a_better,
        "poor_pair": poor_pair,
    }


def pairs_for(
    setting: tuple[str, float | None],
    seed: int,
    n: int,
    score: np.ndarray,
    length: np.ndarray,
    samples_per_level: int,
    poor_levels: int,
    temperature: float | None = None,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Draw and label ``n`` pairs of a parsed setting over a pool's ``score`` and ``length`` [C, M]: what every
    suite's ``derive_pairs`` does. ``rows``, when given, are the contexts pairs may use (others are skipped)."""
    kind, param = setting
    c_total = score.shape[0] if rows is None else len(rows)
    context, a, b, poor_pair = draw_pairs(
        seed, n, c_total, score.shape[1], samples_per_level, poor_levels, kind, param
    )
    if rows is not None:
        context = rows[context]
    return label_pairs(seed, kind, param, (context, a, b, poor_pair), score, length, temperature)
