"""One retrieved passage, as one value from the prompt that shows it to the attention that weighs it.

The code that makes a prompt (the pipeline's `build_prompt`, LangChain's `stuff_passages`,
LlamaIndex's `PassageSynthesizer`) makes a `Passage` for each retrieved text it puts in: the text
as the prompt shows it, the retriever's rank, the relevance weight and a label. `locate_passages`
finds it in the rendered prompt and keeps its weight and label on the token span
(`spans.PassageSpan`) that the guided rules read.

One score convention: retrievers, rerankers and vector stores return passages best first, but
their scores come on every scale and in both senses (cosine or inner-product similarities that may
be negative, squared L2 distances where lower is better, reranker logits, BM25, some missing after
a postprocessor). A passage's weight is therefore its place in that order (`rank_weight`), never
its raw score: it cannot invert, and it does not depend on the embedding model's scale.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias


def check_weight(weight: Any) -> float | None:
    """`weight` as a float (numpy scores, as FAISS returns, too), or None; ValueError unless it is
    a finite number >= 0."""
    if weight is None:
        return None
    number = isinstance(weight, numbers.Real) and not isinstance(weight, bool)
    if not number or not math.isfinite(weight) or weight < 0:
        raise ValueError(f"passage weight must be a finite number >= 0 or None, got {weight!r}")
    return float(weight)


def check_rank(rank: Any) -> None:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"a retrieval rank must be an integer >= 1 (1 = best), got {rank!r}")


@dataclass(frozen=True)
class Passage:
    """A retrieved passage: `text` as the prompt shows it, the retriever's `rank` (1 = best; None:
    not ranked), its relevance `weight` (>= 0, higher = more relevant; None: unknown) and a `label`
    that names it in the diagnostics."""

    text: str
    rank: int | None = None
    weight: float | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ValueError(f"a passage's text must be a string, got {type(self.text).__name__}")
        if self.rank is not None:
            check_rank(self.rank)
        object.__setattr__(self, "weight", check_weight(self.weight))
        object.__setattr__(self, "label", str(self.label))

    def to_dict(self) -> dict[str, Any]:
        """The passage as JSON (a chat message carries it so: messages are stored and sent)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Passage:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown or "text" not in data:
            raise ValueError(f"a passage needs 'text' and at most {sorted(known)}, got keys {sorted(data)}")
        return cls(**data)


PassageLike: TypeAlias = (
    Passage | str | tuple[str, float | None] | tuple[str, float | None, str] | Mapping[str, Any]
)
"""What a caller may pass as a passage: a `Passage` (or its `to_dict`), a text, or a
(text, weight[, label]) tuple."""


def as_passage(item: PassageLike, index: int) -> Passage:
    """A caller's passage as a `Passage`: a text or a (text, weight[, label]) tuple is labelled by
    its `index` unless it names itself."""
    if isinstance(item, Passage):
        return item
    if isinstance(item, Mapping):
        return Passage.from_dict(item)
    if isinstance(item, str):
        return Passage(item, label=str(index))
    if isinstance(item, tuple) and 2 <= len(item) <= 3:
        return Passage(item[0], weight=item[1], label=str(item[2]) if len(item) == 3 else str(index))
    raise ValueError(
        f"passage {index} is a {type(item).__name__}; give a Passage, a text or a "
        "(text, weight[, label]) tuple"
    )


def as_passages(items: Sequence[PassageLike]) -> list[Passage]:
    """A caller's passages (see `as_passage`), in the order given."""
    if isinstance(items, str):  # a string is a sequence too: of one-character "passages"
        raise TypeError(
            "passages must be a list of texts, Passages or (text, weight[, label]) tuples, not one string"
        )
    return [as_passage(item, i) for i, item in enumerate(items)]


def rank_weight(rank: int, count: int) -> float:
    """The relevance weight of the passage the retriever ranked `rank`-th (1 = best) of `count`:
    (count - rank + 1) / count, so the best weighs 1, each next one 1/count less, the last
    1/count (> 0: every retrieved passage stays a candidate)."""
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= count:
        raise ValueError(f"a retrieval rank must be an integer from 1 to {count}, got {rank!r}")
    return (count - rank + 1) / count


def rank_weights(ranks: Sequence[int]) -> list[float]:
    """The weights of passages by their retrieval ranks (1 = best), as given: a filter or reranker
    may have dropped some (ranks 1 and 3 of 4 kept), so each weighs by its place among the ranks
    that are there (`rank_weight`), and the ranks themselves are never renumbered."""
    for rank in ranks:
        check_rank(rank)
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"two passages have the same retrieval rank: {sorted(ranks)}")
    place = {rank: i for i, rank in enumerate(sorted(ranks), 1)}
    return [rank_weight(place[rank], len(ranks)) for rank in ranks]


def fill_ranks(carried: Sequence[int | None]) -> list[int]:
    """Every passage's retrieval rank: the ranks carried (a reorder kept them) as they are, and a
    passage without one (a document added after the reorder) ranked after them, in the order given."""
    ranks = [rank for rank in carried if rank is not None]
    after = max(ranks, default=0)
    filled = []
    for rank in carried:
        if rank is None:
            after += 1
            rank = after
        filled.append(rank)
    return filled


def ranked_passages(items: Sequence[tuple[str, int | None, str]]) -> list[Passage]:
    """Passages from (text, carried rank or None, label) in prompt order, each weighed by its
    retrieval rank among those given (`fill_ranks`, `rank_weights`)."""
    ranks = fill_ranks([rank for _, rank, _ in items])
    weights = rank_weights(ranks)
    return [
        Passage(text, rank, weight, label)
        for (text, _, label), rank, weight in zip(items, ranks, weights, strict=True)
    ]
