"""Tool calls through the model's own chat template, for both adapters.

A model can call tools only if its chat template renders the `tools` it is given (checked by
rendering a probe tool) and its output format is known: the tokenizer's `response_template`, or
transformers' built-in one for the model type. `ToolCallReader` then follows that declared format
instead of guessing at the text; a call whose arguments do not parse is reported as invalid.

Where a call is required (LangChain's `tool_choice="any"` or a tool's name, LlamaIndex's
`tool_required`), the reply is held by the grammar engine (`structured`) to one call's JSON,
`{"name": ..., "arguments": {...}}` with the arguments the tool's schema takes, so even a small
model emits a call that parses (`required_call`, `RequiredCallReader`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import jinja2
from transformers import PreTrainedModel, PreTrainedTokenizerBase

if TYPE_CHECKING:
    from .generation import Generator, Prompt

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
    """Why tools cannot be offered to this model, or None when they can."""
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


@dataclass(frozen=True)
class ToolCall:
    """One call the model wrote: `arguments` is its JSON text. A call whose text does not parse
    has no `name`, and its raw text (as a JSON string) in `arguments`."""

    name: str | None
    arguments: str
    index: int
    id: str | None

    @property
    def valid(self) -> bool:
        return self.name is not None


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class ReplyReader(Protocol):
    """Splits a reply, streamed in pieces, into content text and the tool calls it makes."""

    def feed(self, text: str) -> tuple[str, list[ToolCall]]: ...

    def finish(self) -> tuple[str, list[ToolCall]]: ...


class ToolCallReader:
    """Follows the model's response template: content and complete calls, as the stream goes."""

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

    def feed(self, text: str) -> tuple[str, list[ToolCall]]:
        """Content text and completed tool calls found in the next piece of output."""
        if self._parser is None:
            return text, []
        try:
            events = self._parser.feed(text)
        except ValueError:
            return "", [self._invalid(text)]
        return self._read(events)

    def finish(self) -> tuple[str, list[ToolCall]]:
        """Whatever the end of the output closes."""
        if self._parser is None:
            return "", []
        try:
            _, events = self._parser.finalize()
        except ValueError:
            return "", [self._invalid("")]
        return self._read(events)

    def _read(self, events: list[dict[str, Any]]) -> tuple[str, list[ToolCall]]:
        content: list[str] = []
        calls: list[ToolCall] = []
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

    def _call(self, value: Mapping[str, Any]) -> ToolCall:
        function = value.get("function", value)
        arguments = function.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        call = ToolCall(function.get("name"), text, self._index, _call_id())
        self._index += 1
        return call

    def _invalid(self, text: str) -> ToolCall:
        """A call whose text does not parse; the rest of the output is passed through as content."""
        self._parser = None
        call = ToolCall(None, json.dumps(self._raw + text), self._index, None)
        self._index += 1
        return call


def required_call(tool_choice: Any, tools: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The JSON Schema a reply is held to when `tool_choice` requires a call, else None (the model
    decides). `tool_choice`: None, "auto" or "none" (not required); "any", "required" or True (a
    call to any of `tools`); a tool's name, or {"type": "function", "function": {"name": ...}}
    (a call to that tool). `tools` are OpenAI-format tools. Arguments a tool's schema does not
    name are left out unless the schema allows them (`additionalProperties`), as in OpenAI's
    strict function calling: a tool is called with what it takes."""
    if tool_choice in (None, "auto", "none", False):
        return None
    functions = [tool["function"] for tool in tools]
    names = [f["name"] for f in functions]
    if tool_choice in ("any", "required", True):
        chosen = functions
    else:
        name = tool_choice["function"]["name"] if isinstance(tool_choice, Mapping) else tool_choice
        if not isinstance(name, str) or name not in names:
            raise ValueError(
                f"tool_choice={tool_choice!r} names no tool offered (the tools: {names}); give one of "
                "them, 'any'/'required' (any tool), or None/'auto'/'none'"
            )
        chosen = [f for f in functions if f["name"] == name]
    calls = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f["name"]},
                "arguments": {"additionalProperties": False, **(f.get("parameters") or {"type": "object"})},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for f in chosen
    ]
    return calls[0] if len(calls) == 1 else {"anyOf": calls}


class RequiredCallReader:
    """Reads a reply held to `required_call`'s schema: no content, one call, at the end."""

    def __init__(self) -> None:
        self._text = ""

    def feed(self, text: str) -> tuple[str, list[ToolCall]]:
        self._text += text
        return "", []

    def finish(self) -> tuple[str, list[ToolCall]]:
        value = json.loads(self._text)  # the grammar made it: it parses
        return "", [ToolCall(value["name"], json.dumps(value["arguments"]), 0, _call_id())]


def tool_reader(
    generator: Generator,
    prompt: Prompt,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: Any = None,
    json_schema: Mapping[str, Any] | None = None,
) -> tuple[ReplyReader | None, dict[str, Any]]:
    """How to read a reply to `prompt` that may call `tools` (OpenAI-format), and the generation
    options that offer them: the tools for the chat template, and the call's schema where
    `tool_choice` requires one (`required_call`). No tools: no reader and no options. A call that
    also holds its reply to `json_schema`, or names a `tool_choice` without tools, is an error;
    NotImplementedError where the model cannot call tools (`tool_support_error`)."""
    if not tools:
        if tool_choice is not None:
            raise ValueError(f"tool_choice={tool_choice!r} was given without tools: offer the tools too")
        return None, {}
    if json_schema is not None:
        raise ValueError(
            "a reply held to a JSON schema cannot call tools (the grammar leaves no room for the "
            "call's markup): offer tools or ask for structured output, not both"
        )
    reason = tool_support_error(generator.tokenizer, generator.model)
    if reason is not None:
        raise NotImplementedError(reason)
    schema = required_call(tool_choice, tools)
    if schema is not None:
        return RequiredCallReader(), {"tools": tools, "json_schema": schema}
    template = response_template(generator.tokenizer, generator.model)
    prefix = generator.render(prompt, tools)
    return ToolCallReader(generator.tokenizer, template, prefix, tools), {"tools": tools}  # type: ignore[arg-type]
