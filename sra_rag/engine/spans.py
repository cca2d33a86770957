"""Where the retrieved passages and the question sit in a prompt: what a RAG pipeline knows and
the paper's SRA does not.

`PromptSpans` names, in token positions counted from a sequence's first real token, each
passage (with its relevance weight and label, from its `passage.Passage`) and where the question
starts. `use_spans(...)` hands them to every prefill pass run inside the block; like the per-call
SRA setting it is part of the call (`call.Call`), so it belongs to one thread or asyncio task. A left-padded
batch takes one `PromptSpans` per sequence. `locate_passages` maps passage texts found verbatim in
a rendered prompt to token spans, so no caller ever counts tokens itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .call import within
from .passage import Passage, PassageLike, as_passages, check_weight

Span = tuple[int, int]


class PassageNotFoundError(ValueError):
    """A passage (or the tokens after the passages) is not where the prompt should have it. Only a
    guided setting needs spans: other calls go on without them."""


@dataclass(frozen=True)
class PassageSpan:
    """Tokens [start, end) of one passage; `weight` is its relevance (None: unknown)."""

    start: int
    end: int
    weight: float | None = None
    label: str = ""

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"passage {name} must be an integer >= 0, got {value!r}")
        if self.end <= self.start:
            raise ValueError(f"passage span [{self.start}, {self.end}) is empty; a passage needs tokens")
        object.__setattr__(self, "weight", check_weight(self.weight))

    @classmethod
    def of(cls, passage: Passage, start: int, end: int) -> PassageSpan:
        """Where `passage` sits: tokens [start, end), with its weight and label."""
        return cls(start, end, passage.weight, passage.label)


@dataclass(frozen=True)
class PromptSpans:
    """The passages of one prompt (in prompt order, non-overlapping) and the question's first token."""

    passages: tuple[PassageSpan, ...]
    question_start: int

    def __post_init__(self) -> None:
        passages = tuple(self.passages)
        object.__setattr__(self, "passages", passages)
        if not passages:
            raise ValueError("PromptSpans needs at least one passage")
        q = self.question_start
        if isinstance(q, bool) or not isinstance(q, int) or q < 1:
            raise ValueError(f"question_start must be an integer >= 1, got {q!r}")
        for before, after in itertools.pairwise(passages):
            if after.start < before.end:
                raise ValueError(
                    f"passages must be in prompt order without overlap: [{before.start}, {before.end}) "
                    f"then [{after.start}, {after.end})"
                )
        if passages[-1].end > q:
            raise ValueError(
                f"the question (from token {q}) must follow every passage; the last passage ends at "
                f"{passages[-1].end}"
            )
        weighted = {p.weight is None for p in passages}
        if len(weighted) > 1:
            raise ValueError("give every passage a weight or none (some passages have weight None)")

    @property
    def weights(self) -> tuple[float, ...] | None:
        """Each passage's weight, or None when the passages are unweighted."""
        if self.passages[0].weight is None:
            return None
        return tuple(float(p.weight) for p in self.passages)  # type: ignore[arg-type]

    def check(self, n: int) -> None:
        """Raise ValueError unless these spans fit a prompt of `n` real tokens."""
        if self.question_start >= n:
            raise ValueError(
                f"the question starts at token {self.question_start}, but the prompt has {n} tokens"
            )

    def with_weights(self, weights: Sequence[float] | None) -> PromptSpans:
        """The same spans with other weights (one per passage, or None for unweighted)."""
        if weights is not None and len(weights) != len(self.passages):
            raise ValueError(f"need {len(self.passages)} weights, got {len(weights)}")
        passages = tuple(
            PassageSpan(p.start, p.end, None if weights is None else float(weights[i]), p.label)
            for i, p in enumerate(self.passages)
        )
        return PromptSpans(passages, self.question_start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_start": self.question_start,
            "passages": [
                {"start": p.start, "end": p.end, "weight": p.weight, "label": p.label} for p in self.passages
            ],
        }


def batch_spans(
    spans: PromptSpans | Sequence[PromptSpans | None] | None,
) -> tuple[PromptSpans | None, ...] | None:
    """Spans as the call holds them: one entry per sequence of the batch."""
    if spans is None or isinstance(spans, PromptSpans):
        return None if spans is None else (spans,)
    value = tuple(spans)
    for item in value:
        if item is not None and not isinstance(item, PromptSpans):
            raise TypeError(f"expected PromptSpans or None per sequence, got {type(item).__name__}")
    return value


@contextmanager
def use_spans(spans: PromptSpans | Sequence[PromptSpans | None] | None) -> Iterator[None]:
    """Prefill passes inside the block know these spans (a list: one per sequence of a batch,
    None for a sequence without passages, which a guided setting refuses)."""
    with within(spans=batch_spans(spans)):
        yield


