"""LlamaIndex LLM for local Hugging Face models with Scaled ReAttention (sra-rag)."""

from llama_index.llms.sra.base import CALL_OPTIONS, SRALLM

__all__ = ["CALL_OPTIONS", "SRALLM"]
