"""The stuffed RAG prompt: numbered sources first, the question last.

The question closes the prompt so that SRA's outer loop, which works on the prompt's tail, sees
the question's rows; the token span of every source is kept, so the attention the question pays
to each source can be measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..generation import Generator, Message
from .chunking import Chunk

SYSTEM = (
    "You answer questions using only the numbered sources the user gives you. "
    "Reply with the answer alone, in a few words, without explanation."
)


@dataclass(frozen=True)
class RagPrompt:
    messages: list[Message]
    source_spans: list[tuple[int, int]]  # token span of each numbered source in the encoded prompt
    question_rows: int  # prompt tokens from the question to the end
    length: int  # prompt tokens


def _source_block(number: int, chunk: Chunk) -> str:
    return f"[{number}] (from {chunk.source})\n{chunk.text}"


def build_prompt(generator: Generator, question: str, chunks: Sequence[Chunk]) -> RagPrompt:
    """Chat messages with the sources numbered from 1 in the order given, and their token spans."""
    if not question.strip():
        raise ValueError("the question is empty")
    blocks = [_source_block(i, c) for i, c in enumerate(chunks, start=1)]
    ask = f"Question: {question.strip()}\nAnswer:"
    user = "Sources:\n\n" + "\n\n".join(blocks) + "\n\n" + ask
    messages: list[Message] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    text = generator.render(messages)
    offsets: list[Any] = generator.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
        "offset_mapping"
    ]
    cursor = text.index("Sources:\n\n")
    char_spans = []
    for block in blocks:
        start = text.index(block, cursor)
        cursor = start + len(block)
        char_spans.append((start, cursor))
    question_start = text.index(ask, cursor)
    source_spans = [_token_span(offsets, s, e) for s, e in char_spans]
    question_rows = len(offsets) - _token_span(offsets, question_start, question_start + 1)[0]
    return RagPrompt(messages, source_spans, question_rows, len(offsets))


def _token_span(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The tokens whose characters overlap [start, end)."""
    first = next(i for i, (s, e) in enumerate(offsets) if e > start)
    last = max(i for i, (s, e) in enumerate(offsets) if s < end)
    return first, last + 1
