"""LangChain integration for sra-rag: local Hugging Face models with Scaled ReAttention.

`ChatSRA` (chat model) and `SRALLM` (text completion) wrap one loaded model; SRA settings come
from `sra_rag` (`SRAConfig`, `TransitionConfig`, or None for the baseline).
"""

from sra_rag.config import SRAConfig, TransitionConfig
from sra_rag.generation import ContextWindowError
from sra_rag.models import ModelNotFoundError

from .chat_models import ChatSRA
from .llms import SRALLM

__all__ = ["SRALLM", "ChatSRA", "ContextWindowError", "ModelNotFoundError", "SRAConfig", "TransitionConfig"]
