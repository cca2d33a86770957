"""Build or refresh an index from a folder; only new and changed files are embedded again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from tqdm.auto import tqdm

from .chunking import Chunk, ChunkingParams, chunk_document
from .documents import CorpusError, load_documents
from .embedding import Embedder
from .store import IndexStoreError, RagIndex, check_index_target, load_index, save_index

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    """What an (re-)index did, file by file."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    unchanged: list[str]
    chunks: int
    embedded_chunks: int


def build_index(
    folder: str | Path,
    embedder: Embedder,
    params: ChunkingParams | None = None,
    previous: RagIndex | None = None,
    progress: bool = False,
) -> tuple[RagIndex, IndexReport]:
    """Index every document in `folder`; vectors of files unchanged since `previous` are reused."""
    params = params or ChunkingParams()
    documents = load_documents(folder)
    if params.chunk_tokens > embedder.max_tokens:
        raise ValueError(
            f"chunks of {params.chunk_tokens} tokens are longer than {embedder.name} embeds "
            f"({embedder.max_tokens} tokens; it would cut them silently): use at most {embedder.max_tokens}"
        )
    reusable = previous is not None and (
        previous.embedding_model == embedder.name
        and previous.dimension == embedder.dimension
        and previous.chunking == params
    )
    old_files = previous.files if previous is not None else {}
    stored = previous.by_source() if reusable else {}  # type: ignore[union-attr]
    chunks: list[Chunk] = []
    pieces: list[np.ndarray] = []
    pending: list[tuple[int, list[Chunk]]] = []  # (position in pieces, chunks still to embed)
    added, changed, unchanged = [], [], []
    for document in tqdm(documents, desc="chunking", unit="file", disable=not progress):
        if document.source in stored and old_files.get(document.source) == document.sha256:
            kept, vectors = stored[document.source]
            unchanged.append(document.source)
            chunks.extend(kept)
            pieces.append(vectors)
            continue
        (changed if document.source in old_files else added).append(document.source)
        fresh = chunk_document(document, embedder.tokenizer, params)
        chunks.extend(fresh)
        pending.append((len(pieces), fresh))
        pieces.append(np.zeros((0, embedder.dimension), dtype=np.float32))
    if not chunks:
        raise CorpusError(f"no text to index in {str(folder)!r}: its files hold no words")
    texts = [c.text for _, fresh in pending for c in fresh]
    logger.info("embedding %d chunks from %d files", len(texts), len(pending))
    embedded = embedder.embed(texts, progress=progress)
    cursor = 0
    for position, fresh in pending:
        pieces[position] = embedded[cursor : cursor + len(fresh)]
        cursor += len(fresh)
    vectors = faiss.IndexFlatIP(embedder.dimension)
    vectors.add(np.concatenate(pieces) if pieces else np.zeros((0, embedder.dimension), np.float32))
    files = {d.source: d.sha256 for d in documents}
    removed = sorted(set(old_files) - set(files))
    index = RagIndex(vectors, chunks, embedder.name, params, files)
    return index, IndexReport(added, changed, removed, unchanged, len(chunks), len(texts))


def index_folder(
    folder: str | Path,
    out: str | Path,
    embedder: Embedder,
    params: ChunkingParams | None = None,
    progress: bool = False,
) -> tuple[RagIndex, IndexReport]:
    """Build the index of `folder` at `out`, reusing what a compatible index there already holds."""
    check_index_target(out)
    previous = None
    if Path(out).exists():
        try:
            previous = load_index(out)
        except IndexStoreError as error:
            logger.warning("rebuilding %s from scratch: %s", out, error)
    index, report = build_index(folder, embedder, params, previous, progress)
    save_index(index, out)
    return index, report
