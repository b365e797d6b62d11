"""Fuzzing every way in: random formulas and random YAML documents end in success or a one-line SymmpoError.

Each example runs the whole pipeline a user can reach (parse, validity check, LaTeX, export, loss, canonical
key, file round trip, and the CLI) under a hard per-example time limit: an input that hangs fails the test
instead of hanging the suite, and any exception other than a one-line SymmpoError fails it too.

Examples are derandomized (the same every run, as CI needs); SYMMPO_FUZZ_RANDOM=1 draws fresh ones.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from symmpo import Objective
from symmpo.cli import main
from symmpo.errors import SymmpoError
from symmpo.objective import check_objective, sample_objective
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.parser import parse
from symmpo.symbolic.primitives import FUNCTIONS
from symmpo.symbolic.tree_checks import check_formula

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 10.0  # per example: "a few seconds" with room for a loaded CI machine
FUZZ = settings(
    deadline=None,  # the hard limit below replaces hypothesis' soft one
    derandomize=not os.environ.get("SYMMPO_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
pytestmark = [
    pytest.mark.skipif(
        not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread(),
        reason="the per-example limit needs SIGALRM in the main thread",
    ),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning"),  # long reprs of big inputs
]


class Hang(AssertionError):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expire(signum, frame):
        raise Hang(f"an example ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def ends_cleanly(fn: Callable[[], object]) -> bool:
    """fn() returns (True) or raises a one-line SymmpoError (False); anything else fails the example."""
    with time_limit(LIMIT_S):
        try:
            fn()
        except SymmpoError as err:
            assert "\n" not in str(err) and len(str(err)) < 2000, repr(err)
            return False
    return True


def cli(argv: list[str]) -> int:
    """The CLI in-process: exit 0/1 (check's verdict) or 2 with one line on stderr, never a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with time_limit(LIMIT_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    text = err.getvalue()
    assert code in (0, 1, 2), (argv, code)
    if code == 2:
        assert text.count("\n") == 1 and "error:" in text, text
    assert "Traceback" not in text
    return code


# ----- formulas ---------------------------------------------------------------------------------------------
NUMBERS = ["0", "1", "2", "0.5", "1e-10", "1e12", "1e13", "1e999", "9", "1000", "1001", ".3", "3.", "1e-400"]
TOKENS = ["p", "z", "tau", "x", "L", "(", ")", ",", "+", "-", "*", "/", "**", "^", " ", ".", "'", '"', ";"]
TOKENS += NUMBERS + sorted(FUNCTIONS) + ["__import__", "lambda", "os", "\n", "\\", "é", "𝑝"]
leaves = st.sampled_from(["p", "z", "tau", *NUMBERS])


def _compose(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    unary = st.tuples(st.sampled_from([f for f, prim in FUNCTIONS.items() if prim.arity == 1]), children)
    binary_fn = st.tuples(st.sampled_from(["min", "max"]), children, children)
    infix = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**"]), children)
    return st.one_of(
        unary.map(lambda t: f"{t[0]}({t[1]})"),
        binary_fn.map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        infix.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"-{c}"),
    )


well_formed = st.recursive(leaves, _compose, max_leaves=25)
token_soup = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)
formulas = st.one_of(well_formed, well_formed, token_soup, st.text(max_size=120))
components = st.sampled_from(["phi_inv", "psi", "g", "w_po", "w_sft"])


def _pipeline(formula: str, component: str) -> None:
    """Everything a formula reaches once it is an objective component."""
    obj = Objective.from_components(**{"phi_inv": "log(p)", "g": "logsigmoid(z)", component: formula})
    obj.latex()
    obj.component_latex()
    compile(obj.to_torch_source(), "<exported>", "exec")  # compiled, not run
    obj.canonical_key()
    check_objective(obj)
    Objective.from_dict(obj.to_dict())
    x = torch.tensor([-1e4, -3.0, -1e-3], dtype=torch.float64)
    n = torch.tensor([1.0, 5.0, 100.0], dtype=torch.float64)
    obj.loss(x, x - 1.0, x, x + 0.5, n, n, 0.5)


