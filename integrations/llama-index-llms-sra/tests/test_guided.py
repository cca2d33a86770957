"""Guided SRA in LlamaIndex query engines: `PassageSynthesizer` hands the retrieved nodes (text,
rank, id) to SRALLM, `PassageReorder` sets their order; over the FAISS index of conftest."""

from typing import Any

import pytest
from llama_index.core import PromptTemplate, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
from llama_index.core.schema import MetadataMode
from llama_index.llms.sra import SRALLM, PassageReorder, PassagesRequiredError, PassageSynthesizer

from sra_rag import preset
from sra_rag.rag import order_passages

CAT = "What is the name of the cat that lives at the lighthouse?"


def guided_engine(llm: SRALLM, index: VectorStoreIndex, order: str, **options: Any) -> Any:
    """The README's engine: the synthesizer passes the nodes; the postprocessor orders them."""
    return index.as_query_engine(
        llm=llm,
        similarity_top_k=2,
        node_postprocessors=[PassageReorder(order=order)],
        response_synthesizer=PassageSynthesizer(llm, **options),
    )


def reached(events: Any) -> list[dict[str, Any]]:
    [ended] = events.of(LLMChatEndEvent)
    return ended.response.raw["diagnostics"]["passages"]


@pytest.mark.parametrize("order", ["retrieved", "best_last"])
@pytest.mark.parametrize("name", ["guided", "guided_pasta"])
def test_query_engine_hands_its_nodes_to_guided_sra(
    llm: SRALLM, index: VectorStoreIndex, events: Any, order: str, name: str
) -> None:
    llm.sra, llm.diagnostics, llm.max_new_tokens = preset(name), True, 16
    response = guided_engine(llm, index, order).query(CAT)
    assert "Pebble" in str(response)
    nodes = response.source_nodes  # in prompt order
    ranked = sorted(nodes, key=lambda n: -n.score)
    assert nodes == order_passages(ranked, order)
    passages = reached(events)
    assert [p["label"] for p in passages] == [n.node.node_id for n in nodes]
    # weights by retrieval rank (best 1.0), in prompt order
    assert [p["weight"] for p in passages] == order_passages([1.0, 0.5], order)
    assert any(p["mass_change"] for p in passages)  # the guided rule acted on them


QUESTION_FIRST = PromptTemplate(
    "Answer the question from the context.\nQuestion: {query_str}\nContext:\n{context_str}\nAnswer: "
)


@pytest.mark.parametrize("template", [None, QUESTION_FIRST], ids=["context-first", "question-first"])
def test_each_reported_span_is_its_nodes_tokens(
    llm: SRALLM, index: VectorStoreIndex, events: Any, template: PromptTemplate | None
) -> None:
    """The diagnostics' spans are token positions in the prompt the model read: decoded, each is
    the text of the node its label names (as the prompt shows it, metadata included), in prompt
    order; with the question first, never the question's tokens."""
    llm.sra, llm.diagnostics, llm.max_new_tokens = preset("guided"), True, 4
    options = {} if template is None else {"text_qa_template": template}
    response = guided_engine(llm, index, "best_last", **options).query(CAT)
    [ended] = events.of(LLMChatEndEvent)
    messages = [{"role": m.role.value, "content": m.content} for m in ended.messages]
    rendered = llm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    encoded = llm.tokenizer(rendered, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded.input_ids
    assert ended.response.raw["usage"]["input_tokens"] == len(ids)  # the prompt as the model read it
    nodes = response.source_nodes  # in prompt order
    shown = {n.node.node_id: n.node.get_content(metadata_mode=MetadataMode.LLM) for n in nodes}
    passages = reached(events)
    assert [p["label"] for p in passages] == [n.node.node_id for n in nodes] and len(passages) == 2
    for p in passages:
        assert llm.tokenizer.decode(ids[p["start"] : p["end"]]).strip() == shown[p["label"]]
    asked = rendered.index(CAT)
    question = {i for i, (a, b) in enumerate(encoded["offset_mapping"]) if a < asked + len(CAT) and b > asked}
    assert question and not any(question & set(range(p["start"], p["end"])) for p in passages)


async def test_streaming_and_async_engines_pass_the_nodes_too(
    llm: SRALLM, index: VectorStoreIndex, events: Any
) -> None:
    llm.sra, llm.diagnostics, llm.max_new_tokens = preset("guided_pasta"), True, 16
    streamed = guided_engine(llm, index, "best_last", streaming=True).query(CAT)
    assert "Pebble" in "".join(streamed.response_gen)
    awaited = await guided_engine(llm, index, "best_last").aquery(CAT)
    assert "Pebble" in str(awaited)
    ended = events.of(LLMChatEndEvent)
    assert len(ended) == 2
    labels = [n.node.node_id for n in awaited.source_nodes]
    assert all([p["label"] for p in e.response.raw["diagnostics"]["passages"]] == labels for e in ended)


def test_guided_sra_without_the_synthesizer_is_a_clear_error(llm: SRALLM, index: VectorStoreIndex) -> None:
    llm.sra = preset("guided")  # LlamaIndex's default synthesizer would swallow a ValueError
    with pytest.raises(PassagesRequiredError, match="PassageSynthesizer"):
        index.as_query_engine(llm=llm, similarity_top_k=2).query(CAT)


def test_a_passage_not_in_the_prompt_is_a_clear_error(llm: SRALLM) -> None:
    messages = [ChatMessage(role="user", content="Pebble is a cat.\nQuestion: Who is Pebble?")]
    with pytest.raises(ValueError, match="does not appear verbatim in the prompt"):
        llm.chat(messages, sra=preset("guided"), passages=["Pebble is a dog."])
    with pytest.raises(TypeError, match="not a single one"):
        llm.chat(messages, sra=preset("guided"), passages="Pebble is a cat.")


def test_refusals(llm: SRALLM) -> None:
    with pytest.raises(ValueError, match="unknown passage order"):
        PassageReorder(order="best_first")
    with pytest.raises(TypeError, match="needs an SRALLM"):
        PassageSynthesizer(object())  # type: ignore[arg-type]
