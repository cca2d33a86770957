"""Passages from the prompts and stores people already use: a hub-style prompt that asks the
question before the context, scores of every sign and sense (some missing), a follow-up turn whose
history repeats the passages, and the defaults. Guided or not, none of these may break or invert."""

import itertools
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_sra import ChatSRA, stuff_passages
from langchain_sra.passages import to_passages

from sra_rag import preset
from sra_rag.engine.passage import Passage
from sra_rag.rag.order import DEFAULT_ORDER
from sra_rag.rag.profile import RagProfile

# the layout of LangChain hub's most pulled RAG prompt (rlm/rag-prompt): the question first
QUESTION_FIRST = ChatPromptTemplate.from_messages(
    [
        (
            "human",
            "You are an assistant for question-answering tasks. Use the following pieces of retrieved "
            "context to answer the question. If you don't know the answer, just say that you don't know. "
            "Use three sentences maximum and keep the answer concise.\n"
            "Question: {question} \nContext: {context} \nAnswer:",
        )
    ]
)
FACTS = [
    "Tilda Varga, the first mayor of Eskelund, was a carpenter before politics.",
    "The library of Eskelund keeps a collection of two hundred old sea maps.",
    "The annual herring festival in Korvenna takes place in the second week of June.",
    "Ferries to Marrow Bay leave every forty minutes from the north pier.",
]
QUESTION = "What was the job of Tilda Varga before politics?"


def documents(scores: list[Any], key: str = "relevance_score") -> list[Document]:
    """FACTS as a retriever returns them (best first), each with `scores[i]` in its metadata."""
    return [
        Document(page_content=text, metadata={} if score is None else {key: score}, id=f"d{i}")
        for i, (text, score) in enumerate(zip(FACTS, scores, strict=True))
    ]


def passages_reached(message: Any) -> list[dict[str, Any]]:
    return message.response_metadata["sra_diagnostics"]["passages"]


@pytest.mark.parametrize("setting", [None, "paper", "guided_pasta"])
def test_a_question_before_the_context_works_guided_or_not(chat: ChatSRA, setting: str | None) -> None:
    sra = None if setting is None else preset(setting)
    chain = stuff_passages(QUESTION_FIRST) | chat.bind(sra=sra)
    message = chain.invoke({"context": documents([None] * 4), "question": QUESTION})
    assert "carpenter" in message.content.lower()
    reached = passages_reached(message)
    assert [p["label"] for p in reached] == ["d0", "d1", "d2", "d3"]
    if setting == "guided_pasta":
        assert any(p["mass_change"] for p in reached), "guided SRA must act on the rows after the context"


@pytest.mark.parametrize(
    "scores",
    [
        [0.41, -0.05, -0.12, -0.3],  # cosine / inner product below 0
        [0.12, 0.48, 0.9, 1.3],  # squared L2 distances: lower is better, still best first
        [7.9, 2.2, -1.4, -6.0],  # a cross-encoder reranker's logits (relevance_score)
        [23.5, 11.0, 9.7, 4.2],  # BM25
        [0.8, None, 0.3, None],  # partly scored (a postprocessor added neighbours)
    ],
    ids=["negative", "distances", "reranker", "bm25", "partly-scored"],
)
def test_any_scores_become_weights_by_retrieval_rank(chat: ChatSRA, scores: list[Any]) -> None:
    """Whatever the scores mean, the first document is the best: it weighs most, wherever the
    order puts it, and no score's sign, sense or scale reaches the guided rule."""
    chain = stuff_passages(QUESTION_FIRST, order="best_last") | chat.bind(sra=preset("guided"))
    reached = passages_reached(chain.invoke({"context": documents(scores), "question": QUESTION}))
    assert [(p["label"], p["weight"]) for p in reached] == [
        ("d3", 0.25),
        ("d2", 0.5),
        ("d1", 0.75),
        ("d0", 1.0),
    ]
    assert to_passages(documents(scores))[0].weight == 1.0
    gains = [p["mass_change"] for p in reached]
    assert max(gains) == gains[-1], gains  # the weights decide: the best document (placed last) gains most


def test_a_follow_up_turn_aims_at_its_own_passages_not_the_historys_copy(chat: ChatSRA) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "Context:\n{context}\n\nQuestion: {question}")]
    )
    context = "\n\n".join(FACTS)
    history = [
        HumanMessage(f"Context:\n{context}\n\nQuestion: Where do ferries leave from?"),
        AIMessage("The north pier."),
    ]
    chain = stuff_passages(prompt) | chat.bind(sra=preset("guided"))
    message = chain.invoke({"history": history, "context": documents([None] * 4), "question": QUESTION})
    history_tokens = len(chat.get_token_ids(history[0].content)) + len(chat.get_token_ids(history[1].content))
    assert all(p["start"] > history_tokens for p in passages_reached(message))