def spans_for_sequence(
    spans: tuple[PromptSpans | None, ...] | None, batch: int, b: int
) -> PromptSpans | None:
    """Sequence `b`'s spans, after checking that there is one entry per sequence."""
    if spans is None:
        return None
    if len(spans) != batch:
        raise ValueError(
            f"got prompt spans for {len(spans)} sequence(s) but the batch has {batch}; "
            "give one PromptSpans (or None) per sequence"
        )
    return spans[b]


def even_spans(question_start: int, count: int, weight: float | None = None) -> PromptSpans:
    """`count` equal passages over tokens [1, question_start), then the question: a RAG-shaped
    layout for text without real passages (benchmarks, held text)."""
    edges = [1 + (question_start - 1) * i // count for i in range(count + 1)]
    return PromptSpans(tuple(PassageSpan(a, b, weight) for a, b in itertools.pairwise(edges)), question_start)


def token_span(offsets: Sequence[tuple[int, int]], start: int, end: int) -> Span:
    """The tokens whose characters overlap [start, end) (special tokens, with empty offsets, never do)."""
    hits = [i for i, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
    if not hits:
        raise ValueError(f"no token covers characters [{start}, {end}) of the prompt")
    return hits[0], hits[-1] + 1


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def _placed(
    text: str, passages: list[Passage], start: int, question: Span | None
) -> list[tuple[int, int, Passage]]:
    """Each passage at its first occurrence from character `start` that neither another passage
    nor the question (characters [a, b)) holds, the longest first (so a passage that is part of
    another is found where it stands alone)."""
    taken: list[Span] = [] if question is None else [question]
    found: list[tuple[int, int, Passage]] = []
    for passage in sorted(passages, key=lambda p: -len(p.text)):
        length = len(passage.text)
        at = text.find(passage.text, start)
        while at >= 0 and any(at < e and at + length > s for s, e in taken):
            at = text.find(passage.text, at + 1)  # the same text twice: take the next free occurrence
        if at < 0:
            raise PassageNotFoundError(
                f"passage {passage.label} {_excerpt(passage.text)} does not appear verbatim in the "
                "prompt's message that carries the passages"
            )
        taken.append((at, at + length))
        found.append((at, at + length, passage))
    return sorted(found, key=lambda hit: hit[:2])


def locate_passages(
    text: str,
    offsets: Sequence[tuple[int, int]],
    passages: Sequence[PassageLike],
    *,
    question: str | None = None,
    search_from: int = 0,
) -> PromptSpans:
    """Token spans of `passages` (`Passage`s, or texts or (text, weight[, label]) tuples, labelled
    by their index unless they name themselves) found verbatim in the rendered prompt `text` from
    character `search_from` on (the message that carries them: chat history before it is never
    searched), whose tokens have character `offsets`. A blank passage has no tokens to weigh and
    is left out; passages may repeat or contain one another.

    A passage is never looked for inside the question (its first occurrence from `search_from`),
    which may come before the context ("Question: ... Context: ... Answer:"). The guided rows
    (`question_start`) begin at `question`'s last occurrence when it follows the passages, else
    at the first token after the last passage, the rows that read the passages."""
    given = as_passages(passages)
    if not given:
        raise ValueError("passages is empty: give the texts of the passages that appear in the prompt")
    items = [p for p in given if p.text.strip()]
    if not items:
        raise PassageNotFoundError("every passage is blank: there is nothing to locate in the prompt")
    asked_at = -1 if question is None else text.find(question, search_from)
    asked = None if asked_at < 0 else (asked_at, asked_at + len(question))  # type: ignore[arg-type]
    found = _placed(text, items, search_from, asked)
    spans: list[PassageSpan] = []
    for s, e, passage in found:
        first, last = token_span(offsets, s, e)
        if spans:  # a token that straddles two passages belongs to the first
            first = max(first, spans[-1].end)
        spans.append(PassageSpan.of(passage, first, last))
    last_end_char = found[-1][1]
    at = -1 if question is None else text.rfind(question)
    if at >= last_end_char:
        question_start = token_span(offsets, at, at + len(question))[0]  # type: ignore[arg-type]
    else:
        after = [i for i, (s, e) in enumerate(offsets) if e > s and s >= last_end_char]
        if not after:
            raise PassageNotFoundError(
                "nothing follows the last passage in the prompt: guided SRA acts on the tokens after "
                "the passages (the question, or at least the answer cue)"
            )
        question_start = after[0]
    question_start = max(question_start, spans[-1].end)
    return PromptSpans(tuple(spans), question_start)
