"""Tool calls for LangChain: the model's calls (`sra_rag.tool_calls`) as LangChain's tool-call chunks.

A call whose text does not parse goes in with its raw text as a JSON string, which LangChain cannot
read as arguments (a dict), so it reports the call in `invalid_tool_calls` instead of guessing at a
partial parse.
"""

from __future__ import annotations

from collections.abc import Iterable

from langchain_core.messages import ToolCallChunk
from langchain_core.messages.tool import tool_call_chunk

from sra_rag.tool_calls import (
    ToolCall,
    ToolCallReader,
    response_template,
    template_renders_tools,
    tool_support_error,
)

__all__ = ["ToolCallReader", "as_chunks", "response_template", "template_renders_tools", "tool_support_error"]


def as_chunks(calls: Iterable[ToolCall]) -> list[ToolCallChunk]:
    """The model's calls as LangChain tool-call chunks."""
    return [tool_call_chunk(name=c.name, args=c.arguments, id=c.id, index=c.index) for c in calls]
