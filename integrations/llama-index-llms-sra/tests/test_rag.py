"""SRALLM inside LlamaIndex: query engines (plain, streaming, async, via Settings) and a chat engine,
over a FAISS index of an original corpus with MiniLM embeddings."""

from typing import Any

import pytest
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMCompletionEndEvent
from llama_index.core.memory import Memory
from llama_index.llms.sra import SRALLM

from sra_rag import SRAConfig

CAT = "What is the name of the cat that lives at the lighthouse?"


def topics(response: Any) -> list[str]:
    return [n.node.metadata["topic"] for n in response.source_nodes]


ACTIVE_ON_SHORT_PROMPTS = SRAConfig(
    begin_length=5, question_length=8, inter_eliminate=0.5, outer_eliminate=0.5
)
"""SRA that moves attention even in the ~150-token prompts of this corpus (the paper's needs 300+)."""


def test_query_engine_answers_from_the_index(llm: SRALLM, index: VectorStoreIndex, events: Any) -> None:
    llm.sra, llm.diagnostics, llm.max_new_tokens = ACTIVE_ON_SHORT_PROMPTS, True, 16
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    response = engine.query(CAT)
    assert "Pebble" in str(response)
    assert topics(response)[0] == "lighthouse"
    assert "Pebble" in response.source_nodes[0].node.get_content()
    [ended] = events.of(LLMChatEndEvent)  # the engine went through the chat interface, once
    assert ended.response.raw["sra"] == ACTIVE_ON_SHORT_PROMPTS.to_dict()
    assert ended.response.raw["diagnostics"]["redistributed_mass"] > 0  # and SRA moved attention
    assert "Skerra Point" in ended.messages[-1].content  # the retrieved text reached the model


def test_streaming_query_engine_yields_text_incrementally(llm: SRALLM, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(llm=llm, similarity_top_k=2, streaming=True)
    response = engine.query(CAT)
    pieces = list(response.response_gen)
    assert len([p for p in pieces if p]) > 1
    assert "Pebble" in "".join(pieces)
    assert topics(response)[0] == "lighthouse"


async def test_async_query_engine(llm: SRALLM, index: VectorStoreIndex) -> None:
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    response = await engine.aquery(CAT)
    assert "Pebble" in str(response)
    assert topics(response)[0] == "lighthouse"


def test_settings_llm(
    bundled: Any, index: VectorStoreIndex, events: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Settings, "_llm", None)  # restored after the test
    Settings.llm = SRALLM(*bundled, max_new_tokens=16, sra=None)
    response = index.as_query_engine(similarity_top_k=2).query(CAT)
    assert "Pebble" in str(response)
    assert topics(response)[0] == "lighthouse"
    [ended] = events.of(LLMChatEndEvent)
    assert ended.response.raw["sra"] is None  # it was this LLM, with its own setting


def test_chat_engine_keeps_a_long_conversation_within_the_window(
    bundled: Any, index: VectorStoreIndex, events: Any
) -> None:
    """More turns than the memory holds: old turns are dropped, every prompt fits the window."""
    window = 768  # condense_plus_context keeps 500 tokens of padding free: much less breaks it
    llm = SRALLM(*bundled, context_window=window, max_new_tokens=16)
    memory = Memory.from_defaults(token_limit=96)  # 70% of it for the history: about two turns
    engine = index.as_chat_engine(
        chat_mode="condense_plus_context", llm=llm, memory=memory, similarity_top_k=1
    )
    turns = [
        CAT,
        "Who keeps the lighthouse?",
        "How long does the ferry crossing to Ostrum take?",
        "Which buns does the Velden bakery bake?",
        "When does the brass band rehearse?",
    ]
    replies = [str(engine.chat(question)) for question in turns]
    assert "Pebble" in replies[0] and "Mira" in replies[1]  # later answers rest on the model's condensing

    assert len(memory.get_all()) == 2 * len(turns)  # all kept in the store, old ones archived
    ended = events.of(LLMChatEndEvent) + events.of(LLMCompletionEndEvent)
    assert all(e.response.raw["usage"]["total_tokens"] <= window for e in ended)
    answers = [e for e in events.of(LLMChatEndEvent) if e.messages[0].role.value == "system"]
    histories = [e.messages[1:-1] for e in answers]  # between the context and the question
    assert [len(h) for h in histories[:2]] == [0, 2]  # it grows at first
    assert max(len(h) for h in histories) < 2 * (len(turns) - 1)  # never the whole conversation
    limit = memory.token_limit * memory.chat_history_token_ratio
    assert all(sum(len(llm.tokenizer.encode(m.content)) for m in h) <= limit for h in histories)
    assert CAT not in [m.content for m in histories[-1]]  # the first turn was dropped
