"""Framework-free RAG: load a folder, chunk, embed, index with FAISS, retrieve, stuff, answer with SRA.

Needs the `rag` extra (faiss-cpu, sentence-transformers and the bundled all-MiniLM-L6-v2). Names
load on first use, so `sra_rag.rag.order` costs no torch or FAISS import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "chunking": ("Chunk", "ChunkingParams", "chunk_document"),
        "demo_corpus": ("Question", "demo_corpus_dir", "demo_questions"),
        "documents": ("CorpusError", "Document", "load_documents"),
        "embedding": ("BUNDLED_EMBEDDING_NAME", "Embedder"),
        "indexing": ("IndexReport", "build_index", "index_folder"),
        "order": ("ORDERS", "PassageOrder", "order_passages"),
        "pipeline": ("RagAnswer", "RagPipeline", "Source"),
        "profile": ("RagProfile", "shipped_profile"),
        "prompt": ("RagPrompt", "build_prompt"),
        "store": ("IndexStoreError", "RagIndex", "load_index", "save_index"),
    },
)

if TYPE_CHECKING:
    from .chunking import Chunk, ChunkingParams, chunk_document
    from .demo_corpus import Question, demo_corpus_dir, demo_questions
    from .documents import CorpusError, Document, load_documents
    from .embedding import BUNDLED_EMBEDDING_NAME, Embedder
    from .indexing import IndexReport, build_index, index_folder
    from .order import ORDERS, PassageOrder, order_passages
    from .pipeline import RagAnswer, RagPipeline, Source
    from .profile import RagProfile, shipped_profile
    from .prompt import RagPrompt, build_prompt
    from .store import IndexStoreError, RagIndex, load_index, save_index
