"""Ten concurrent calls on one model, from threads and from asyncio tasks, each with its own SRA
setting: every answer equals the one the same call gives alone (greedy), complete and unmixed."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_sra import ChatSRA
from sra_fixtures import ACTIVE_ON_SHORT_PROMPTS

from sra_rag import preset
from sra_rag.generation import DEFAULT

QUESTIONS = [
    "What is the capital of France?",
    "Name a primary color.",
    "What do bees make?",
    "How many legs does a spider have?",
    "What is the opposite of hot?",
    "What color is the sky on a clear day?",
    "Which animal says moo?",
    "What is frozen water called?",
    "What is 2 plus 2?",
    "Name a fruit that is yellow.",
]
SETTINGS = [None, ACTIVE_ON_SHORT_PROMPTS, DEFAULT]  # baseline, SRA acting, the model's own
CALLS = [(q, SETTINGS[i % len(SETTINGS)]) for i, q in enumerate(QUESTIONS)]
MAX_TOKENS = 12


def options(sra: Any) -> dict[str, Any]:
    return {"max_tokens": MAX_TOKENS} if sra is DEFAULT else {"max_tokens": MAX_TOKENS, "sra": sra}


@pytest.fixture(scope="module")
def alone(chat: ChatSRA) -> list[AIMessage]:
    return [chat.invoke(q, **options(sra)) for q, sra in CALLS]


def same_answer(got: AIMessage, expected: AIMessage) -> None:
    assert got.content == expected.content and got.content
    assert got.usage_metadata == expected.usage_metadata
    assert got.response_metadata["sra"] == expected.response_metadata["sra"]
    assert got.response_metadata["sra_diagnostics"] == expected.response_metadata["sra_diagnostics"]


def test_alone_answers_differ_by_setting(alone: list[AIMessage]) -> None:
    """The settings really differ per call, so a mix-up between concurrent calls would show."""
    moved = [m.response_metadata["sra_diagnostics"]["redistributed_mass"] for m in alone]
    assert [m > 0 for m in moved] == [sra is ACTIVE_ON_SHORT_PROMPTS for _, sra in CALLS]


def test_ten_threads(chat: ChatSRA, alone: list[AIMessage]) -> None:
    with ThreadPoolExecutor(max_workers=len(CALLS)) as pool:
        results = list(pool.map(lambda call: chat.invoke(call[0], **options(call[1])), CALLS))
    for got, expected in zip(results, alone, strict=True):
        same_answer(got, expected)


async def test_ten_tasks(chat: ChatSRA, alone: list[AIMessage]) -> None:
    results = await asyncio.gather(*(chat.ainvoke(q, **options(sra)) for q, sra in CALLS))
    for got, expected in zip(results, alone, strict=True):
        same_answer(got, expected)


LONG = (
    " ".join(
        f"Record {i}: the tide gauge at station {i} read {i % 7 + 2} metres at dawn and was checked by "
        f"the keeper of pier {i % 5}."
        for i in range(24)
    )
    + "\n\nQuestion: what did the tide gauge at station 9 read at dawn?"
)
"""About 700 tokens: long enough that the paper's SRA (the model's own setting) moves mass."""
LONG_CALLS = [(LONG, s) for s in (None, DEFAULT, ACTIVE_ON_SHORT_PROMPTS, preset("paper_demo"))] * 2


def test_threads_on_a_prompt_where_the_papers_sra_acts(chat: ChatSRA) -> None:
    alone = [chat.invoke(q, **options(sra)) for q, sra in LONG_CALLS]
    moved = [m.response_metadata["sra_diagnostics"]["redistributed_mass"] for m in alone]
    assert [m > 0 for m in moved] == [sra is not None for _, sra in LONG_CALLS]
    with ThreadPoolExecutor(max_workers=len(LONG_CALLS)) as pool:
        results = list(pool.map(lambda call: chat.invoke(call[0], **options(call[1])), LONG_CALLS))
    for got, expected in zip(results, alone, strict=True):
        same_answer(got, expected)
