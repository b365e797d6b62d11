"""The walkthrough notebook runs top to bottom (tiny training demo, committed results read from results/),
and shows its figures both as committed (opened without running it) and when executed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
PLOTS = re.compile(r"\bplt\.|\bImage\(")  # cells that draw a figure or display a saved one


def _cells_missing_figures(nb) -> list[int]:
    """Indices of code cells that plot but hold no image output."""
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        and PLOTS.search(c.source)
        and not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMMPO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors
    assert not _cells_missing_figures(nb)  # the notebook selects the inline backend itself


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_shows_its_figures(path):
    nb = nbformat.read(path, as_version=4)
    assert any(PLOTS.search(c.source) for c in nb.cells if c.cell_type == "code")
    missing = _cells_missing_figures(nb)
    assert not missing, (
        f"code cells {missing} plot but were committed without their figure (re-execute inline)"
    )
    assert not [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]


def test_there_is_a_notebook():
    assert NOTEBOOKS, "notebooks/ should hold the walkthrough"
