"""A float32 safetensors copy of the GGUF model, converted once and cached.

transformers loads a GGUF file dequantized to float32 but keeps its quantization config, and the Trainer then
refuses to train the model ("quantized with QuantizationMethod.GGUF ... do not support training"). Dropping
that config and saving the weights gives an ordinary checkpoint (≈ 517 MB, ≈ 20 s on 2 cores) that loads in a
second or two, trains, and needs neither ``gguf`` nor the GGUF file afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from symmpo.llm.files import GGUF_SHA256, ModelFileError, cache_root, gguf_path

FORMAT_VERSION = 1
MODEL_NAME = "SmolLM2-135M-Instruct"
MARKER = "symmpo.json"  # written last: a directory without it is an interrupted conversion


def float32_path(cache_dir: Path | str | None = None) -> Path:
    return cache_root(cache_dir) / f"smollm2-135m-instruct-f32-{GGUF_SHA256[:12]}-v{FORMAT_VERSION}"


def _marker() -> dict[str, Any]:
    return {"version": FORMAT_VERSION, "gguf_sha256": GGUF_SHA256, "model": MODEL_NAME}


def is_converted(cache_dir: Path | str | None = None) -> bool:
    marker = float32_path(cache_dir) / MARKER
    try:
        return json.loads(marker.read_text()) == _marker()
    except (OSError, ValueError):
        return False


def convert(cache_dir: Path | str | None = None) -> Path:
    """Write the float32 checkpoint (model, tokenizer, generation config) next to the GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = gguf_path(cache_dir)
    out = float32_path(cache_dir)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    # the weights are already dequantized: forget that they came from a quantized file
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    model.config._name_or_path = MODEL_NAME
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / MARKER).write_text(json.dumps(_marker(), indent=1, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def float32_dir(cache_dir: Path | str | None = None, build: bool = True) -> Path:
    """The converted checkpoint's directory, converting first when ``build`` (else a ModelFileError)."""
    if is_converted(cache_dir):
        return float32_path(cache_dir)
    if not build:
        raise ModelFileError(f"{float32_path(cache_dir)} is not built; run `symmpo llm fetch`")
    return convert(cache_dir)
