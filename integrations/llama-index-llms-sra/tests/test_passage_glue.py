"""Nodes from the stores and templates people already use: LlamaIndex's FAISS store over
`IndexFlatL2` (distances: lower is better) and `IndexFlatIP`, a QA template that asks the question
before the context, reranker logits, negative and missing scores, a follow-up turn whose history
repeats the passages, and the defaults. Guided or not, none of these may break or invert."""

import itertools
from typing import Any

import faiss
import pytest
from conftest import CORPUS
from llama_index.core import Document, PromptTemplate, StorageContext, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.llms.sra import SRALLM, PassageReorder, PassageSynthesizer
from llama_index.llms.sra.base import node_passages
from llama_index.vector_stores.faiss import FaissVectorStore

from sra_rag import preset

CAT = "What is the name of the cat that lives at the lighthouse?"
QUESTION_FIRST = PromptTemplate(
    "Answer the question from the context.\nQuestion: {query_str}\nContext:\n{context_str}\nAnswer: "
)


def faiss_index(embed_model: Any, faiss_index: Any) -> VectorStoreIndex:
    documents = [Document(text=text, metadata={"topic": topic}) for topic, text in CORPUS.items()]
    return VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=FaissVectorStore(faiss_index=faiss_index)),
        embed_model=embed_model,
        transformations=[SentenceSplitter(chunk_size=128, chunk_overlap=0)],
    )


def reached(events: Any) -> list[dict[str, Any]]:
    return events.of(LLMChatEndEvent)[-1].response.raw["diagnostics"]["passages"]


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_a_distance_store_is_never_inverted(llm: SRALLM, embed_model: Any, events: Any, metric: str) -> None:
    """FAISS over IndexFlatL2 scores nodes by squared distance (lower is better) and returns them
    best first: `best_last` must put that best node next to the question, and weigh it most."""
    index = faiss_index(embed_model, faiss.IndexFlatL2(384) if metric == "l2" else faiss.IndexFlatIP(384))
    retrieved = index.as_retriever(similarity_top_k=3).retrieve(CAT)
    scores = [n.score for n in retrieved]
    assert scores == sorted(scores, reverse=metric == "ip")  # L2: ascending distances, best first
    assert "Pebble" in retrieved[0].node.get_content()
    llm.sra, llm.diagnostics, llm.max_new_tokens = preset("guided_pasta"), True, 24
    engine = index.as_query_engine(
        llm=llm,
        similarity_top_k=3,
        node_postprocessors=[PassageReorder(order="best_last")],
        response_synthesizer=PassageSynthesizer(llm),
    )
    response = engine.query(CAT)
    assert str(response).strip()  # answered, not "Empty Response" or a ValueError
    assert response.source_nodes[-1].node.node_id == retrieved[0].node.node_id  # next to the question
    assert [p["weight"] for p in reached(events)] == pytest.approx([1 / 3, 2 / 3, 1.0])


@pytest.mark.parametrize("setting", [None, "paper", "guided_pasta"])
def test_a_question_before_the_context_works_guided_or_not(
    llm: SRALLM, index: VectorStoreIndex, events: Any, setting: str | None
) -> None:
    llm.sra, llm.diagnostics, llm.max_new_tokens = (None if setting is None else preset(setting)), True, 16
    engine = index.as_query_engine(
        llm=llm,
        similarity_top_k=2,
        response_synthesizer=PassageSynthesizer(llm, text_qa_template=QUESTION_FIRST),
    )
    assert str(engine.query(CAT)).strip()  # the 135M model may misread this layout; it must not fail
    passages = reached(events)
    assert len(passages) == 2 and all(p["end"] > p["start"] for p in passages)
    if setting == "guided_pasta":
        assert any(p["mass_change"] for p in passages)


def nodes(scores: list[float | None]) -> list[NodeWithScore]:
    texts = list(CORPUS.values())
    return [NodeWithScore(node=TextNode(text=texts[i], id_=f"n{i}"), score=s) for i, s in enumerate(scores)]


@pytest.mark.parametrize(
    "scores",
    [[0.31, -0.02, -0.2], [9.1, 1.7, -3.3], [0.7, None, None], [None, None, None]],
    ids=["negative", "reranker-logits", "partly-scored", "unscored"],
)
def test_any_scores_become_weights_by_retrieval_rank(llm: SRALLM, events: Any, scores: list[Any]) -> None:
    retrieved = nodes(scores)
    arranged = PassageReorder(order="best_last").postprocess_nodes(retrieved)
    assert [n.node.node_id for n in arranged] == ["n2", "n1", "n0"]
    assert PassageReorder(order="retrieved").postprocess_nodes(arranged) == list(reversed(arranged))
    text = "\n\n".join(n.node.get_content() for n in arranged)
    messages = [ChatMessage(role="user", content=f"{text}\n\nQuestion: {CAT}")]
    llm.diagnostics = True
    llm.chat(messages, sra=preset("guided"), passages=arranged)
    assert [(p["label"], p["weight"]) for p in reached(events)] == [("n2", 1 / 3), ("n1", 2 / 3), ("n0", 1.0)]


