"""CLI: show, export, check (exit 0/1/2), grammar check/sample — run in-process through symmpo.cli.main."""

from __future__ import annotations

import copy

import pytest
import yaml

from symmpo.cli import main


def test_show_dpo_latex(capsys):
    assert main(["show", "dpo", "--latex"]) == 0
    out = capsys.readouterr().out
    assert "phi_inv(p) = log(p)" in out and r"\log\sigma" in out


def test_show_file_and_unknown(tmp_path, capsys):
    f = tmp_path / "o.yaml"
    f.write_text("name: mine\nphi_inv: log(p) + p**2\ng: min(z, 1)\nbeta: 0.2\n")
    assert main(["show", str(f)]) == 0
    assert "objective mine" in capsys.readouterr().out
    assert main(["show", "nonexistent-thing"]) == 2
    assert "neither a named objective" in capsys.readouterr().err


def test_export_torch_and_latex(tmp_path, capsys):
    assert main(["export", "simpo", "--format", "torch"]) == 0
    src = capsys.readouterr().out
    assert "def loss(policy_chosen_logps" in src and "import symmpo" not in src
    out = tmp_path / "l.tex"
    assert main(["export", "ipo", "--format", "latex", "-o", str(out)]) == 0
    assert out.read_text().startswith(r"\ell =")


@pytest.mark.parametrize(
    "formula,component,status",
    [
        ("log(p) + p**2", "phi_inv", 0),
        ("-1/p", "phi_inv", 1),
        ("min(z, 1)", "g", 0),
        ("-(z - 1)**2", "g", 1),
        ("0", "psi", 0),
        ("log(p", "phi_inv", 2),
        ("__import__('os')", "g", 2),
    ],
)
def test_check_exit_status(formula, component, status, capsys):
    # "--" lets formulas start with a minus sign (argparse would read them as options)
    assert main(["check", "--component", component, "--", formula]) == status
    out, err = capsys.readouterr()
    if status == 2:
        assert "position" in err
    else:
        assert ("=> valid" if status == 0 else "=> invalid") in out
        assert out.count("[symbolic]") + out.count("[numeric]") >= 1


def test_grammar_check_and_sample(tmp_path, capsys):
    assert main(["grammar", "check", "grammars/mirror.yaml"]) == 0
    assert "grammar OK" in capsys.readouterr().out
    assert main(["grammar", "sample", "grammars/ta_mirror.yaml", "-n", "3", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("$$") == 6
    assert main(["grammar", "sample", "mirror", "-n", "3", "--seed", "0"]) == 0
    a = capsys.readouterr().out
    assert main(["grammar", "sample", "mirror", "-n", "3", "--seed", "0"]) == 0
    assert capsys.readouterr().out == a
    d = yaml.safe_load(open("grammars/mirror.yaml"))
    bad = copy.deepcopy(d)
    bad["nonterminals"]["G"]["rules"].append("exp(-Z)")
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(bad))
    assert main(["grammar", "check", str(f)]) == 2
    assert "G rule 8 'exp(-Z)' cannot guarantee" in capsys.readouterr().err


def test_check_accepts_a_formula_that_starts_with_a_minus(capsys):
    from symmpo.cli import main

    assert main(["check", "-1/p", "--component", "phi_inv"]) == 1  # not integrable, and not an option
    assert "integrable" in capsys.readouterr().out
    assert main(["check", "--component=phi_inv", "-p**(-0.5)"]) == 0
    assert main(["check", "--component", "g", "--", "-max(0, 1 - z)"]) == 0
