"""Where a result file came from: the repository commit, the command, the package versions and the
model's identity, so a published number can be traced to what produced it.

A model has two identities, and result files record both:
- `model_sha256`, the bytes it was loaded from (the bundled GGUF as the package ships it, a .gguf
  file, a folder's weight files): the same on every machine that installed the same files;
- `weights_sha256`, the values of the loaded tensors (names, dtypes, shapes and contents, in name
  order), whatever file format or conversion produced them. Two machines' results were computed
  from the same numbers exactly when these agree. A converted file's own bytes identify neither: its
  header and layout belong to the writer, not to the model.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

PACKAGES = ("torch", "transformers", "sentence-transformers", "faiss-cpu", "sra-rag")


def _git(*args: str) -> str | None:
    try:
        run = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def model_sha256(source: str | Path | None) -> str | None:
    """SHA-256 of the files the model is loaded from: the bundled GGUF (None), a .gguf file, or a
    folder's weight files in name order; None for a hub id, which names no local bytes."""
    if source is None:
        from ..models import bundled_gguf_path

        files = [bundled_gguf_path()]
    else:
        path = Path(source)
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted([*path.glob("*.safetensors"), *path.glob("*.bin")])
        else:
            return None
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def weights_sha256(model: torch.nn.Module) -> str | None:
    """SHA-256 of the loaded tensors' values (see the module docstring); None when some tensor has
    no values here (offloaded to disk: its parameters are placeholders on the meta device)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if tensor.is_meta:
            return None
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def provenance(
    model_source: str | Path | None = None, model: torch.nn.Module | None = None
) -> dict[str, Any]:
    """The record a result file keeps of its making (the commit is None outside a git checkout;
    `dirty` says the working tree had uncommitted changes); `model`, when given, adds the loaded
    weights' identity."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "model_sha256": model_sha256(model_source),
        **({} if model is None else {"weights_sha256": weights_sha256(model)}),
    }
