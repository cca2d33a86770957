"""The RAG benchmark (`sra-rag rag-eval`): synthetic corpora, retrieval, the settings it compares,
the dev choice, the ship rule fixed before the test split is read, and its report."""