def test_a_follow_up_turn_aims_at_its_own_passages_not_the_historys_copy(llm: SRALLM, events: Any) -> None:
    retrieved = nodes([0.5, 0.4])
    context = "\n\n".join(n.node.get_content() for n in retrieved)
    turn = [ChatMessage(role="user", content=f"{context}\n\nQuestion: When does the library open?")]
    history = [*turn, ChatMessage(role="assistant", content="At seven.")]
    follow_up = [*history, ChatMessage(role="user", content=f"{context}\n\nQuestion: {CAT}")]
    llm.diagnostics = True
    llm.chat(follow_up, sra=preset("guided"), passages=retrieved)
    history_tokens = sum(len(llm.tokenizer.encode(m.content)) for m in history)
    assert all(p["start"] > history_tokens for p in reached(events))


def test_the_default_order_is_the_retrievers() -> None:
    assert PassageReorder().order == "retrieved"


@pytest.mark.parametrize("setting", [None, "guided"])
def test_a_filter_after_the_reorder_keeps_the_ranks_as_given(
    llm: SRALLM, events: Any, setting: str | None
) -> None:
    """A similarity cutoff (or a reranker's top_n) after `PassageReorder` keeps the nodes ranked 1
    and 3 of 4: their ranks stay, and their weights follow the ranks that are there."""
    retrieved = nodes([0.9, 0.3, 0.6, 0.2])  # a fused or reranked list: best first, scores not monotonic
    arranged = PassageReorder(order="best_last").postprocess_nodes(retrieved)
    kept = SimilarityPostprocessor(similarity_cutoff=0.5).postprocess_nodes(arranged)
    assert [(n.node.node_id, n.retrieval_rank) for n in kept] == [("n2", 3), ("n0", 1)]
    llm.sra, llm.diagnostics, llm.max_new_tokens = (None if setting is None else preset(setting)), True, 12
    response = PassageSynthesizer(llm).synthesize(CAT, kept)
    assert str(response).strip()  # answered, not "Empty Response" or a ValueError
    assert [(p["label"], p["weight"]) for p in reached(events)] == [("n2", 0.5), ("n0", 1.0)]
    assert PassageReorder(order="retrieved").postprocess_nodes(kept) == [kept[1], kept[0]]


def test_blank_repeated_and_nested_nodes_are_located_where_the_prompt_has_them(
    llm: SRALLM, events: Any
) -> None:
    """A blank node has nothing to weigh and is left out; a node repeated takes its next
    occurrence; a node whose text is part of another's, or of the question, is found where it
    stands alone in the context."""
    texts = [CORPUS["lighthouse"], "", CORPUS["lighthouse"], "Skerra Point", CORPUS["library"]]
    retrieved = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=None) for i, t in enumerate(texts)]
    question = "What is the name of the cat on Skerra Point?"
    llm.sra, llm.diagnostics, llm.max_new_tokens = preset("guided"), True, 8
    PassageSynthesizer(llm, text_qa_template=QUESTION_FIRST).synthesize(question, retrieved)
    found = reached(events)
    assert [p["label"] for p in found] == ["n0", "n2", "n3", "n4"]  # prompt order, the blank left out
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(found))
    prompt = events.of(LLMChatEndEvent)[-1].messages[-1].content
    question_tokens = len(llm.tokenizer.encode(prompt[: prompt.index("Context:")]))
    assert found[0]["start"] >= question_tokens  # after the question, never inside it


def test_a_node_added_after_the_reorder_ranks_after_the_reordered_ones() -> None:
    """A plain node beside `RankedNode`s ranked 1 and 2 ranks third (it used to take rank 1 by its
    place in the list and collide with the reordered rank 1)."""
    arranged = PassageReorder(order="best_last").postprocess_nodes(nodes([0.9, 0.8]))
    added = NodeWithScore(node=TextNode(text=CORPUS["library"], id_="late"), score=None)
    passages = node_passages([added, *arranged])
    assert [(p.label, p.rank, p.weight) for p in passages] == [
        ("late", 3, 1 / 3),
        ("n1", 2, 2 / 3),
        ("n0", 1, 1.0),
    ]
