"""sra-rag's `long_context` passage order is LlamaIndex's own LongContextReorder."""

import pytest
from llama_index.core.postprocessor import LongContextReorder
from llama_index.core.schema import NodeWithScore, TextNode

from sra_rag.rag import order_passages


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7, 16])
def test_long_context_order_is_llamaindexs_long_context_reorder(count: int) -> None:
    ranked = [NodeWithScore(node=TextNode(text=f"passage {i}"), score=1.0 - i / 100) for i in range(count)]
    theirs = LongContextReorder().postprocess_nodes(list(reversed(ranked)))  # it sorts by score itself
    assert [n.node.text for n in order_passages(ranked, "long_context")] == [n.node.text for n in theirs]
