"""sra-rag's `long_context` passage order is LangChain's own LongContextReorder."""

import pytest
from langchain_community.document_transformers import LongContextReorder
from langchain_core.documents import Document

from sra_rag.rag import order_passages


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7, 16])
def test_long_context_order_is_langchains_long_context_reorder(count: int) -> None:
    ranked = [Document(page_content=f"passage {i}") for i in range(count)]  # best first
    theirs = LongContextReorder().transform_documents(ranked)
    assert order_passages(ranked, "long_context") == list(theirs)
    assert order_passages(ranked, "best_last")[-1] == ranked[0]