def test_the_default_order_is_the_retrievers() -> None:
    assert DEFAULT_ORDER == "retrieved"
    value = stuff_passages(QUESTION_FIRST).invoke(
        {"context": documents([0.1, 0.2, 0.3, 0.4]), "question": QUESTION}
    )
    carried = value.messages[-1].additional_kwargs["sra_passages"]
    assert [p["rank"] for p in carried] == [1, 2, 3, 4]  # the default order is the retriever's


def test_a_profile_keeps_the_best_passages_in_its_order(tmp_path) -> None:
    RagProfile("SmolLM2-135M-Instruct", 3, "best_last").save(tmp_path / "profile.json")
    inputs = {"context": documents([0.4, 0.3, 0.2, 0.1]), "question": QUESTION}
    for profile in (tmp_path / "profile.json", RagProfile.load(tmp_path / "profile.json")):
        value = stuff_passages(QUESTION_FIRST, profile=profile).invoke(inputs)
        assert [p["rank"] for p in value.messages[-1].additional_kwargs["sra_passages"]] == [3, 2, 1]
        assert FACTS[3] not in value.messages[-1].content  # the fourth document is left out
    value = stuff_passages(
        QUESTION_FIRST, profile=tmp_path / "profile.json", keep=2, order="retrieved"
    ).invoke(inputs)
    assert [p["rank"] for p in value.messages[-1].additional_kwargs["sra_passages"]] == [
        1,
        2,
    ]  # the caller wins
    with pytest.raises(ValueError, match="keep must be an integer >= 1"):
        stuff_passages(QUESTION_FIRST, keep=0)
    with pytest.raises(FileNotFoundError, match="sra-rag calibrate"):
        stuff_passages(QUESTION_FIRST, profile=tmp_path / "missing.json")


@pytest.mark.parametrize("setting", [None, "paper", "guided"])
def test_a_blank_or_repeated_document_never_breaks_a_call(chat: ChatSRA, setting: str | None) -> None:
    """An empty chunk in a retriever's output has no tokens to weigh: it is left out of the spans,
    and a repeated document takes its own occurrence."""
    docs = documents([None] * 4)
    retrieved = [
        docs[0],
        Document(page_content="", id="blank"),
        docs[1],
        docs[0].model_copy(update={"id": "again"}),
    ]
    chain = stuff_passages(QUESTION_FIRST) | chat.bind(sra=None if setting is None else preset(setting))
    message = chain.invoke({"context": retrieved, "question": QUESTION})
    assert message.content.strip()
    found = passages_reached(message)
    assert [p["label"] for p in found] == ["d0", "d1", "again"]
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(found))


def test_a_document_that_is_part_of_the_question_is_found_in_the_context(chat: ChatSRA) -> None:
    """With the question before the context, a short document whose text the question also holds
    ("Tilda Varga") is located in the context, where the prompt put it, never in the question."""
    short = Document(page_content="Tilda Varga", id="short")
    retrieved = [documents([None] * 4)[0], short, *documents([None] * 4)[1:]]
    chain = stuff_passages(QUESTION_FIRST) | chat.bind(sra=preset("guided"))
    message = chain.invoke({"context": retrieved, "question": QUESTION})
    found = passages_reached(message)
    assert [p["label"] for p in found] == ["d0", "short", "d1", "d2", "d3"]  # prompt order
    assert found[0]["end"] <= found[1]["start"] < found[2]["start"]


def test_carried_ranks_weigh_by_the_ranks_that_are_there() -> None:
    """Passages a step dropped some of (ranks 1 and 3 of 4 kept) weigh by those ranks, kept as given."""
    carried = [{"text": FACTS[2], "rank": 3, "label": "d2"}, {"text": FACTS[0], "rank": 1, "label": "d0"}]
    assert to_passages(carried) == [Passage(FACTS[2], 3, 0.5, "d2"), Passage(FACTS[0], 1, 1.0, "d0")]
    with pytest.raises(ValueError, match="two passages have the same retrieval rank"):
        to_passages([carried[0], carried[0]])


def test_a_document_added_after_the_reorder_ranks_after_the_carried_ones() -> None:
    """A Document with no carried rank, beside passages that carry ranks 1 and 2, ranks third
    (it used to take rank 1 by its place and collide with the carried rank 1)."""
    carried = [{"text": FACTS[1], "rank": 2, "label": "d1"}, {"text": FACTS[0], "rank": 1, "label": "d0"}]
    added = Document(page_content=FACTS[3], id="late")
    assert to_passages([added, *carried]) == [
        Passage(FACTS[3], 3, 1 / 3, "late"),
        Passage(FACTS[1], 2, 2 / 3, "d1"),
        Passage(FACTS[0], 1, 1.0, "d0"),
    ]
