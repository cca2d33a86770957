"""Tool calling through the model's own chat template, parsed with transformers' response parser.

A model can call tools only if its chat template renders the `tools` it is given (checked by
rendering a probe tool) and its output format is known: the tokenizer's `response_template`, or
transformers' built-in one for the model type. Parsing then follows that declared format instead
of guessing at the text; a call whose arguments do not parse becomes an invalid tool call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2
from langchain_core.messages import ToolCallChunk
from langchain_core.messages.tool import tool_call_chunk
from transformers import PreTrainedModel, PreTrainedTokenizerBase

_PROBE_NAME = "sra_probe_tool_5b1e"
_PROBE = {
    "type": "function",
    "function": {
        "name": _PROBE_NAME,
        "description": "Checks whether the chat template renders tools.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def template_renders_tools(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True when the chat template puts the tools it is given into the prompt."""
    if not getattr(tokenizer, "chat_template", None):
        return False
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}], tools=[_PROBE], add_generation_prompt=True, tokenize=False
        )
    except (jinja2.TemplateError, ValueError, TypeError, KeyError):
        return False
    return _PROBE_NAME in text


def response_template(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> dict[str, Any] | None:
    """How the model writes tool calls: the tokenizer's `response_template`, else transformers' own
    template for the model type (the one `transformers serve` uses), else None."""
    template = getattr(tokenizer, "response_template", None)
    if template is not None:
        return template
    try:
        from transformers.cli.serving.utils import get_response_template
    except ImportError:
        return None
    return get_response_template(tokenizer, model)


def tool_support_error(tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> str | None:
    """Why tools cannot be bound to this model, or None when they can."""
    name = getattr(model.config, "name_or_path", "") or type(model).__name__
    if not template_renders_tools(tokenizer):
        return (
            f"the chat template of {name!r} has no tool support (it does not render `tools`), so the "
            "model cannot be told about tools; use a model whose chat template supports tool calling"
        )
    if not hasattr(tokenizer, "get_response_parser"):
        return "tool calls are parsed with transformers' `get_response_parser`: upgrade transformers"
    if response_template(tokenizer, model) is None:
        return (
            f"the chat template of {name!r} renders tools, but the format of its tool calls is unknown: "
            "set `tokenizer.response_template` (see transformers' chat response parsing docs)"
        )
    return None


class ToolCallReader:
    """Splits streamed model text into content and tool-call chunks, following a response template."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        template: Mapping[str, Any],
        prompt: str,
        tools: Iterable[Mapping[str, Any]],
    ) -> None:
        self._parser: Any = tokenizer.get_response_parser(dict(template), prefix=prompt, tools=list(tools))
        self._raw = ""
        self._index = 0

    def feed(self, text: str) -> tuple[str, list[ToolCallChunk]]:
        """Content text and completed tool calls found in the next piece of output."""
        if self._parser is None:
            return text, []
        try:
            events = self._parser.feed(text)
        except ValueError:
            return "", [self._invalid(text)]
        return self._read(events)

    def finish(self) -> tuple[str, list[ToolCallChunk]]:
        """Whatever the end of the output closes."""
        if self._parser is None:
            return "", []
        try:
            _, events = self._parser.finalize()
        except ValueError:
            return "", [self._invalid("")]
        return self._read(events)

    def _read(self, events: list[dict[str, Any]]) -> tuple[str, list[ToolCallChunk]]:
        content: list[str] = []
        calls: list[ToolCallChunk] = []
        for event in events:
            field, kind = event["field"], event["type"]
            if field == "content" and kind == "region_chunk":
                content.append(event["text"])
            elif field == "tool_calls" and kind == "region_open":
                self._raw = ""
            elif field == "tool_calls" and kind == "region_chunk":
                self._raw += event["text"]
            elif field == "tool_calls" and kind == "region_close":
                calls.append(self._call(event["value"]))
        return "".join(content), calls

    def _call(self, value: Mapping[str, Any]) -> ToolCallChunk:
        function = value.get("function", value)
        arguments = function.get("arguments", {})
        chunk = tool_call_chunk(
            name=function.get("name"),
            args=arguments if isinstance(arguments, str) else json.dumps(arguments),
            id=f"call_{uuid.uuid4().hex[:24]}",
            index=self._index,
        )
        self._index += 1
        return chunk

    def _invalid(self, text: str) -> ToolCallChunk:
        """A call whose text does not parse; the rest of the output is passed through as content.

        Its raw text goes in as a JSON string, which LangChain cannot read as arguments (a dict),
        so it reports the call in `invalid_tool_calls` instead of guessing at a partial parse.
        """
        self._parser = None
        chunk = tool_call_chunk(name=None, args=json.dumps(self._raw + text), id=None, index=self._index)
        self._index += 1
        return chunk
