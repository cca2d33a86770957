"""LangChain integration for sra-rag."""
