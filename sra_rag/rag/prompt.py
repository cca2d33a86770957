"""The stuffed RAG prompt: numbered sources and the question, in a layout (`prompt_layout`).

The default layout closes the prompt with the question, so that SRA's outer loop and the guided
rules, which work on the question's rows, see it; a question-first layout is located before the
sources, and the guided rules then act on the rows after the last source. The prompt is rendered
and tokenised once, here, and the token span of every source, with its relevance weight, located
in it at the same time: the generator and the attention probe take those spans as they are. A
model without a chat template (a base model) gets the same text as a plain completion prompt,
which ends where a reader would stop reading its answer (`COMPLETION_STOPS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..engine.passage import Passage
from ..engine.spans import PromptSpans
from ..generation import Generator, PreparedPrompt, Prompt
from .chunking import Chunk
from .prompt_layout import DEFAULT_LAYOUT, LAYOUTS, check_layout

COMPLETION_STOPS: tuple[str, ...] = ("\n", "Question:")
"""Where an answer to a completion prompt ends: the end of its line, or a next question. A base
model given "... Answer:" writes its answer and goes on (the next question, "Answer: Answer:", a
list of candidates) until the token limit; a chat model's reply ends with its turn."""


@dataclass(frozen=True)
class RagPrompt:
    messages: Prompt  # chat messages, or a plain string for a model without a chat template
    prepared: PreparedPrompt  # its tokens and the sources' spans, made once

    @property
    def stops(self) -> tuple[str, ...]:
        """The stop strings its answer ends at: `COMPLETION_STOPS` for a completion prompt."""
        return COMPLETION_STOPS if isinstance(self.messages, str) else ()

    @property
    def spans(self) -> PromptSpans:
        """Token spans of the sources (with their weights) and of the question."""
        assert self.prepared.spans is not None, "build_prompt always locates its sources"
        return self.prepared.spans

    @property
    def length(self) -> int:
        """Prompt tokens."""
        return self.prepared.length

    @property
    def source_spans(self) -> list[tuple[int, int]]:
        """Token span of each numbered source, in source order."""
        return [(p.start, p.end) for p in self.spans.passages]

    @property
    def question_rows(self) -> int:
        """Prompt tokens from the question to the end."""
        return self.length - self.spans.question_start


def _source_block(number: int, chunk: Chunk) -> str:
    return f"[{number}] (from {chunk.source})\n{chunk.text}"


def build_prompt(
    generator: Generator,
    question: str,
    chunks: Sequence[Chunk],
    weights: Sequence[float] | None = None,
    layout: str = DEFAULT_LAYOUT,
    ranks: Sequence[int] | None = None,
) -> RagPrompt:
    """The sources numbered from 1 in the order given (each with its relevance weight and
    retrieval rank, if given: see `passage.rank_weight`) and the question, in `layout`; chat
    messages when the tokenizer has a chat template. Each source is a `Passage` labelled by its
    number, located in the prompt here."""
    check_layout(layout)
    if not question.strip():
        raise ValueError("the question is empty")
    if not chunks:
        raise ValueError("no sources to build a prompt from")
    for name, values in (("weights", weights), ("ranks", ranks)):
        if values is not None and len(values) != len(chunks):
            raise ValueError(f"got {len(values)} {name} for {len(chunks)} sources")
    blocks = [_source_block(i, c) for i, c in enumerate(chunks, start=1)]
    shape = LAYOUTS[layout]
    ask = shape.ask.format(question=question.strip())
    sources = shape.sources_heading + "\n\n" + "\n\n".join(blocks)
    user = f"{ask}\n\n{sources}\n\nAnswer:" if shape.question_first else f"{sources}\n\n{ask}"
    messages: Prompt
    if getattr(generator.tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": shape.system}, {"role": "user", "content": user}]
    else:
        messages = f"{shape.system}\n\n{user}"
    numbered = [
        Passage(
            block,
            rank=None if ranks is None else ranks[i],
            weight=None if weights is None else weights[i],
            label=str(i + 1),
        )
        for i, block in enumerate(blocks)
    ]
    return RagPrompt(messages, generator.prepare(messages, passages=numbered, question=ask))
