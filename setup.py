"""Build hook: the wheel ships the top-level ``grammars/`` as ``symmpo/grammars/``.

``grammars/`` at the repository root is the user's copy of the shipped grammars, and the only one in
the tree. Everything else about the package is declared in ``pyproject.toml``; this file only teaches
``build_py`` to copy those YAML files into the package it builds, so ``Grammar.load("mirror")`` finds
them in an installed wheel. An editable install or a source checkout reads ``grammars/`` directly.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

GRAMMARS = Path("grammars")  # relative to the project root, where setuptools runs the build


class BuildPyWithGrammars(build_py):
    """``build_py`` that also copies ``grammars/*.yaml`` to ``<build>/symmpo/grammars/``."""

    def _grammar_mapping(self) -> dict[str, str]:
        sources = sorted(GRAMMARS.glob("*.yaml"))
        if not sources:
            raise RuntimeError(f"no grammars in {GRAMMARS.resolve()}: the package would ship none")
        dest = Path(self.build_lib, "symmpo", "grammars")
        return {str(dest / src.name): str(src) for src in sources}

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # editable installs read grammars/ in place
            return
        for target, source in self._grammar_mapping().items():
            self.mkpath(os.path.dirname(target))
            self.copy_file(source, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:  # there the base class lists get_output_mapping(), which has them already
            return outputs
        return [*outputs, *self._grammar_mapping()]

    def get_output_mapping(self) -> dict[str, str]:
        return {**super().get_output_mapping(), **self._grammar_mapping()}


setup(cmdclass={"build_py": BuildPyWithGrammars})
