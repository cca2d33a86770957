"""The zero-adapter path: `enable_sra` on the model inside langchain-huggingface's own
`HuggingFacePipeline` and `ChatHuggingFace` gives them SRA, and `disable_sra` takes it back exactly."""

import pytest
from langchain_core.messages import HumanMessage
from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
from transformers import pipeline

from sra_rag import disable_sra, enable_sra, record_diagnostics
from sra_rag.models import BUNDLED_MODEL_NAME, load_model

NOTES = " ".join(f"Note {i}: the tide table for pier {i} is posted at the harbour office." for i in range(40))
LONG = f"{NOTES}\nWhich office posts the tide tables?"  # ~700 tokens: the paper's rules act


@pytest.fixture(scope="module")
def stock():
    """A model of its own, unpatched: this test patches it and must not touch the shared one."""
    return load_model(None, sra=None)


def test_enable_sra_on_the_model_inside_huggingface_pipeline_and_chat(stock) -> None:
    model, tokenizer = stock
    generate = pipeline(
        "text-generation",
        model=model,
        tokenizer=tokenizer,
        max_new_tokens=6,
        do_sample=False,
        return_full_text=False,
    )
    llm = HuggingFacePipeline(pipeline=generate, model_id=BUNDLED_MODEL_NAME)
    chat = ChatHuggingFace(llm=llm, tokenizer=tokenizer, model_id=BUNDLED_MODEL_NAME)
    before = llm.invoke(LONG), chat.invoke([HumanMessage(LONG)]).content

    enable_sra(model)  # the one line: the paper's settings on every call of both objects
    try:
        for run in (lambda: llm.invoke(LONG), lambda: chat.invoke([HumanMessage(LONG)]).content):
            with record_diagnostics() as recorder:
                assert run()
            moved = recorder.summary()
            assert moved["layers_touched"] > 20 and moved["redistributed_mass"] > 1.0
    finally:
        disable_sra(model)

    with record_diagnostics() as recorder:
        assert (llm.invoke(LONG), chat.invoke([HumanMessage(LONG)]).content) == before
    assert recorder.summary()["layers_touched"] == 0
