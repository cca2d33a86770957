"""Passage order: where in the prompt each retrieved passage goes.

Retrievers return passages best first, and stuffing them in that order puts the best passage
farthest from the question, which small models read least. Three orders:
- `retrieved`: as the retriever ranked them, best first;
- `best_last`: reversed, so the best passage sits just before the question;
- `long_context`: "lost in the middle" reordering, best passages at both ends and the weakest in
  the middle; the same permutation as LangChain's and LlamaIndex's `LongContextReorder` (the
  integration packages test that).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

PassageOrder = Literal["retrieved", "best_last", "long_context"]
ORDERS: tuple[str, ...] = ("retrieved", "best_last", "long_context")

DEFAULT_ORDER: PassageOrder = "retrieved"
"""The order where neither the caller nor a model's profile (`rag.profile`) gives one."""

T = TypeVar("T")


def check_order(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(f"unknown passage order {order!r}; choose one of {list(ORDERS)}")


def order_passages(ranked: Sequence[T], order: str) -> list[T]:
    """`ranked` (best first) in prompt order."""
    check_order(order)
    if order == "retrieved":
        return list(ranked)
    if order == "best_last":
        return list(reversed(ranked))
    arranged: list[T] = []
    for i, item in enumerate(reversed(ranked)):  # worst first: alternate front and back
        if i % 2 == 0:
            arranged.insert(0, item)
        else:
            arranged.append(item)
    return arranged
