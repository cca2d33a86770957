"""Prompt layouts: where the question and the sources go, and what the model is asked to do.

A small reader misses many answers it has in front of it (README, Results), so the layout is a
measured part of a model's profile, like the passages' number and order. Three established
shapes:
- `sources_first`: numbered sources, then the question (the pipeline's since its first release);
- `question_first`: the question, then the context, in the shape of LangChain hub's RAG prompt
  ("Use the following pieces of retrieved context to answer the question");
- `single_fact`: sources first, and the model asked for the one fact the question asks, alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PromptLayout = Literal["sources_first", "question_first", "single_fact"]


@dataclass(frozen=True)
class Layout:
    system: str
    """The instructions (the system message, or the text's head for a base model)."""
    question_first: bool
    """Whether the question comes before the sources."""
    ask: str
    """The question's line(s), with `{question}` in it; the prompt ends with it when the sources
    come first."""
    sources_heading: str


LAYOUTS: dict[str, Layout] = {
    "sources_first": Layout(
        "You answer questions using only the numbered sources the user gives you. "
        "Reply with the answer alone, in a few words, without explanation.",
        False,
        "Question: {question}\nAnswer:",
        "Sources:",
    ),
    "question_first": Layout(
        "You are an assistant for question-answering tasks. Use the following pieces of retrieved "
        "context to answer the question. If you don't know the answer, say that you don't know. "
        "Keep the answer concise.",
        True,
        "Question: {question}",
        "Context:",
    ),
    "single_fact": Layout(
        "You answer questions using only the numbered sources the user gives you. The question asks "
        "for one fact: reply with that fact alone (a name, a place or a number), nothing else.",
        False,
        "Question: {question}\nReply with the single fact asked, nothing else.\nAnswer:",
        "Sources:",
    ),
}
DEFAULT_LAYOUT: PromptLayout = "sources_first"
"""The layout where neither the caller nor a model's profile gives one."""


def check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown prompt layout {layout!r}; choose one of {list(LAYOUTS)}")
