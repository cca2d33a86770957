"""LlamaIndex LLM for local Hugging Face models with Scaled ReAttention (sra-rag), and the two
pieces that carry a query engine's retrieved nodes to it: `PassageReorder` (passage order) and
`PassageSynthesizer` (spans and ranks, for guided SRA)."""

from llama_index.llms.sra.base import CALL_OPTIONS, SRALLM, PassagesRequiredError, RankedNode
from llama_index.llms.sra.passages import PassageReorder, PassageSynthesizer

__all__ = [
    "CALL_OPTIONS",
    "SRALLM",
    "PassageReorder",
    "PassageSynthesizer",
    "PassagesRequiredError",
    "RankedNode",
]
