"""sra-rag's `long_context` passage order is LlamaIndex's own LongContextReorder."""

import pytest
from llama_index.core.postprocessor import LongContextReorder
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.llms.sra import PassageReorder

from sra_rag.rag import order_passages
from sra_rag.rag.profile import RagProfile


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7, 16])
def test_long_context_order_is_llamaindexs_long_context_reorder(count: int) -> None:
    ranked = [NodeWithScore(node=TextNode(text=f"passage {i}"), score=1.0 - i / 100) for i in range(count)]
    theirs = LongContextReorder().postprocess_nodes(list(reversed(ranked)))  # it sorts by score itself
    assert [n.node.text for n in order_passages(ranked, "long_context")] == [n.node.text for n in theirs]


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7])
def test_passage_reorder_long_context_is_long_context_reorder(count: int) -> None:
    """On similarity scores, as a retriever returns them (best first), the two agree; ours ranks by
    arrival, so it also holds for distances, where LongContextReorder's score sort inverts."""
    scores = sorted(((i * 7 % 10) / 10 for i in range(count)), reverse=True)
    nodes = [NodeWithScore(node=TextNode(text=f"passage {i}"), score=s) for i, s in enumerate(scores)]
    theirs = LongContextReorder().postprocess_nodes(list(nodes))
    ours = PassageReorder(order="long_context").postprocess_nodes(list(nodes))
    assert [n.node.text for n in ours] == [n.node.text for n in theirs]
    assert PassageReorder(order="best_last").postprocess_nodes(list(nodes))[-1].node is nodes[0].node


def test_a_profile_keeps_the_best_nodes_in_its_order(tmp_path) -> None:
    RagProfile("SmolLM2-135M-Instruct", 2, "best_last").save(tmp_path / "profile.json")
    nodes = [NodeWithScore(node=TextNode(text=f"passage {i}"), score=1.0 - i / 10) for i in range(4)]
    for profile in (tmp_path / "profile.json", RagProfile.load(tmp_path / "profile.json")):
        kept = PassageReorder(profile=profile).postprocess_nodes(list(nodes))
        assert [n.node.text for n in kept] == ["passage 1", "passage 0"]
    kept = PassageReorder(profile=tmp_path / "profile.json", keep=3, order="retrieved").postprocess_nodes(
        list(nodes)
    )
    assert [n.node.text for n in kept] == ["passage 0", "passage 1", "passage 2"]  # the caller wins
    every = PassageReorder().postprocess_nodes(list(nodes))  # no profile: every node, as retrieved
    assert [n.node.text for n in every] == [f"passage {i}" for i in range(4)]
    with pytest.raises(ValueError, match="keep"):
        PassageReorder(keep=0)
    with pytest.raises(FileNotFoundError, match="sra-rag calibrate"):
        PassageReorder(profile=tmp_path / "missing.json")


def test_the_profile_recipe_keeps_orders_and_attends_as_the_pipeline(bundled, tmp_path):
    """`SRALLM` knows its model's shipped profile; `PassageReorder(profile=llm.profile)` keeps and
    orders the retrieved nodes exactly as `RagPipeline` does on the same retrieved chunks, and the
    LLM answers with the same attention setting."""
    from llama_index.llms.sra import SRALLM

    from sra_rag.generation import Generator, describe_setting
    from sra_rag.rag import Embedder, RagPipeline, demo_corpus_dir, index_folder
    from sra_rag.rag.profile import shipped_profile

    model, tokenizer = bundled
    llm = SRALLM(model, tokenizer, max_new_tokens=4)  # the recipe: the shipped profile
    assert llm.profile is not None and llm.profile == shipped_profile(model)
    assert llm.sra == llm.profile.sra  # the attention setting it was measured with
    index, _ = index_folder(demo_corpus_dir(), tmp_path / "index", Embedder())
    pipeline = RagPipeline(index, Embedder(), Generator(model, tokenizer), max_new_tokens=4)
    question = "Who keeps the observatory's logbook?"
    _, placed = pipeline.prompt(question)
    retrieved = index.search(Embedder().embed([question]), 16)[0]  # what a retriever hands over
    nodes = [NodeWithScore(node=TextNode(text=chunk.text), score=score) for chunk, score in retrieved]
    kept = PassageReorder(profile=llm.profile).postprocess_nodes(nodes)
    assert [n.node.get_content() for n in kept] == [chunk.text for chunk, _, _ in placed]
    assert len(kept) == llm.profile.keep
    response = llm.complete(question)
    assert response.raw["sra"] == describe_setting(pipeline.ask(question).sra)
