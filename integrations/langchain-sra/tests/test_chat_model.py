"""ChatSRA's own behaviour: streaming, stop strings, usage, metadata, per-call SRA, async, tools."""

import asyncio
import itertools
import os
import threading
import time
from typing import Any

import pytest
import torch
from langchain_core.language_models import base as language_models_base
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_sra import ChatSRA
from langchain_sra.messages import to_chat_dicts
from langchain_sra.tools import ToolCallReader, as_chunks, template_renders_tools
from sra_fixtures import ACTIVE_ON_SHORT_PROMPTS, TokenCollector

from sra_rag import TransitionConfig
from sra_rag.engine.config import PAPER
from sra_rag.testing import RESPONSE_TEMPLATE, with_tool_template

QUESTION = "What is the capital of France?"


def test_stream_is_token_by_token_and_adds_up_to_invoke(chat: ChatSRA) -> None:
    chunks = list(chat.stream(QUESTION))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) > 1
    assert "".join(texts) == chat.invoke(QUESTION).content
    assert "Paris" in "".join(texts)
    assert chunks[-1].chunk_position == "last"


def test_only_new_text_is_returned(chat: ChatSRA) -> None:
    answer = chat.invoke([SystemMessage("Answer briefly."), HumanMessage(QUESTION)]).content
    assert QUESTION not in answer and "Answer briefly" not in answer and "<|im_start|>" not in answer


def test_callbacks_receive_each_token_once(chat: ChatSRA) -> None:
    handler = TokenCollector()
    answer = chat.invoke(QUESTION, config={"callbacks": [handler]}).content
    assert len([t for t in handler.tokens if t]) > 1
    assert "".join(handler.tokens) == answer
    streamed = TokenCollector()  # through `stream`, LangChain reports the chunks: each exactly once
    assert "".join(c.content for c in chat.stream(QUESTION, config={"callbacks": [streamed]})) == answer
    assert "".join(streamed.tokens) == answer


def test_stop_string_of_several_tokens_is_cut_and_trimmed(chat: ChatSRA) -> None:
    full = chat.invoke(QUESTION).content
    assert "capital of France is" in full
    stop = "of France"  # several tokens; the model writes it mid-answer
    assert len(chat.tokenizer(stop, add_special_tokens=False).input_ids) > 1
    cut = chat.invoke(QUESTION, stop=[stop])
    assert cut.content == full[: full.index(stop)]
    assert cut.response_metadata["finish_reason"] == "stop"
    streamed = "".join(c.content for c in chat.stream(QUESTION, stop=[stop]))
    assert streamed == cut.content


def test_max_tokens_per_call_and_usage(chat: ChatSRA) -> None:
    result = chat.invoke(QUESTION, max_tokens=3)
    usage = result.usage_metadata
    assert usage is not None
    assert usage["output_tokens"] == 3
    assert usage["input_tokens"] == len(chat.generator.encode(to_chat_dicts([HumanMessage(QUESTION)]))[0])
    assert usage["total_tokens"] == usage["input_tokens"] + 3
    assert result.response_metadata["finish_reason"] == "length"


def test_sampling_options_per_call(chat: ChatSRA) -> None:
    prompt = "Write one sentence about a dog."
    greedy = chat.invoke(prompt, max_tokens=8).content
    samples = {}
    for seed in range(3):
        torch.manual_seed(seed)
        samples[seed] = chat.invoke(prompt, max_tokens=8, temperature=1.5).content
    assert len(set(samples.values())) > 1  # temperature reached the sampler
    seed = next(s for s, text in samples.items() if text != greedy)
    torch.manual_seed(seed)  # that same draw, in a nucleus holding only the top token: greedy again
    assert chat.invoke(prompt, max_tokens=8, temperature=1.5, top_p=1e-6).content == greedy
    with pytest.raises(ValueError, match="top_p"):
        chat.invoke(QUESTION, top_p=0.0)