@settings(FUZZ, max_examples=150)
@given(formula=formulas, component=components)
def test_random_formulas(formula, component):
    if ends_cleanly(lambda: parse(formula, ("p", "z", "tau"))):
        event("parses")
        ends_cleanly(lambda: check_formula(formula, component))
        event(f"whole pipeline: {'ok' if ends_cleanly(lambda: _pipeline(formula, component)) else 'refused'}")
    cli(["check", "--component", component, "--", formula])


# ----- YAML documents ---------------------------------------------------------------------------------------
OBJECTIVE_KEYS = [
    "format",
    "name",
    "beta",
    "reduce",
    "constants",
    "params",
    "phi_inv",
    "psi",
    "g",
    "w_po",
    "w_sft",
]
GRAMMAR_KEYS = [
    "name",
    "limits",
    "beta",
    "reduce",
    "start",
    "nonterminals",
    "var",
    "type",
    "rules",
    "constant",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    well_formed,
    st.sampled_from(["positive", "unit", "free", "interval(0, 0.5)", "PHI", "G", "p", "z", "tau", "sum"]),
)
yaml_values = st.recursive(
    scalars,
    lambda c: (
        st.lists(c, max_size=5)
        | st.dictionaries(st.sampled_from(OBJECTIVE_KEYS + GRAMMAR_KEYS) | st.text(max_size=8), c, max_size=6)
    ),
    max_leaves=30,
)
# plausible values most of the time (so mutated documents often load and reach the deep checks)
replacements = st.one_of(well_formed, st.floats(-10, 10), st.integers(-3, 50), yaml_values)
VALID_OBJECTIVE = Objective.named("rdpo").to_dict()
VALID_GRAMMAR = yaml.safe_load((ROOT / "grammars" / "mirror.yaml").read_text())


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def _mutated(base: object, data: st.DataObject) -> object:
    """A valid document with one or two places replaced by random values (deep coverage of the checks)."""
    doc = yaml.safe_load(yaml.safe_dump(base))
    for _ in range(data.draw(st.integers(1, 2))):
        paths = [p for p in _paths(doc) if p]
        path = data.draw(st.sampled_from(paths))
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(replacements)
    return doc


WORK = Path(tempfile.mkdtemp(prefix="symmpo-fuzz-"))


def _write(text: str | bytes) -> Path:
    f = WORK / "doc.yaml"
    f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return f


def _loaded_objective(f: Path) -> None:
    _pipeline_obj(Objective.load(f))


def _pipeline_obj(obj: Objective) -> None:
    obj.latex()
    compile(obj.to_torch_source(), "<exported>", "exec")
    obj.canonical_key()
    check_objective(obj)
    x = torch.tensor([-5.0, -1e-2], dtype=torch.float64)
    n = torch.tensor([3.0, 7.0], dtype=torch.float64)
    obj.loss(x, x - 1.0, x, x, n, n, 0.3)


def _loaded_grammar(f: Path) -> None:
    import numpy as np

    g = Grammar.load(f)
    sample_objective(g, np.random.default_rng(0), tries=5)


def _document(kind: str, data: st.DataObject) -> str | bytes:
    how = data.draw(st.sampled_from(["mutated", "random", "text"]))
    if how == "text":
        return data.draw(st.text(max_size=300) | st.binary(max_size=200))
    base = VALID_OBJECTIVE if kind == "objective" else VALID_GRAMMAR
    doc = _mutated(base, data) if how == "mutated" else data.draw(yaml_values)
    return yaml.safe_dump(doc, allow_unicode=True)


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_random_objective_documents(data):
    f = _write(_document("objective", data))
    event(f"objective: {'ok' if ends_cleanly(lambda: _loaded_objective(f)) else 'refused'}")
    cli(["show", str(f), "--latex"])
    cli(["export", str(f)])


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_random_grammar_documents(data):
    f = _write(_document("grammar", data))
    event(f"grammar: {'ok' if ends_cleanly(lambda: _loaded_grammar(f)) else 'refused'}")
    cli(["grammar", "check", str(f)])
