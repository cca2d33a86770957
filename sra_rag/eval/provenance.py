"""Where a result file came from: the repository commit, the command, the package versions and the
model's own bytes, so a published number can be traced to what produced it."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

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
    """SHA-256 of the model's weights: the bundled GGUF (None), a .gguf file, or a folder's
    weight files in name order; None for a hub id, which names no local bytes."""
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


def provenance(model_source: str | Path | None = None) -> dict[str, Any]:
    """The record a result file keeps of its making (the commit is None outside a git checkout;
    `dirty` says the working tree had uncommitted changes)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "model_sha256": model_sha256(model_source),
    }
