"""LangChain integration for sra-rag: local Hugging Face models with Scaled ReAttention.

`ChatSRA` (chat model) and `SRALLM` (text completion) wrap one loaded model; SRA settings come
from `sra_rag` (`SRAConfig`, `TransitionConfig`, a guided rule such as `GuidedDispense`, or None for the
baseline).
`stuff_passages(prompt)` puts retrieved Documents into a RAG prompt and hands their spans and
scores to `ChatSRA`, for guided SRA.
"""

from sra_rag import GuidedConfig, GuidedDispense, GuidedFim, GuidedPasta, SRAConfig, TransitionConfig
from sra_rag.generation import ContextWindowError
from sra_rag.models import ModelNotFoundError

from .chat_models import ChatSRA
from .llms import SRALLM
from .passages import stuff_passages

__all__ = [
    "SRALLM",
    "ChatSRA",
    "ContextWindowError",
    "GuidedConfig",
    "GuidedDispense",
    "GuidedFim",
    "GuidedPasta",
    "ModelNotFoundError",
    "SRAConfig",
    "TransitionConfig",
    "stuff_passages",
]
