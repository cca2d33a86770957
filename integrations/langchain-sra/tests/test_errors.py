"""Bad input gets a clear error, raised where it was given and unchanged from sra_rag."""

import pytest
from langchain_sra import SRALLM, ChatSRA, ContextWindowError, ModelNotFoundError
from pydantic import ValidationError

from sra_rag import SRAConfig


def test_unknown_model_path(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotFoundError, match="no model at") as error:
        ChatSRA.from_model_id(str(missing))
    assert str(missing) in str(error.value)


def test_directory_that_is_not_a_model(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"without config\.json"):
        SRALLM.from_model_id(tmp_path)


def test_config_of_the_wrong_type_at_load() -> None:
    with pytest.raises(
        TypeError,
        match=r"sra must be an SRA setting .* or None, got dict",
    ):
        ChatSRA.from_model_id(None, sra={"policy": "sra"})


def test_config_of_the_wrong_type_per_call(chat: ChatSRA) -> None:
    with pytest.raises(
        TypeError,
        match=r"sra must be an SRA setting .* or None, got str",
    ):
        chat.invoke("hi", sra="paper")


def test_invalid_config_values_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"SRAConfig\.inter_eliminate must be > 0"):
        SRAConfig(inter_eliminate=0)


def test_unknown_call_option(chat: ChatSRA) -> None:
    with pytest.raises(TypeError, match=r"unsupported call option\(s\) \['max_new_tokens'\]"):
        chat.invoke("hi", max_new_tokens=3)


def test_unknown_field_and_wrong_model_type(chat: ChatSRA) -> None:
    with pytest.raises(ValidationError, match="max_new_tokens"):
        ChatSRA(model=chat.model, tokenizer=chat.tokenizer, max_new_tokens=3)
    with pytest.raises(ValidationError, match="PreTrainedModel"):
        ChatSRA(model="HuggingFaceTB/SmolLM2-135M-Instruct", tokenizer=chat.tokenizer)


def too_long(chat: ChatSRA) -> str:
    return "lighthouse " * (chat.generator.context_window + 100)


def test_prompt_longer_than_the_context_window(chat: ChatSRA) -> None:
    with pytest.raises(ContextWindowError) as error:
        chat.invoke(too_long(chat))
    message = str(error.value)
    window = chat.generator.context_window
    assert f"but the context window is {window} tokens" in message
    prompt_tokens = int(message.split("the prompt is ")[1].split(" tokens")[0])
    assert prompt_tokens > window
    assert f"and {chat.max_tokens} new tokens were requested" in message


def test_prompt_that_leaves_no_room_for_the_answer(chat: ChatSRA) -> None:
    window = chat.generator.context_window
    with pytest.raises(ContextWindowError, match=f"{window} new tokens were requested"):
        chat.invoke("hi", max_tokens=window)


async def test_context_window_error_in_async_and_streaming(chat: ChatSRA, llm: SRALLM) -> None:
    with pytest.raises(ContextWindowError, match="context window is"):
        await chat.ainvoke(too_long(chat))
    with pytest.raises(ContextWindowError, match="context window is"):
        async for _ in chat.astream(too_long(chat)):
            pass
    with pytest.raises(ContextWindowError, match="context window is"):
        list(llm.stream(too_long(chat)))


def test_a_misspelt_field_fails_before_the_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr("langchain_sra._base.load_model", no_loading)
    with pytest.raises(TypeError, match=r"\['temprature'\]; 'temprature': did you mean 'temperature'\?"):
        ChatSRA.from_model_id(None, temprature=0.5)
