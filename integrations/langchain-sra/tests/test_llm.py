"""SRALLM: plain-prompt completion with the same options, streaming and metadata as ChatSRA."""

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import base as language_models_base
from langchain_sra import SRALLM
from sra_fixtures import TokenCollector

from sra_rag import preset

PROMPT = "The capital of France is"


def test_invoke_returns_only_the_continuation(llm: SRALLM) -> None:
    text = llm.invoke(PROMPT)
    assert "Paris" in text
    assert not text.startswith(PROMPT)


def test_stream_adds_up_to_invoke_and_reports_tokens(llm: SRALLM) -> None:
    handler = TokenCollector()
    chunks = list(llm.stream(PROMPT, config={"callbacks": [handler]}))
    assert len([c for c in chunks if c]) > 1
    assert "".join(chunks) == llm.invoke(PROMPT) == "".join(handler.tokens)


def test_batch_and_generation_info(llm: SRALLM) -> None:
    prompts = [PROMPT, "One, two, three,"]
    assert llm.batch(prompts) == [llm.invoke(p) for p in prompts]
    result = llm.generate(prompts, stop=[" four"], max_tokens=6, sra=None)
    second = result.generations[1][0]
    assert " four" not in second.text
    info = second.generation_info
    assert info["sra"] is None and info["model_name"] == llm.model_name
    assert info["finish_reason"] == "stop"  # " four" came, and stopped it
    assert info["usage"]["output_tokens"] <= 6
    usage = result.llm_output["token_usage"]
    first_usage = result.generations[0][0].generation_info["usage"]
    assert usage["total_tokens"] == first_usage["total_tokens"] + info["usage"]["total_tokens"]


async def test_async(llm: SRALLM) -> None:
    chunks = [c async for c in llm.astream(PROMPT)]
    assert len([c for c in chunks if c]) > 1
    assert "".join(chunks) == await llm.ainvoke(PROMPT) == llm.invoke(PROMPT)
    assert await llm.abatch([PROMPT, PROMPT]) == [llm.invoke(PROMPT)] * 2


def test_token_ids_come_from_the_model_tokenizer(llm: SRALLM, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fallback() -> None:
        raise AssertionError("LangChain's GPT-2 fallback tokenizer was used")

    monkeypatch.setattr(language_models_base, "get_tokenizer", no_fallback)
    ids = llm.tokenizer(PROMPT, add_special_tokens=False).input_ids
    assert llm.get_token_ids(PROMPT) == ids
    assert llm.get_num_tokens(PROMPT) == len(ids) == len(llm.generator.encode(PROMPT)[0])


def test_passages_per_call_reach_guided_sra(llm: SRALLM) -> None:
    documents = [
        Document("Tilda Varga was a carpenter.", id="tilda"),
        Document("The ferry leaves at noon.", id="ferry"),
    ]
    prompt = "\n".join(d.page_content for d in documents) + "\nQuestion: What was Tilda Varga?\nAnswer:"
    result = llm.generate([prompt], sra=preset("guided_pasta"), passages=documents)
    reached = result.generations[0][0].generation_info["sra_diagnostics"]["passages"]
    assert [p["label"] for p in reached] == ["tilda", "ferry"]
    assert any(p["mass_change"] for p in reached)
    with pytest.raises(ValueError, match="guided SRA needs the prompt's passages"):
        llm.invoke(prompt, sra=preset("guided"))