def test_token_counts_use_the_model_tokenizer(chat: ChatSRA, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fallback() -> None:
        raise AssertionError("LangChain's GPT-2 fallback tokenizer was used")

    monkeypatch.setattr(language_models_base, "get_tokenizer", no_fallback)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    text = "Scaled ReAttention keeps the model's eyes on the context."
    ids = chat.tokenizer(text, add_special_tokens=False).input_ids
    assert chat.get_token_ids(text) == ids
    assert chat.get_num_tokens(text) == len(ids)
    messages = [SystemMessage("Answer briefly."), HumanMessage(QUESTION)]
    prompt = len(chat.generator.encode(to_chat_dicts(messages))[0])  # template and generation prompt
    assert chat.get_num_tokens_from_messages(messages) == prompt
    assert chat.invoke(messages, max_tokens=1).usage_metadata["input_tokens"] == prompt
    long = [HumanMessage("word " * 9000)]  # over the window: counted, not refused (for trim_messages)
    assert chat.get_num_tokens_from_messages(long) > chat.generator.context_window


def test_response_metadata_reports_model_policy_and_diagnostics(chat: ChatSRA) -> None:
    meta = chat.invoke(QUESTION, max_tokens=2).response_metadata
    assert meta["model_name"] == chat.model_name
    assert meta["sra"] == PAPER.to_dict()  # the bundled model's own setting
    assert set(meta["sra_diagnostics"]) >= {"rows_touched", "eliminated_mass", "redistributed_mass"}


def test_per_call_sra_override_changes_the_policy_reported(chat: ChatSRA) -> None:
    baseline = chat.invoke(QUESTION, sra=None, max_tokens=2).response_metadata
    assert baseline["sra"] is None
    assert baseline["sra_diagnostics"]["rows_touched"] == 0
    transition = chat.invoke(QUESTION, sra=TransitionConfig(), max_tokens=2).response_metadata
    assert transition["sra"]["policy"] == "transition"
    active = chat.bind(sra=ACTIVE_ON_SHORT_PROMPTS).invoke(QUESTION, max_tokens=2).response_metadata
    assert active["sra"] == ACTIVE_ON_SHORT_PROMPTS.to_dict()
    assert active["sra_diagnostics"]["redistributed_mass"] > 0  # attention really moved
    assert chat.invoke(QUESTION, max_tokens=2).response_metadata["sra"] == PAPER.to_dict()  # untouched


def test_diagnostics_can_be_switched_off(chat: ChatSRA) -> None:
    assert chat.invoke(QUESTION, max_tokens=2, diagnostics=False).response_metadata["sra_diagnostics"] is None


async def test_async_stream_matches_sync_and_never_blocks_the_loop(chat: ChatSRA) -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        chunks = [c async for c in chat.astream(QUESTION)]
        answer = await chat.ainvoke(QUESTION)
    finally:
        task.cancel()
    assert "".join(c.content for c in chunks) == answer.content == chat.invoke(QUESTION).content
    assert len([c for c in chunks if c.content]) > 1
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.5  # the loop kept running


async def test_abandoned_async_stream_stops_generating(chat: ChatSRA) -> None:
    long = "Count from 1 to 400, one number per line."
    full = await chat.ainvoke(long, max_tokens=64)
    assert full.usage_metadata["output_tokens"] == 64  # left alone, this prompt runs to the limit
    steps: list[int] = []
    hook = chat.model.register_forward_hook(lambda *args: steps.append(1))
    try:
        before = set(threading.enumerate())  # threads left by earlier calls may still end: compare sets
        async for _ in chat.astream(long, max_tokens=500):
            break
        deadline = time.monotonic() + 10
        while set(threading.enumerate()) - before and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not set(threading.enumerate()) - before  # the pump and generation threads are gone
    finally:
        hook.remove()
    assert len(steps) < 16, len(steps)  # forward passes: stopped long before the 500 tokens asked for
    result = await chat.ainvoke(QUESTION, max_tokens=4)
    assert result.usage_metadata["output_tokens"] == 4


def test_conversation_roles_reach_the_chat_template(chat: ChatSRA) -> None:
    messages = [
        SystemMessage("Be brief."),
        HumanMessage("Hi"),
        AIMessage("Hello!", tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "c1"}]),
        ToolMessage("42", tool_call_id="c1", name="lookup"),
        HumanMessage([{"type": "text", "text": "Thanks"}]),
    ]
    dicts = to_chat_dicts(messages)
    assert [d["role"] for d in dicts] == ["system", "user", "assistant", "tool", "user"]
    assert dicts[2]["tool_calls"][0]["function"] == {"name": "lookup", "arguments": {"q": "x"}}
    assert dicts[3]["tool_call_id"] == "c1"
    assert dicts[4]["content"] == "Thanks"
    rendered = chat.generator.render(dicts)
    assert "<|im_start|>tool\n42<|im_end|>" in rendered
    assert rendered.endswith("<|im_start|>assistant\n")


