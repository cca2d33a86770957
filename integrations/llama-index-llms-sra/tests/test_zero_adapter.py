"""The zero-adapter path: `enable_sra` on the model inside LlamaIndex's own `HuggingFaceLLM` gives
it SRA, and `disable_sra` takes it back exactly."""

import pytest
from llama_index.llms.huggingface import HuggingFaceLLM

from sra_rag import disable_sra, enable_sra, record_diagnostics
from sra_rag.models import BUNDLED_MODEL_NAME, load_model

NOTES = " ".join(f"Note {i}: the tide table for pier {i} is posted at the harbour office." for i in range(40))
LONG = f"{NOTES}\nWhich office posts the tide tables?"  # ~700 tokens: the paper's rules act


@pytest.fixture(scope="module")
def stock():
    """A model of its own, unpatched: this test patches it and must not touch the shared one."""
    return load_model(None, sra=None)


def test_enable_sra_on_the_model_inside_huggingface_llm(stock) -> None:
    model, tokenizer = stock
    llm = HuggingFaceLLM(
        model=model,
        tokenizer=tokenizer,
        model_name=BUNDLED_MODEL_NAME,
        tokenizer_name=BUNDLED_MODEL_NAME,
        context_window=8192,
        max_new_tokens=6,
        generate_kwargs={"do_sample": False},
    )
    before = llm.complete(LONG).text

    enable_sra(model)  # the one line: the paper's settings on every call
    try:
        with record_diagnostics() as recorder:
            assert llm.complete(LONG).text
        moved = recorder.summary()
        assert moved["layers_touched"] > 20 and moved["redistributed_mass"] > 1.0
    finally:
        disable_sra(model)

    with record_diagnostics() as recorder:
        assert llm.complete(LONG).text == before
    assert recorder.summary()["layers_touched"] == 0
