"""The stuffed RAG prompt: numbered sources first, the question last.

The question closes the prompt so that SRA's outer loop and the guided rules, which work on the
question's rows, see it. The token span of every source, with its retriever score, is located
by the generator in the rendered prompt, so the attention the question pays to each source can be
measured and guided SRA can aim at the sources. A model without a chat template (a base model)
gets the same text as a plain completion prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..generation import Generator, Prompt
from ..spans import PromptSpans
from .chunking import Chunk

SYSTEM = (
    "You answer questions using only the numbered sources the user gives you. "
    "Reply with the answer alone, in a few words, without explanation."
)


@dataclass(frozen=True)
class RagPrompt:
    messages: Prompt  # chat messages, or a plain string for a model without a chat template
    passages: list[str]  # each numbered source block, verbatim as in the prompt
    question: str  # the question block that closes the prompt
    spans: PromptSpans  # token spans of the sources (weights: retriever scores) and the question
    length: int  # prompt tokens

    @property
    def source_spans(self) -> list[tuple[int, int]]:
        """Token span of each numbered source, in source order."""
        return [(p.start, p.end) for p in self.spans.passages]

    @property
    def question_rows(self) -> int:
        """Prompt tokens from the question to the end."""
        return self.length - self.spans.question_start

    def passages_with_scores(self) -> list[tuple[str, float | None, str]]:
        """What `Generator.stream(passages=...)` takes: each source block, its score and number."""
        return [(text, p.weight, p.label) for text, p in zip(self.passages, self.spans.passages, strict=True)]


def _source_block(number: int, chunk: Chunk) -> str:
    return f"[{number}] (from {chunk.source})\n{chunk.text}"


def build_prompt(
    generator: Generator,
    question: str,
    chunks: Sequence[Chunk],
    scores: Sequence[float] | None = None,
) -> RagPrompt:
    """The sources numbered from 1 in the order given (each with its retriever score, if
    given), then the question; chat messages when the tokenizer has a chat template."""
    if not question.strip():
        raise ValueError("the question is empty")
    if not chunks:
        raise ValueError("no sources to build a prompt from")
    if scores is not None and len(scores) != len(chunks):
        raise ValueError(f"got {len(scores)} scores for {len(chunks)} sources")
    blocks = [_source_block(i, c) for i, c in enumerate(chunks, start=1)]
    ask = f"Question: {question.strip()}\nAnswer:"
    user = "Sources:\n\n" + "\n\n".join(blocks) + "\n\n" + ask
    messages: Prompt
    if getattr(generator.tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
    else:
        messages = f"{SYSTEM}\n\n{user}"
    weights = [None] * len(blocks) if scores is None else [float(s) for s in scores]
    numbered = [
        (block, weight, str(i)) for i, (block, weight) in enumerate(zip(blocks, weights, strict=True), 1)
    ]
    spans = generator.locate(messages, numbered, question=ask)
    return RagPrompt(messages, blocks, ask, spans, len(generator.encode(messages)[0]))