def test_non_text_content_is_refused(chat: ChatSRA) -> None:
    image = HumanMessage([{"type": "image", "url": "https://example.com/cat.png"}])
    with pytest.raises(ValueError, match="text only"):
        chat.invoke([image])


def test_bind_tools_says_the_template_has_no_tool_support(chat: ChatSRA) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    assert not template_renders_tools(chat.tokenizer)
    with pytest.raises(NotImplementedError, match=r"chat template .* has no tool support"):
        chat.bind_tools([add])


# A ChatML template that renders tools the way Qwen2.5's does, and its response format.
ADD_TOOL = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}
MULTIPLY_TOOL = {
    "type": "function",
    "function": {**ADD_TOOL["function"], "name": "multiply", "description": "Multiply two integers."},
}


@pytest.fixture(scope="module")
def tool_tokenizer(chat: ChatSRA) -> Any:
    return with_tool_template(chat.tokenizer)


def test_tools_are_rendered_where_the_template_supports_them(chat: ChatSRA, tool_tokenizer: Any) -> None:
    tool_chat = ChatSRA(model=chat.model, tokenizer=tool_tokenizer, max_tokens=4)
    bound = tool_chat.bind_tools([ADD_TOOL])
    assert bound.kwargs["tools"][0]["function"]["name"] == "add"
    rendered = tool_chat.generator.render([{"role": "user", "content": "1+2?"}], bound.kwargs["tools"])
    assert '"name": "add"' in rendered
    assert isinstance(bound.invoke("What is 1+2?"), AIMessage)
    with pytest.raises(ValueError, match="names no tool offered"):
        tool_chat.bind_tools([ADD_TOOL], tool_choice="multiply")


@pytest.mark.parametrize("choice", ["any", "add", {"type": "function", "function": {"name": "add"}}])
@pytest.mark.parametrize("sra", [None, PAPER], ids=["off", "paper"])
def test_a_required_call_parses_whatever_the_model(
    chat: ChatSRA, tool_tokenizer: Any, choice: Any, sra: Any
) -> None:
    """A 135M model told to call a tool rarely writes a call that parses; held to the call's schema
    it always does, with the arguments the tool takes."""
    tool_chat = ChatSRA(model=chat.model, tokenizer=tool_tokenizer, max_tokens=48, sra=sra)
    bound = tool_chat.bind_tools([ADD_TOOL, MULTIPLY_TOOL], tool_choice=choice)
    for question in ("What is 2 plus 3?", "Add 40 and 2.", "Sum of 7 and 8?"):
        message = bound.invoke(question)
        assert message.content == "" and not message.invalid_tool_calls
        (call,) = message.tool_calls
        assert call["name"] in (("add", "multiply") if choice == "any" else ("add",))
        assert set(call["args"]) == {"a", "b"} and all(isinstance(v, int) for v in call["args"].values())
        assert call["id"].startswith("call_")
    streamed = list(bound.stream("What is 2 plus 3?"))
    assert sum(len(chunk.tool_call_chunks) for chunk in streamed) == 1


