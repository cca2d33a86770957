"""How fast the RAG index is built and queried: `python -m sra_rag.eval.bench.index_speed --out FILE.json`.

The corpus is the bundled demo corpus repeated with numbered variants (paragraphs shuffled per copy)
until it yields the requested number of chunks. Reported: build throughput (with the share spent
embedding), the atomic save, an incremental re-index after 1% of the files change, and query
latency percentiles (embed + search, and search alone) over single-question queries.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import torch

from ...rag import (
    ChunkingParams,
    Embedder,
    build_index,
    chunk_document,
    demo_corpus_dir,
    demo_questions,
    load_documents,
    save_index,
)
from ...rag.embedding import bundled_embedding_path
from ..provenance import provenance

logger = logging.getLogger(__name__)


def _write_corpus(folder: Path, target_chunks: int, chunks_per_document: float, seed: int) -> int:
    """Copies of the demo documents, each with its paragraphs shuffled; returns the file count."""
    rng = random.Random(seed)
    sources = load_documents(demo_corpus_dir())
    copies = max(1, round(target_chunks / chunks_per_document / len(sources)))
    for copy in range(copies):
        for document in sources:
            paragraphs = document.text.split("\n\n")
            rng.shuffle(paragraphs)
            name = f"{copy:04d}-{document.source}"
            (folder / name).write_text(f"Copy {copy}.\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    return copies * len(sources)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "n": len(ms)}


def run(target_chunks: int, queries: int, top_k: int, seed: int) -> dict[str, Any]:
    made_from = provenance(bundled_embedding_path())  # the embedding model's weights, the tree as run
    embedder = Embedder()
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "corpus", Path(tmp) / "index"
        folder.mkdir()
        demo = load_documents(demo_corpus_dir())
        chunks = sum(len(chunk_document(d, embedder.tokenizer, ChunkingParams())) for d in demo)
        files = _write_corpus(folder, target_chunks, chunks / len(demo), seed)

        embed_seconds = 0.0
        original_embed = embedder.embed

        def timed_embed(texts: list[str], progress: bool = False) -> np.ndarray:
            nonlocal embed_seconds
            start = time.perf_counter()
            vectors = original_embed(texts, progress=progress)
            embed_seconds += time.perf_counter() - start
            return vectors

        embedder.embed = timed_embed  # type: ignore[method-assign]
        try:
            start = time.perf_counter()
            index, report = build_index(folder, embedder, progress=True)
            build_seconds = time.perf_counter() - start
        finally:
            embedder.embed = original_embed  # type: ignore[method-assign]
        start = time.perf_counter()
        save_index(index, out)
        save_seconds = time.perf_counter() - start

        changed = sorted(folder.iterdir())[: max(1, files // 100)]
        for path in changed:
            path.write_text(path.read_text(encoding="utf-8") + "\n\nRevised.", encoding="utf-8")
        start = time.perf_counter()
        _, again = build_index(folder, embedder, previous=index)
        reindex_seconds = time.perf_counter() - start

        questions = [q.question for q in demo_questions()]
        asked = [questions[i % len(questions)] for i in range(queries)]
        embedder.embed(asked[:4])  # warm-up
        end_to_end, search_only = [], []
        for question in asked:
            start = time.perf_counter()
            vector = embedder.embed([question])
            middle = time.perf_counter()
            index.search(vector, top_k)
            end = time.perf_counter()
            end_to_end.append(end - start)
            search_only.append(end - middle)

    return {
        "provenance": made_from,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),  # other work on the machine slows every number
            "torch_threads": torch.get_num_threads(),
            "faiss": faiss.__version__,
            "embedding_model": embedder.name,
        },
        "corpus": {"files": files, "chunks": report.chunks, "chunk_tokens": index.chunking.chunk_tokens},
        "build": {
            "seconds": build_seconds,
            "chunks_per_second": report.chunks / build_seconds,
            "embedding_seconds": embed_seconds,
            "save_seconds": save_seconds,
        },
        "reindex_1_percent": {
            "files_changed": len(changed),
            "chunks_embedded": again.embedded_chunks,
            "seconds": reindex_seconds,
            "speedup_vs_full_build": build_seconds / reindex_seconds,
        },
        "query": {
            "top_k": top_k,
            "embed_and_search": _percentiles(end_to_end),
            "search_only": _percentiles(search_only),
            "mean_ms": statistics.fmean(end_to_end) * 1000,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(args.chunks, args.queries, args.top_k, args.seed)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    logger.info(text)


if __name__ == "__main__":
    main()
