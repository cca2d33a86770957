"""LangChain messages to the role dicts a tokenizer's chat template renders.

The mapping follows the Hugging Face chat-template conventions: roles `system`, `user`,
`assistant`, `tool`; an assistant's tool calls as `{"type": "function", "function": {"name",
"arguments"}}` with the arguments as a dict; a tool result carries its `tool_call_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

_ROLES: dict[type[BaseMessage], str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
    ToolMessage: "tool",
}


def _text(message: BaseMessage) -> str:
    """The message's text; a non-text block (image, audio, file) is an error, not silently dropped."""
    if isinstance(message.content, str):
        return message.content
    parts: list[str] = []
    for block in message.content:
        if isinstance(block, str):
            parts.append(block)
        elif block.get("type") == "text":
            parts.append(block["text"])
        elif block.get("type") not in ("tool_use", "tool_call"):  # carried by `tool_calls` instead
            raise ValueError(
                f"this model reads text only; got a {block.get('type')!r} content block "
                f"in a {type(message).__name__}"
            )
    return "".join(parts)


def to_chat_dict(message: BaseMessage) -> dict[str, Any]:
    """One message as a chat-template dict."""
    if isinstance(message, ChatMessage):
        return {"role": message.role, "content": _text(message)}
    role = next((r for cls, r in _ROLES.items() if isinstance(message, cls)), None)
    if role is None:
        raise ValueError(f"cannot render a {type(message).__name__} with a chat template")
    entry: dict[str, Any] = {"role": role, "content": _text(message)}
    if isinstance(message, AIMessage) and message.tool_calls:
        entry["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["args"]},
            }
            for call in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        entry["tool_call_id"] = message.tool_call_id
        if message.name:
            entry["name"] = message.name
    return entry


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    return [to_chat_dict(m) for m in messages]