def test_tool_calls_are_parsed_from_streamed_output(tool_tokenizer: Any) -> None:
    prompt = "<|im_start|>user\n1+2?<|im_end|>\n<|im_start|>assistant\n"
    reader = ToolCallReader(tool_tokenizer, RESPONSE_TEMPLATE, prompt, [ADD_TOOL])
    output = 'Let me add.\n<tool_call>\n{"name": "add", "arguments": {"a": "1", "b": 2}}\n</tool_call>'
    content, calls = "", []
    for i in range(0, len(output), 5):  # fed in pieces, as a stream delivers it
        text, found = reader.feed(output[i : i + 5])
        content, calls = content + text, calls + as_chunks(found)
    text, found = reader.finish()
    content, calls = content + text, calls + as_chunks(found)
    assert content == "Let me add."
    assert len(calls) == 1 and calls[0]["name"] == "add"
    message = AIMessageChunk(content=content, tool_call_chunks=calls, chunk_position="last")
    assert message.tool_calls[0]["args"] == {"a": 1, "b": 2}  # "1" cast by the tool's schema


def test_a_malformed_tool_call_becomes_an_invalid_tool_call(tool_tokenizer: Any) -> None:
    reader = ToolCallReader(tool_tokenizer, RESPONSE_TEMPLATE, "", [ADD_TOOL])
    content, calls = reader.feed("<tool_call>{not json}</tool_call> sorry")
    merged = AIMessageChunk(content=content, tool_call_chunks=as_chunks(calls), chunk_position="last")
    assert merged.tool_calls == []
    assert len(merged.invalid_tool_calls) == 1
    assert "not json" in merged.invalid_tool_calls[0]["args"]
    assert reader.feed(" more")[0] == " more"


def test_from_model_id_loads_the_bundled_model_with_its_sra_setting() -> None:
    chat = ChatSRA.from_model_id(None, sra=TransitionConfig(alpha=1.0), max_tokens=2)
    assert chat.model_name == "SmolLM2-135M-Instruct"
    assert chat.invoke("Hi").response_metadata["sra"] == TransitionConfig(alpha=1.0).to_dict()
    assert chat._identifying_params["sra"]["policy"] == "transition"


def test_the_sra_field_sets_every_call_and_a_call_still_overrides_it(chat: ChatSRA) -> None:
    model, tokenizer = chat.model, chat.tokenizer
    transition = ChatSRA(model=model, tokenizer=tokenizer, sra=TransitionConfig(), max_tokens=2)
    assert transition.invoke(QUESTION).response_metadata["sra"]["policy"] == "transition"
    assert transition.invoke(QUESTION, sra=None).response_metadata["sra"] is None
    assert transition._identifying_params["sra"]["policy"] == "transition"
    assert chat.invoke(QUESTION, max_tokens=2).response_metadata["sra"] == PAPER.to_dict()  # model untouched
    with pytest.raises(TypeError, match="sra must be an SRA setting"):
        ChatSRA(model=model, tokenizer=tokenizer, sra="paper")


def test_an_unpatched_model_runs_without_sra_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    from sra_rag import load_model

    model, tokenizer = load_model(None, sra=None)
    with caplog.at_level("WARNING", logger="sra_rag.hints"):
        chat = ChatSRA(model=model, tokenizer=tokenizer, max_tokens=2, profile=None)
    assert "wraps a model without SRA" in caplog.text
    assert chat.invoke(QUESTION).response_metadata["sra"] is None  # visible in the metadata too
    caplog.clear()
    with caplog.at_level("WARNING", logger="sra_rag.hints"):
        ChatSRA(model=model, tokenizer=tokenizer, sra=None)  # the baseline, said on purpose
        ChatSRA.from_model_id(None, sra=None)
        measured = ChatSRA(model=model, tokenizer=tokenizer)  # the shipped profile: stock, as measured
    assert "without SRA" not in caplog.text
    assert measured.profile is not None and measured.sra is measured.profile.sra is None
