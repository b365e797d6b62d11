"""Formulas, objective files, grammar files and names are untrusted: bounded, escaped, one-line errors.

Every case of the formula-handling audit is here: code injection through an exported name, inputs that
used to raise RecursionError / OverflowError / AttributeError tracebacks or hang in sympy's exact integer
power, and the user's own ``--grammar mirror.yaml`` from any directory.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from symmpo import Objective
from symmpo.cli import main
from symmpo.errors import FormulaError, ObjectiveError, SymmpoError
from symmpo.symbolic.grammar import Grammar
from symmpo.symbolic.limits import MAX_DEPTH, MAX_EXPONENT, MAX_LITERAL, MAX_NODES
from symmpo.symbolic.parser import parse

ROOT = Path(__file__).resolve().parents[1]


def _one_line_error(capsys, argv: list[str]) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one line on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ----- 1. nothing unescaped in generated code ---------------------------------------------------------------
HOSTILE_NAMES = [
    'x"""; __import__("os").system("touch MARK") #',
    "x'''; __import__('os').system('touch MARK') #",
    'x\\", __import__("os").system("touch MARK"), "',
    "{__import__('os').system('touch MARK')}",
    "ok\\",
    "é ü — unicode is fine",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_exported_module_runs_nothing_on_import(tmp_path, name):
    marker = tmp_path / "MARK"
    name = name.replace("MARK", str(marker))
    obj = Objective.named("simpo").renamed(name)  # reduce=mean: the name is also in the length error
    src = obj.to_torch_source()
    tree = ast.parse(src)
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.Assign)
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body
    assert all(isinstance(node, allowed) for node in body), [type(n).__name__ for n in body]
    for node in body:
        if isinstance(node, ast.Assign):  # module-level assignments hold literals only
            assert isinstance(node.value, ast.Constant), ast.dump(node)
    mod = tmp_path / "exported.py"
    mod.write_text(src)
    probe = (
        "import exported, torch\n"
        "print(repr(exported.OBJECTIVE_NAME))\n"
        "x = torch.zeros(2, dtype=torch.float64)\n"
        "try:\n    exported.loss(x, x, x, x)\nexcept ValueError as err:\n    print(err)\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert not marker.exists()
    assert res.stdout.splitlines()[0] == repr(name)  # the name survives, as data
    assert "needs chosen_lengths" in res.stdout


def _name_only_in_objective_name(src: str, name: str) -> None:
    """The name occurs in the source as exactly one string literal, OBJECTIVE_NAME's value; no docstring,
    comment or other literal carries it."""
    tree = ast.parse(src)
    holders = [
        node for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    carrying = [n for n in holders if name in n.value]
    assert len(carrying) == 1 and carrying[0].value == name, [n.value[:80] for n in carrying]
    assigns = [n for n in tree.body if isinstance(n, ast.Assign) and n.value is carrying[0]]
    assert [t.id for a in assigns for t in a.targets] == ["OBJECTIVE_NAME"]
    assert all(name not in line for line in src.splitlines() if line.lstrip().startswith("#"))


@pytest.mark.parametrize("fmt", ["torch", "trl"])
@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_exported_sources_carry_the_name_only_as_a_literal(tmp_path, name, fmt):
    from symmpo.integrations.trl_export import trl_source

    name = name.replace("MARK", str(tmp_path / "MARK"))
    obj = Objective.named("simpo").renamed(name)
    _name_only_in_objective_name(obj.to_torch_source() if fmt == "torch" else trl_source(obj), name)


def test_exported_trl_files_run_nothing_on_import(tmp_path):
    """Every hostile name through ``symmpo export --format trl``: importing the files (torch and trl) runs
    none of the name's code, the name survives as data, and the loss names it in its length error."""
    import trl_tiny

    trl_tiny.require_trl()
    marker = tmp_path / "MARK"
    files = []
    for i, raw in enumerate(HOSTILE_NAMES):
        f = tmp_path / f"obj{i}.yaml"
        Objective.named("simpo").renamed(raw.replace("MARK", str(marker))).save(f)
        out = tmp_path / f"exported_trl_{i}.py"
        assert main(["export", str(f), "--format", "trl", "-o", str(out)]) == 0
        files.append(out.stem)
    probe = (
        "import importlib, json, torch\n"
        "out = []\n"
        f"for stem in {files!r}:\n"
        "    m = importlib.import_module(stem)\n"
        "    x = torch.zeros(2, dtype=torch.float64)\n"
        "    try:\n        m.mpo_loss(x, x, x, x)\n    except ValueError as err:\n        error = str(err)\n"
        "    out.append([m.OBJECTIVE_NAME, error, m.MPOTrainer.__name__])\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert not marker.exists()
    got = json.loads(res.stdout.strip().splitlines()[-1])
    names = [raw.replace("MARK", str(marker)) for raw in HOSTILE_NAMES]
    assert [g[0] for g in got] == names  # the names survive, as data
    # the exported loss raises the in-process loss's message (both read the loss tree's lengths convention)
    for name, err, _ in got:
        with pytest.raises(ObjectiveError) as want:
            Objective.named("simpo").renamed(name).loss(*[torch.zeros(2)] * 4)
        assert err == str(want.value) and "needs chosen_lengths and rejected_lengths (reduce=mean)" in err
    assert all(cls == "MPOTrainer" for _, _, cls in got)


def test_names_with_line_breaks_or_control_characters_are_refused(tmp_path, capsys):
    marker = tmp_path / "MARK"
    bad = f'x"""\nimport os; os.system("touch {marker}")\n"""'
    with pytest.raises(ObjectiveError, match="printable characters on one line"):
        Objective.named("dpo").renamed(bad)
    f = tmp_path / "evil.yaml"
    f.write_text(yaml.safe_dump({"name": bad, "phi_inv": "log(p)", "g": "logsigmoid(z)"}))
    err = _one_line_error(capsys, ["export", str(f), "--format", "torch"])
    assert "name" in err and not marker.exists()
    for name in ["a\x00b", "a\rb", "", "x" * 201, ["list"]]:
        with pytest.raises(ObjectiveError):
            Objective.from_dict({"name": name, "phi_inv": "log(p)", "g": "logsigmoid(z)"})


def test_function_name_must_be_an_identifier():
    obj = Objective.named("dpo")
    for bad in ["loss(): pass\nimport os #", "class", "a-b", "", "loss ()"]:
        with pytest.raises(ObjectiveError, match="not a Python identifier"):
            obj.to_torch_source(bad)
    assert "def my_loss(" in obj.to_torch_source("my_loss")


def test_constant_and_parameter_names_are_identifiers():
    for name in ["a b", "x;y", "1x", "__import__('os')", "é"]:
        with pytest.raises(SymmpoError, match="identifier"):
            Objective.from_components(g="logsigmoid(z)", constants={name: ("positive", 1.0)})
    with pytest.raises(ObjectiveError, match="identifier"):
        Objective.from_dict({"phi_inv": "log(p)", "g": "logsigmoid(z)", "params": {"a b": 1.0}})


# ----- 2. bounded by construction ----------------------------------------------------------------------------
AUDIT_FORMULAS = {
    "5,000 nested parentheses": "(" * 5000 + "p" + ")" * 5000,
    "9,000 unary minus signs": "-" * 9000 + "log(p)",
    "a 4,999-term sum": "+".join(["log(p)"] * 4999),
    "9**9**9": "log(p) + 9**9**9",
    "1e999": "1e999*log(p)",
    "a tower of powers": "2**" * 3000 + "2",
}


@pytest.mark.parametrize("case", AUDIT_FORMULAS)
def test_audit_formulas_end_in_one_line_errors(case, capsys):
    formula = AUDIT_FORMULAS[case]
    with pytest.raises(FormulaError) as err:
        parse(formula)
    assert "\n" not in str(err.value) and len(str(err.value)) < 400
    err_text = _one_line_error(capsys, ["check", formula, "--component", "phi_inv"])
    assert "symmpo check: error:" in err_text


@pytest.mark.parametrize("case", ["9**9**9", "1e999", "a 4,999-term sum"])
def test_audit_formulas_in_files_for_show_export_and_load(tmp_path, case, capsys):
    f = tmp_path / "o.yaml"
    f.write_text(yaml.safe_dump({"name": "audit", "phi_inv": AUDIT_FORMULAS[case], "g": "logsigmoid(z)"}))
    for argv in (["show", str(f), "--latex"], ["export", str(f)], ["export", str(f), "--format", "latex"]):
        _one_line_error(capsys, argv)
    with pytest.raises(FormulaError):
        Objective.load(f)


def test_limits_are_the_documented_numbers():
    assert parse("p**1000") is not None and MAX_EXPONENT == 1000
    with pytest.raises(FormulaError, match="exponent"):
        parse("p**1001")
    with pytest.raises(FormulaError, match="exponent"):
        parse("p**(10*101)")  # a constant expression counts as what it folds to
    with pytest.raises(FormulaError, match="exponent"):
        Objective.from_components(phi_inv="log(p) + p**k", constants={"k": ("positive", 2000.0)})
    assert parse("1e12*p") is not None and MAX_LITERAL == 1e12
    with pytest.raises(FormulaError, match="outside"):
        parse("1.1e12*p")
    with pytest.raises(FormulaError, match="not finite"):
        parse("log(p) + 1e12**100")
    with pytest.raises(FormulaError, match="not finite"):
        parse("log(p) + log(0)")
    deep = "p"
    for _ in range(MAX_DEPTH - 1):
        deep = f"log({deep})"
    parse(deep)
    with pytest.raises(FormulaError, match="nested deeper"):
        parse(f"log({deep})")
    wide = "+".join(["p*p"] * 20)  # 79 nodes, depth 21
    parse(wide)
    with pytest.raises(FormulaError, match=f"more than {MAX_NODES} nodes"):
        parse("+".join([f"({'+'.join(['p'] * 30)})"] * 10))


def test_trees_built_in_code_are_bounded_too():
    from symmpo.symbolic.expr import Const, Node, Var

    t = Var("p")
    for _ in range(3000):  # far deeper than Python's recursion limit allows walking recursively
        t = Node("log", (t,))
    with pytest.raises(FormulaError, match="nested deeper"):
        Objective(t, Const(0.0), Node("logsigmoid", (Var("z"),)))
    with pytest.raises(FormulaError, match="not finite"):
        Objective(Node("mul", (Const(float("inf")), Node("log", (Var("p"),)))), Const(0.0), Var("z"))


def test_folding_never_raises():
    """Constant folding of trees built in code (not parsed) gives inf / nan instead of OverflowError."""
    from symmpo.symbolic.expr import Const, Node
    from symmpo.symbolic.rewrite import fold

    assert fold(Node("pow", (Const(10.0), Const(400.0)))).value == float("inf")
    assert fold(Node("sin", (Node("mul", (Const(1e300), Const(1e300))),))).value != 0.0  # nan, no error


def test_objective_files_checked_field_by_field(tmp_path, capsys):
    base = {"name": "f", "phi_inv": "log(p)", "g": "logsigmoid(z)"}
    bad_docs = {
        "constants: [1, 2]": {**base, "constants": [1, 2]},
        "params: abc": {**base, "params": "abc"},
        "constant without value": {**base, "constants": {"k": {"type": "positive"}}},
        "huge beta": {**base, "beta": 10**400},
        "beta true": {**base, "beta": True},
        "inf beta": {**base, "beta": float("inf")},
        "reduce list": {**base, "reduce": ["sum"]},
        "unknown format": {**base, "format": "pickle/1"},
        "formula as list": {**base, "g": ["logsigmoid(z)"]},
        "bad constant type": {**base, "constants": {"k": {"type": "complex", "value": 1}}},
        "extra constant field": {**base, "constants": {"k": {"type": "free", "value": 1, "eval": "x"}}},
    }
    for what, doc in bad_docs.items():
        f = tmp_path / "o.yaml"
        f.write_text(yaml.safe_dump(doc))
        with pytest.raises(SymmpoError):
            Objective.load(f)
        _one_line_error(capsys, ["show", str(f)])
        assert what  # each case is its own failure message when it breaks


def test_yaml_is_bounded(tmp_path, capsys):
    cases = {
        "nested": "a: " + "[" * 5000 + "]" * 5000,
        "alias": "phi_inv: &x log(p)\ng: *x\n",
        "huge int": "beta: " + "9" * 5000,
        "not utf-8": b"\xff\xfe phi_inv: log(p)",
        "two documents": "phi_inv: log(p)\n---\ng: z\n",
    }
    for what, text in cases.items():
        f = tmp_path / f"{what.replace(' ', '_')}.yaml"
        f.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(SymmpoError):
            Objective.load(f)
        _one_line_error(capsys, ["show", str(f)])
        _one_line_error(capsys, ["grammar", "check", str(f)])
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_000_001)
    with pytest.raises(SymmpoError, match="larger than"):
        Objective.load(big)


def test_grammar_files_checked_field_by_field(tmp_path, capsys):
    good = yaml.safe_load((ROOT / "grammars" / "mirror.yaml").read_text())

    def edited(fn):
        d = yaml.safe_load(yaml.safe_dump(good))
        fn(d)
        return d

    bad = [
        lambda d: d.__setitem__("limits", {"max_depth": 10**6}),
        lambda d: d.__setitem__("limits", "deep"),
        lambda d: d.__setitem__("beta", "small"),
        lambda d: d.__setitem__("reduce", 5),
        lambda d: d["nonterminals"].__setitem__("bad name", {"var": "p", "rules": ["p"]}),
        lambda d: d["nonterminals"]["PHI"].__setitem__("rules", [["log(p)", "heavy"]]),
        lambda d: d["nonterminals"]["PHI"].__setitem__("rules", [["log(p)", 1, 2]]),
        lambda d: d["nonterminals"]["PHI"].__setitem__("rules", [None]),
        lambda d: d["nonterminals"]["K"].__setitem__("init", "wide"),
        lambda d: d["nonterminals"]["K"].__setitem__("init", [0.1, 1e999]),
        lambda d: d["start"].__setitem__("psi", {"nonterminal": "PSI", "tie": 2}),
        lambda d: d["start"].__setitem__("g", ["G"]),
    ]
    for i, fn in enumerate(bad):
        f = tmp_path / f"g{i}.yaml"
        f.write_text(yaml.safe_dump(edited(fn)))
        with pytest.raises(SymmpoError):
            Grammar.load(f)
        _one_line_error(capsys, ["grammar", "check", str(f)])
    # typing arithmetic on extreme constants used to overflow; K**K is a (bounded) constant: it loads
    f = tmp_path / "kk.yaml"
    f.write_text(yaml.safe_dump(edited(lambda d: d["nonterminals"]["INC"]["rules"].append("K**K"))))
    assert Grammar.load(f).nonterminals["INC"].rules[-1].text == "K**K"


def test_runaway_grammar_derivations_are_cut(tmp_path):
    import numpy as np

    d = yaml.safe_load((ROOT / "grammars" / "mirror.yaml").read_text())
    d["limits"] = {"max_depth": 16, "max_size": 500}
    d["nonterminals"]["PHI"]["rules"] = [["PHI + PHI + PHI + PHI", 50], "log(p)", "PHI + K*INC", "-p**(-A)"]
    f = tmp_path / "runaway.yaml"
    f.write_text(yaml.safe_dump(d))
    g = Grammar.load(f)
    with pytest.raises(SymmpoError, match="exceeds"):
        g.expand("PHI", np.random.default_rng(0))


# ----- 6. --grammar NAME, NAME.yaml or a path, from any directory ------------------------------------------
@pytest.mark.parametrize("where", ["root", "elsewhere"])
def test_grammar_names_and_paths_from_any_directory(where, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT if where == "root" else tmp_path)
    for spec in ["mirror", "mirror.yaml", "ta_mirror.yaml", str(ROOT / "grammars" / "mirror.yaml")]:
        assert Grammar.load(spec).name in ("mirror", "ta_mirror")
        assert main(["grammar", "check", spec]) == 0
    capsys.readouterr()
    err = _one_line_error(capsys, ["grammar", "check", "nope.yaml"])
    assert "shipped: mirror, mirror_token, ta_mirror" in err


def test_an_existing_file_wins_over_the_shipped_name(tmp_path, monkeypatch):
    d = yaml.safe_load((ROOT / "grammars" / "mirror.yaml").read_text())
    d["name"] = "local-mirror"
    (tmp_path / "mirror.yaml").write_text(yaml.safe_dump(d))
    monkeypatch.chdir(tmp_path)
    assert Grammar.load("mirror.yaml").name == "local-mirror"
    assert Grammar.load("mirror").name == "mirror"


@pytest.mark.parametrize("where", ["root", "elsewhere"])
def test_evolve_accepts_the_readme_grammar_spelling(where, tmp_path, monkeypatch):
    """`symmpo evolve --grammar mirror.yaml` builds its run configuration from the repository root and from
    elsewhere; the configuration records a spelling that resumes from any directory."""
    from symmpo.cli import build_parser
    from symmpo.commands.evolve import evolve_config
    from symmpo.search.space import ObjectiveSpace

    monkeypatch.chdir(ROOT if where == "root" else tmp_path)
    args = build_parser().parse_args(["evolve", "--preset", "tiny", "--grammar", "mirror.yaml"])
    config = evolve_config(args)
    assert config.grammar == "mirror" and config.grammar_name == "mirror"
    monkeypatch.chdir("/")
    assert ObjectiveSpace.from_config(config).grammar.name == "mirror"
    args.grammar = "grammars/mirror.yaml"
    if where == "root":
        monkeypatch.chdir(ROOT)
        path = evolve_config(args).grammar  # a path is recorded absolute, so --resume works anywhere
        assert Path(path).is_absolute() and Path(path).is_file()


def test_loss_of_a_bounded_objective_is_finite():
    obj = Objective.from_components(phi_inv="log(p) + 1e12*p", g="logsigmoid(z)")
    x = torch.tensor([-1.0, -1e4], dtype=torch.float64)
    assert torch.isfinite(obj.loss(x, x - 1, x, x)).all()


@pytest.mark.parametrize(
    "components",
    [
        {"phi_inv": "0"},  # a constant margin
        {"g": "1"},  # a constant loss
        {"g": "tau"},  # the loss reads only the progress
        {"phi_inv": "tau"},
        {"phi_inv": "log(p) + 2**p"},  # a constant base with a tensor exponent
    ],
)
def test_degenerate_objectives_still_give_per_example_losses(tmp_path, components):
    """Found by the fuzz test: these used to raise TypeError (a float where a tensor was needed) or return
    a scalar instead of one loss per example, compiled and exported alike."""
    obj = Objective.from_components(**{"phi_inv": "log(p)", "g": "logsigmoid(z)", **components})
    x = torch.tensor([-3.0, -1.0, -0.5], dtype=torch.float64)
    n = torch.ones(3, dtype=torch.float64)
    out = obj.loss(x, x - 1, x, x + 0.2, n, n, 0.5)
    assert out.shape == x.shape and torch.isfinite(out).all()
    mod = tmp_path / "exported_loss.py"
    mod.write_text(obj.to_torch_source())
    torch.save((x, x - 1, x, x + 0.2, n, n, 0.5), tmp_path / "args.pt")
    code = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); import exported_loss as m; "
        "torch.save(m.loss(*torch.load(sys.argv[1] + '/args.pt')), sys.argv[1] + '/out.pt')"
    )
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), out, rtol=1e-12, atol=1e-12)
