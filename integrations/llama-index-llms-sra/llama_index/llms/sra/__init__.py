"""LlamaIndex LLM for sra-rag."""
