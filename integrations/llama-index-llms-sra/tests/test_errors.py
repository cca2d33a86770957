"""Bad input fails at the call, with a message that says what was wrong and what to do."""

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import ValidationError
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.llms.sra import SRALLM
from transformers import MambaConfig, MambaForCausalLM

from sra_rag.generation import ContextWindowError
from sra_rag.models import ModelNotFoundError

LONG = "word " * 9000


def test_unknown_path() -> None:
    with pytest.raises(ModelNotFoundError, match=r"no model at '/no/such/model'.*or None for the bundled"):
        SRALLM("/no/such/model")
    with pytest.raises(ModelNotFoundError, match=r"/tmp is a directory without config\.json"):
        SRALLM("/tmp")


def test_wrong_config_type(llm: SRALLM, bundled: Any) -> None:
    message = "sra must be an SRA setting .* or None, got "
    with pytest.raises(TypeError, match=message + "str"):
        SRALLM(*bundled, sra="paper")
    with pytest.raises(TypeError, match=message + "dict"):
        SRALLM("/no/such/model", sra={"policy": "sra"})  # checked before anything is loaded
    with pytest.raises(TypeError, match=message + "str"):
        llm.complete("Hi", sra="paper")
    with pytest.raises(TypeError, match=message + "str"):
        llm.sra = "paper"


async def test_over_long_prompt_names_its_length_and_the_limit(llm: SRALLM) -> None:
    pattern = r"the prompt is 9\d{3} tokens and 12 new tokens were requested, but .* window is 8192 tokens"
    with pytest.raises(ContextWindowError, match=pattern):
        llm.complete(LONG, formatted=True)
    with pytest.raises(ContextWindowError, match=pattern):
        llm.stream_complete(LONG)  # at the call, before any iteration
    with pytest.raises(ContextWindowError, match=pattern):
        await llm.astream_chat([ChatMessage(role=MessageRole.USER, content=LONG)])
    with pytest.raises(ContextWindowError, match=pattern):
        await llm.acomplete(LONG)


def test_a_smaller_context_window_is_enforced(bundled: Any) -> None:
    llm = SRALLM(*bundled, context_window=256, max_new_tokens=8)
    with pytest.raises(ContextWindowError, match=r"the prompt is \d+ tokens .* window is 256 tokens"):
        llm.complete("word " * 250, formatted=True)
    with pytest.raises(
        ValueError, match="context_window must be between 1 and the model's 8192 tokens, got 9000"
    ):
        SRALLM(*bundled, context_window=9000)
    with pytest.raises(ValidationError, match="frozen"):  # it is tied to the model
        llm.context_window = 512


def test_the_window_reported_for_a_model_without_one_is_enforced(bundled: Any) -> None:
    tokenizer = bundled[1]
    config = MambaConfig(vocab_size=len(tokenizer), hidden_size=16, state_size=4, num_hidden_layers=1)
    model = MambaForCausalLM(config).eval()  # a tiny model whose config gives no window
    llm = SRALLM(model, tokenizer, max_new_tokens=8)
    assert llm.metadata.context_window == DEFAULT_CONTEXT_WINDOW
    window = rf"window is {DEFAULT_CONTEXT_WINDOW} tokens"
    with pytest.raises(ContextWindowError, match=window):  # at the call, before generating
        llm.complete("word " * DEFAULT_CONTEXT_WINDOW, formatted=True)


def test_callback_handlers_see_the_failure(bundled: Any) -> None:
    debug = LlamaDebugHandler()
    llm = SRALLM(*bundled, callback_manager=CallbackManager([debug]))
    with pytest.raises(ContextWindowError):
        llm.chat([ChatMessage(role=MessageRole.USER, content=LONG)])
    [[_, end]] = debug.get_llm_inputs_outputs()
    assert isinstance(end.payload["exception"], ContextWindowError)


def test_bad_options(llm: SRALLM) -> None:
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['max_length'\]"):
        llm.complete("Hi", max_length=5)
    with pytest.raises(TypeError, match="max_tokens or max_new_tokens, not both"):
        llm.complete("Hi", max_tokens=5, max_new_tokens=5)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1, got 0"):
        llm.complete("Hi", max_tokens=0)
    with pytest.raises(ValueError, match="need temperature >= 0 and 0 < top_p <= 1"):
        llm.complete("Hi", temperature=-1.0)
    with pytest.raises(ValidationError, match="max_new_tokens"):
        llm.max_new_tokens = 0


def test_bad_construction(bundled: Any) -> None:
    model, tokenizer = bundled
    with pytest.raises(ValueError, match=r"pass the model's tokenizer with a loaded model"):
        SRALLM(model)
    with pytest.raises(ValueError, match="a tokenizer goes with a loaded model"):
        SRALLM("/no/such/model", tokenizer)
    with pytest.raises(TypeError, match="model must be a transformers PreTrainedModel, a path, or None"):
        SRALLM(42)
    with pytest.raises(ValueError, match="load_kwargs are for a model SRALLM loads"):
        SRALLM(model, tokenizer, load_kwargs={"device": "cpu"})


def test_unknown_constructor_arguments_are_an_error(bundled: Any) -> None:
    model, tokenizer = bundled
    pattern = (
        r"unknown argument\(s\) \['max_tokens', 'temprature'\]; "
        r"'max_tokens': did you mean 'max_new_tokens'\? 'temprature': did you mean 'temperature'\?"
    )
    with pytest.raises(TypeError, match=pattern):
        SRALLM(model, tokenizer, max_tokens=5, temprature=0.3)
    with pytest.raises(TypeError, match=r"\['no_such_field'\]; known: \[.*'top_p'\]"):
        SRALLM(model, tokenizer, no_such_field=1)
    debug = LlamaDebugHandler()  # LlamaIndex's own fields still work
    llm = SRALLM(
        model,
        tokenizer,
        max_new_tokens=5,
        temperature=0.3,
        system_prompt="Be brief.",
        callback_manager=CallbackManager([debug]),
        pydantic_program_mode="default",
    )
    assert (llm.max_new_tokens, llm.temperature, llm.system_prompt) == (5, 0.3, "Be brief.")
    assert llm.callback_manager.handlers == [debug]


def test_only_text_messages(llm: SRALLM) -> None:
    blocks = [TextBlock(text="What is in this picture?"), ImageBlock(url="https://example.com/cat.png")]
    message = ChatMessage(role=MessageRole.USER, blocks=blocks)
    with pytest.raises(ValueError, match=r"text messages only, got block\(s\) \['ImageBlock'\]"):
        llm.chat([message])


def test_an_unpatched_model_runs_without_sra_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    from sra_rag import load_model

    model, tokenizer = load_model(None, sra=None)
    with caplog.at_level("WARNING", logger="sra_rag.hints"):
        llm = SRALLM(model, tokenizer, max_new_tokens=2, profile=None)
    assert "SRALLM wraps a model without SRA" in caplog.text
    assert llm.complete("Hi").additional_kwargs["sra_policy"] is None  # and the response says it
    caplog.clear()
    with caplog.at_level("WARNING", logger="sra_rag.hints"):
        SRALLM(model, tokenizer, sra=None)  # the baseline, said on purpose
        measured = SRALLM(model, tokenizer)  # the shipped profile: stock attention, as measured
    assert "without SRA" not in caplog.text
    assert measured.profile is not None and measured.sra is measured.profile.sra is None
