"""Restricted parser: vocabulary only, errors name token and position, nothing is ever executed."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from symmpo import Objective
from symmpo.errors import FormulaError
from symmpo.symbolic.expr import Const, Node, Var
from symmpo.symbolic.parser import parse, to_formula


def test_precedence_and_unary_minus():
    assert parse("-p**2") == Node("neg", (Node("pow", (Var("p"), Const(2.0))),))
    assert parse("p**-0.5") == Node("pow", (Var("p"), Const(-0.5)))
    assert parse("1 - p - z") == Node("sub", (Node("sub", (Const(1.0), Var("p"))), Var("z")))
    assert parse("2**3**2") == Node("pow", (Const(2.0), Node("pow", (Const(3.0), Const(2.0)))))


@pytest.mark.parametrize(
    "text",
    [
        "log(p) + p**2",
        "-p**(-0.5)",
        "(p**(-0.5) - 1)/(-0.5)",
        "-max(0, 1 - z)",
        "p - (z - tau)",
        "1/(2*p)/3",
        "-(-p)",
        "2**-p**2",
        "logsigmoid(z/0.05)*exp(-z)",
        "p + (z + tau)",  # right-nested sums and products keep their shape (and float rounding)
        "p * (z * tau)",
        "p + (z - tau)",
        "p * (z / tau)",
    ],
)
def test_round_trip(text):
    t = parse(text)
    assert parse(to_formula(t)) == t


def test_objective_file_round_trip_keeps_constant_products():
    """A grammar sample psi = c0 * (c1 * (...)) used to print as c0 * c1 * (...), which reads back as
    (c0 * c1) * (...): the same function, but another float rounding, so another canonical key."""
    values = [0.3203031798519541, 0.42767471446369226, 0.9854565363700806, 0.6663110318864494]
    obj = Objective.from_dict(
        {
            "phi_inv": "log(p)",
            "psi": "c0 * (c1 * (c2 * log(p) + c3 * log1p(p)))",
            "g": "logsigmoid(z)",
            "constants": {f"c{i}": {"type": "positive", "value": v} for i, v in enumerate(values)},
        }
    )
    back = Objective.from_dict(obj.to_dict())
    assert back.components["psi"] == obj.components["psi"]
    assert back.canonical_key() == obj.canonical_key()


@pytest.mark.parametrize(
    "text,token,pos",
    [
        ("__import__('os').system('echo hi')", "__import__", 0),
        ("log(p) + os", "os", 9),
        ("p.real", ".", 1),
        ("lambda: 1", "lambda", 0),
        ("log(p); 1", ";", 6),
        ("open('x')", "open", 0),
        ("p @ p", "@", 2),
    ],
)
def test_refused_with_token_and_position(text, token, pos):
    with pytest.raises(FormulaError) as err:
        parse(text)
    assert err.value.position == pos
    assert token in str(err.value)


def test_arity_and_syntax_errors():
    with pytest.raises(FormulaError, match="takes 2 argument"):
        parse("max(z)")
    with pytest.raises(FormulaError, match="expected"):
        parse("log(p")
    with pytest.raises(FormulaError, match="empty"):
        parse("   ")


def test_malicious_formula_never_runs(tmp_path):
    """A formula that would create a file if executed is refused, in-process and through the CLI."""
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    with pytest.raises(FormulaError, match="__import__"):
        Objective.from_components(phi_inv=payload)
    objfile = tmp_path / "evil.yaml"
    objfile.write_text(yaml.safe_dump({"name": "evil", "phi_inv": payload, "g": "logsigmoid(z)"}))
    with pytest.raises(FormulaError, match="position 0"):
        Objective.load(objfile)
    res = subprocess.run(
        [sys.executable, "-m", "symmpo.cli", "check", payload, "--component", "phi_inv"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert "__import__" in res.stderr
    res = subprocess.run(
        [sys.executable, "-m", "symmpo.cli", "show", str(objfile)], capture_output=True, text=True
    )
    assert res.returncode == 2
    assert not marker.exists()


def test_yaml_tags_refused(tmp_path):
    f = tmp_path / "o.yaml"
    f.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception) as err:
        Objective.load(f)
    assert "YAML" in str(err.value)


def test_no_dangerous_calls_in_package():
    """The formula path never names Python's evaluators or sympy's string parser."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "symmpo"
    bad = ["ev" + "al(", "ex" + "ec(", "parse" + "_expr(", "symp" + "ify("]
    for path in list((root / "symbolic").rglob("*.py")) + list((root / "objective").rglob("*.py")):
        text = path.read_text()
        for b in bad:
            assert b not in text, f"{path} contains {b}"
