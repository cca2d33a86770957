"""SRALLM as a function-calling LLM: tools through the model's own chat template, calls parsed by
its response template, a required call held to the tool's schema, and an agent that calls a tool.

The bundled SmolLM2's template cannot render tools; a copy of its tokenizer with a ChatML template
that does (`sra_rag.testing`) stands in for a tool-calling model."""

import asyncio
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool
from llama_index.llms.sra import SRALLM
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sra_rag.engine.config import PAPER
from sra_rag.testing import with_tool_template


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


TOOLS = [FunctionTool.from_defaults(fn=add), FunctionTool.from_defaults(fn=multiply)]


@pytest.fixture(scope="module")
def tool_llm(bundled: tuple[PreTrainedModel, PreTrainedTokenizerBase]) -> SRALLM:
    model, tokenizer = bundled
    return SRALLM(model, with_tool_template(tokenizer), max_new_tokens=48, profile=None)


def test_a_function_calling_model_exactly_when_its_template_renders_tools(
    llm: SRALLM, tool_llm: SRALLM
) -> None:
    assert tool_llm.metadata.is_function_calling_model
    assert not llm.metadata.is_function_calling_model
    with pytest.raises(NotImplementedError, match="has no tool support"):
        llm.chat_with_tools(TOOLS, "What is 2 plus 3?")


@pytest.mark.parametrize("sra", [None, PAPER], ids=["off", "paper"])
def test_a_required_call_parses_and_names_a_tool(tool_llm: SRALLM, sra: Any) -> None:
    """Held to the call's JSON and the tool's argument schema, the 135M model's call always parses."""
    for question in ("What is 2 plus 3?", "Multiply 6 by 7.", "Add 40 and 2."):
        response = tool_llm.chat_with_tools(TOOLS, question, tool_required=True, sra=sra)
        (call,) = tool_llm.get_tool_calls_from_response(response)
        assert call.tool_name in ("add", "multiply") and call.tool_id.startswith("call_")
        assert set(call.tool_kwargs) == {"a", "b"} and all(
            isinstance(v, int) for v in call.tool_kwargs.values()
        )
    named = tool_llm.chat_with_tools(TOOLS, "What is 2 plus 3?", tool_choice="multiply", sra=sra)
    assert [c.tool_name for c in tool_llm.get_tool_calls_from_response(named)] == ["multiply"]
    with pytest.raises(ValueError, match="names no tool offered"):
        tool_llm.chat_with_tools(TOOLS, "What is 2 plus 3?", tool_choice="divide")


def test_a_free_reply_is_read_by_the_response_template(tool_llm: SRALLM) -> None:
    """Without a required call the model decides: whatever it writes, content and calls are
    separated by its response template, and a reply without a call is content only."""
    response = tool_llm.chat_with_tools(TOOLS, "Say hello.")
    calls = tool_llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    assert "<tool_call>" not in (response.message.content or "")
    assert all(c.tool_name in ("add", "multiply") for c in calls)
    history = [
        ChatMessage(role="user", content="What is 2 plus 3?"),
        ChatMessage(
            role="assistant",
            content="",
            additional_kwargs={
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                    }
                ]
            },
        ),
        ChatMessage(role="tool", content="5", additional_kwargs={"tool_call_id": "call_1"}),
    ]
    turns = tool_llm._chat_prompt(history)
    assert turns[1]["tool_calls"] == [
        {"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}
    ]
    assert turns[2] == {"role": "tool", "content": "5", "tool_call_id": "call_1"}


def test_a_function_agent_calls_a_tool_through_sra_llm(tool_llm: SRALLM) -> None:
    """LlamaIndex's FunctionAgent, told to call `add` first, calls it with arguments that parse,
    gets its result back and answers; streaming, as the agent runs it."""
    agent = FunctionAgent(
        tools=TOOLS, llm=tool_llm, initial_tool_choice="add", system_prompt="Use the tools."
    )

    async def run() -> tuple[list[ToolCallResult], Any]:
        handler = agent.run("What is 2 plus 3?", max_iterations=4)
        results = [event async for event in handler.stream_events() if isinstance(event, ToolCallResult)]
        return results, await handler

    results, output = asyncio.run(run())
    first = results[0]
    assert first.tool_name == "add" and set(first.tool_kwargs) == {"a", "b"}
    assert first.tool_output.raw_output == first.tool_kwargs["a"] + first.tool_kwargs["b"]
    assert output.response is not None
