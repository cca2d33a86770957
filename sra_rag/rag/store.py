"""A FAISS index saved with its chunk store and metadata, written atomically, loaded with checks.

On disk an index is a folder: `index.faiss` (inner product over unit vectors), `chunks.jsonl` (one
chunk per vector, same order) and `meta.json` (format version, embedding model and dimension,
chunking parameters, each source file's hash, and the SHA-256 of the other two files). A save
writes a sibling temporary folder and swaps it in with two renames (old out, new in), so the path
never holds a half-written index; should a crash fall between the renames, the next load or save
puts the old index back. A load verifies every hash before trusting a byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .chunking import Chunk, ChunkingParams

FORMAT_VERSION = 1
_INDEX, _CHUNKS, _META = "index.faiss", "chunks.jsonl", "meta.json"


class IndexStoreError(ValueError):
    """A saved index that is missing, damaged, or built for another embedding model."""


@dataclass
class RagIndex:
    """Vectors (row i embeds chunks[i]) plus what they were built from."""

    vectors: faiss.IndexFlatIP
    chunks: list[Chunk]
    embedding_model: str
    chunking: ChunkingParams
    files: dict[str, str]  # source -> sha256

    @property
    def dimension(self) -> int:
        return self.vectors.d

    def search(self, query_vectors: np.ndarray, top_k: int) -> list[list[tuple[Chunk, float]]]:
        """The `top_k` nearest chunks (with cosine scores) for each query vector."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        scores, ids = self.vectors.search(np.ascontiguousarray(query_vectors, dtype=np.float32), top_k)
        return [
            [(self.chunks[i], float(s)) for i, s in zip(row_ids, row_scores, strict=True) if i >= 0]
            for row_ids, row_scores in zip(ids, scores, strict=True)
        ]

    def by_source(self) -> dict[str, tuple[list[Chunk], np.ndarray]]:
        """Each source's chunks and stored vectors (re-indexing keeps them for unchanged files)."""
        vectors = self.vectors.reconstruct_n(0, self.vectors.ntotal)
        rows: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            rows.setdefault(chunk.source, []).append(i)
        return {source: ([self.chunks[i] for i in ids], vectors[ids]) for source, ids in rows.items()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def _recover(target: Path) -> None:
    """Put back the previous index if a crash fell between a save's two renames."""
    if target.exists():
        return
    retired = sorted(target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    for folder in reversed(retired):
        if (folder / _META).is_file():
            folder.rename(target)
            return


def check_index_target(path: str | Path) -> None:
    """Refuse early (before any embedding) to write an index over a folder that is not one."""
    target = Path(path)
    _recover(target)
    if target.exists() and not (
        target.is_dir() and {p.name for p in target.iterdir()} <= {_INDEX, _CHUNKS, _META}
    ):
        raise IndexStoreError(
            f"{str(target)!r} exists and is not a saved index; choose another --out path or remove it"
        )


def save_index(index: RagIndex, path: str | Path) -> Path:
    """Write `index` to the folder `path`, replacing what was there only once all of it is written."""
    target = Path(path)
    check_index_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    staging.mkdir()
    try:
        faiss.write_index(index.vectors, str(staging / _INDEX))
        with (staging / _CHUNKS).open("w", encoding="utf-8") as handle:
            for chunk in index.chunks:
                handle.write(json.dumps(dataclasses.asdict(chunk), ensure_ascii=False) + "\n")
        meta = {
            "format_version": FORMAT_VERSION,
            "embedding_model": index.embedding_model,
            "dimension": index.dimension,
            "count": len(index.chunks),
            "chunking": dataclasses.asdict(index.chunking),
            "files": index.files,
            "sha256": {name: _sha256(staging / name) for name in (_INDEX, _CHUNKS)},
        }
        (staging / _META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        _fsync_tree(staging)
        retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


_META_KEYS = ("format_version", "embedding_model", "dimension", "count", "chunking", "files", "sha256")
"""What `save_index` writes into meta.json, and `load_index` needs."""


def _read_meta(folder: Path) -> dict[str, Any]:
    meta_path = folder / _META
    if not folder.is_dir():
        raise IndexStoreError(
            f"no saved index at {str(folder)!r}; build one with `sra-rag index DIR --out PATH`"
        )
    if not meta_path.is_file():
        raise IndexStoreError(f"{str(folder)!r} is not a saved index: {_META} is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise IndexStoreError(f"{str(meta_path)!r} is corrupt ({error}); rebuild the index") from error
    if meta.get("format_version") != FORMAT_VERSION:
        raise IndexStoreError(
            f"{str(folder)!r} has index format {meta.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}; rebuild the index"
        )
    missing = [key for key in _META_KEYS if key not in meta]
    hashes = meta.get("sha256")
    missing += [f"sha256.{n}" for n in (_INDEX, _CHUNKS) if isinstance(hashes, dict) and n not in hashes]
    if missing or not isinstance(hashes, dict):
        raise IndexStoreError(
            f"{str(meta_path)!r} lacks {missing or ['sha256']}: it is damaged; rebuild the index"
        )
    return meta


def load_index(
    path: str | Path, embedding_model: str | None = None, dimension: int | None = None
) -> RagIndex:
    """Load and verify a saved index; with `embedding_model`/`dimension`, insist they match."""
    folder = Path(path)
    _recover(folder)
    meta = _read_meta(folder)
    if embedding_model is not None and meta["embedding_model"] != embedding_model:
        raise IndexStoreError(
            f"{str(folder)!r} was built with embedding model {meta['embedding_model']!r}, not "
            f"{embedding_model!r}; queries must use the same model (or rebuild the index)"
        )
    if dimension is not None and meta["dimension"] != dimension:
        raise IndexStoreError(
            f"{str(folder)!r} holds {meta['dimension']}-dimensional vectors, but the embedding model "
            f"makes {dimension}-dimensional ones; rebuild the index with this model"
        )
    for name in (_INDEX, _CHUNKS):
        file = folder / name
        if not file.is_file():
            raise IndexStoreError(f"{str(folder)!r} is incomplete: {name} is missing; rebuild the index")
        if _sha256(file) != meta["sha256"][name]:
            raise IndexStoreError(f"{str(file)!r} is truncated or corrupt (hash mismatch); rebuild the index")
    vectors = faiss.read_index(str(folder / _INDEX))
    with (folder / _CHUNKS).open(encoding="utf-8") as handle:
        chunks = [Chunk(**json.loads(line)) for line in handle]
    if vectors.ntotal != len(chunks) or vectors.d != meta["dimension"] or len(chunks) != meta["count"]:
        raise IndexStoreError(f"{str(folder)!r} is inconsistent (vector and chunk counts differ); rebuild")
    chunking = ChunkingParams(**meta["chunking"])
    return RagIndex(vectors, chunks, meta["embedding_model"], chunking, meta["files"])
