"""SRALLM on the bundled SmolLM2: every method, callbacks and instrumentation, per-call options."""

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, MessageRole
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler, TokenCountingHandler
from llama_index.core.instrumentation.events.llm import (
    LLMChatEndEvent,
    LLMChatInProgressEvent,
    LLMChatStartEvent,
    LLMCompletionEndEvent,
    LLMCompletionInProgressEvent,
    LLMCompletionStartEvent,
)
from llama_index.core.prompts import PromptTemplate
from llama_index.llms.sra import SRALLM

from sra_rag import TransitionConfig, sra_config
from sra_rag.engine.config import PAPER
from sra_rag.generation import DEFAULT

QUESTION = "What is the capital of France?"
METHODS = [
    "complete",
    "stream_complete",
    "chat",
    "stream_chat",
    "acomplete",
    "astream_complete",
    "achat",
    "astream_chat",
]
Response = CompletionResponse | ChatResponse


async def call(llm: SRALLM, method: str, prompt: str = QUESTION, **kwargs: Any) -> list[Response]:
    """Every response one call produces: one, or one per streamed piece."""
    argument = [ChatMessage(role=MessageRole.USER, content=prompt)] if "chat" in method else prompt
    result = getattr(llm, method)(argument, **kwargs)
    if method.startswith("a"):
        result = await result
        return [r async for r in result] if "stream" in method else [result]
    return list(result) if "stream" in method else [result]


def text_of(response: Response) -> str:
    return response.message.content if isinstance(response, ChatResponse) else response.text


@pytest.fixture(scope="module")
def reference(bundled: Any) -> str:
    """The greedy answer to QUESTION, which every method must reproduce."""
    return SRALLM(*bundled, max_new_tokens=12).complete(QUESTION).text


@pytest.mark.parametrize("method", METHODS)
async def test_every_method_answers_and_is_instrumented(
    llm: SRALLM, events: Any, reference: str, method: str
) -> None:
    responses = await call(llm, method)
    final = responses[-1]
    text = text_of(final)
    assert "Paris" in text
    assert text == reference  # same prompt formatting and decoding on every path
    assert QUESTION not in text and "<|im_start|>" not in text  # only new text, never the prompt
    assert final.additional_kwargs["finish_reason"] == "stop"
    assert final.additional_kwargs["output_tokens"] > 0
    assert final.raw["usage"]["input_tokens"] == final.additional_kwargs["input_tokens"]
    assert final.raw["sra"] == PAPER.to_dict()

    if "stream" in method:
        assert len(responses) > 1
        assert "".join(r.delta for r in responses) == text
        so_far = [text_of(r) for r in responses]
        assert so_far == ["".join(r.delta for r in responses[: i + 1]) for i in range(len(responses))]
        assert all(r.raw is None and r.additional_kwargs == {} for r in responses[:-1])
    else:
        assert final.delta is None

    chat = "chat" in method
    start, progress, end = (
        (LLMChatStartEvent, LLMChatInProgressEvent, LLMChatEndEvent)
        if chat
        else (LLMCompletionStartEvent, LLMCompletionInProgressEvent, LLMCompletionEndEvent)
    )
    assert len(events.of(start)) == 1
    assert events.of(start)[0].model_dict["sra"] == PAPER.to_dict()
    assert len(events.of(progress)) == (len(responses) if "stream" in method else 0)
    [ended] = events.of(end)
    assert text_of(ended.response) == text


async def test_callback_handlers_see_every_call(bundled: Any) -> None:
    debug, counter = LlamaDebugHandler(), TokenCountingHandler()
    llm = SRALLM(*bundled, max_new_tokens=2, callback_manager=CallbackManager([debug, counter]))
    for method in METHODS:
        await call(llm, method)
    pairs = debug.get_llm_inputs_outputs()
    assert len(pairs) == len(METHODS)
    responses = [end.payload.get("response") or end.payload.get("completion") for _, end in pairs]
    assert all(r.raw["usage"]["output_tokens"] == 2 for r in responses)
    # LlamaIndex's token counter takes the model's own counts from the responses
    assert counter.prompt_llm_token_count == sum(r.raw["usage"]["input_tokens"] for r in responses)
    assert counter.completion_llm_token_count == 2 * len(METHODS)


def test_metadata_comes_from_the_model(llm: SRALLM, bundled: Any) -> None:
    meta = llm.metadata
    assert meta.context_window == bundled[0].config.max_position_embeddings == 8192
    assert meta.num_output == 12
    assert meta.is_chat_model
    assert meta.model_name == Path(bundled[0].config.name_or_path).name  # the converted cache's folder
    assert SRALLM(*bundled, model_name="smol", context_window=2048).metadata.context_window == 2048
    assert llm.to_dict()["sra"] == "default"
    assert SRALLM(*bundled, sra=None).to_dict()["sra"] is None


def test_loading_by_path_with_a_policy() -> None:
    """SRALLM loads the bundled model itself; the policy given is the model's own."""
    llm = SRALLM(sra=TransitionConfig(), max_new_tokens=2)
    assert llm.metadata.model_name == "SmolLM2-135M-Instruct"
    response = llm.complete("What is the capital of France?")
    assert response.raw["sra"] == TransitionConfig().to_dict()
    assert response.additional_kwargs["output_tokens"] == 2
    assert llm.complete("Hi", sra=PAPER).additional_kwargs["sra_policy"] == "sra"


def test_max_tokens_bounds_the_output(llm: SRALLM) -> None:
    story = "Write a long story about the sea."
    llm.max_new_tokens = 6
    default = llm.complete(story)
    assert default.additional_kwargs["output_tokens"] == 6
    assert default.additional_kwargs["finish_reason"] == "length"
    short = llm.complete(story, max_tokens=3)
    assert short.additional_kwargs["output_tokens"] == 3
    assert default.text.startswith(short.text)
    assert llm.complete(story, max_new_tokens=2).additional_kwargs["output_tokens"] == 2


async def test_stop_strings_truncate_every_path(llm: SRALLM, reference: str) -> None:
    for stop in ("France", " is Paris"):  # one token, several tokens
        expected = reference.split(stop)[0]
        for method in ("complete", "astream_chat"):
            final = (await call(llm, method, stop=[stop]))[-1]
            assert text_of(final) == expected
            assert final.additional_kwargs["finish_reason"] == "stop"
    llm.stop = ["France"]
    assert llm.complete(QUESTION).text == reference.split("France")[0]
    assert llm.complete(QUESTION, stop=[]).text == reference  # per call replaces the field


def test_temperature_and_top_p_are_honoured(llm: SRALLM) -> None:
    prompt = "Write one sentence about a dog."
    greedy = llm.complete(prompt, max_tokens=8).text
    assert llm.complete(prompt, max_tokens=8).text == greedy
    samples = {}
    for seed in range(3):
        torch.manual_seed(seed)
        samples[seed] = llm.complete(prompt, max_tokens=8, temperature=1.5).text
    assert len(set(samples.values())) > 1  # temperature reached the sampler
    seed = next(s for s, text in samples.items() if text != greedy)
    torch.manual_seed(seed)  # that same draw, in a nucleus holding only the top token: greedy again
    assert llm.complete(prompt, max_tokens=8, temperature=1.5, top_p=1e-6).text == greedy


NOTES = " ".join(f"Note {i}: the tide table for pier {i} is posted at the harbour office." for i in range(40))
LONG = f"{NOTES}\nWhich office posts the tide tables?"
"""Over 500 tokens: long enough that the paper's SRA and Attention Transition both act."""


def moved(response: Any) -> float:
    return response.raw["diagnostics"]["redistributed_mass"]


def test_sra_per_call_acts_as_asked_and_leaves_the_model_alone(llm: SRALLM, bundled: Any) -> None:
    llm.diagnostics = True
    default = llm.complete(LONG, max_tokens=2)
    assert default.additional_kwargs["sra_policy"] == "sra" and moved(default) > 0
    off = llm.complete(LONG, max_tokens=2, sra=None)
    assert off.additional_kwargs["sra_policy"] is None and off.raw["sra"] is None and moved(off) == 0
    transition = llm.complete(LONG, max_tokens=2, sra=TransitionConfig())
    assert transition.raw["sra"] == TransitionConfig().to_dict() and moved(transition) > 0
    assert moved(transition) != moved(default)  # a different rule acted
    assert sra_config(bundled[0]) == PAPER  # the per-call setting did not leak into the model
    baseline = SRALLM(*bundled, sra=None, max_new_tokens=2)  # an LLM-wide setting, same mechanism
    assert baseline.complete(QUESTION).raw["sra"] is None
    assert sra_config(bundled[0]) == PAPER


def test_diagnostics_show_what_sra_did(llm: SRALLM) -> None:
    on = llm.complete(LONG, max_tokens=1, diagnostics=True).raw
    off = llm.complete(LONG, max_tokens=1, diagnostics=True, sra=None).raw
    assert on["usage"]["input_tokens"] > 500
    assert on["diagnostics"]["rows_touched"] > 0 and on["diagnostics"]["redistributed_mass"] > 0
    assert not off["diagnostics"]["rows_touched"]
    assert llm.complete(QUESTION, max_tokens=1).raw["diagnostics"] is None  # off unless asked


async def test_formatting_is_identical_in_complete_and_stream_complete(llm: SRALLM, bundled: Any) -> None:
    tokenizer = bundled[1]
    raw_length = len(tokenizer(QUESTION).input_ids)
    templated = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION}], add_generation_prompt=True, tokenize=False
    )
    template_length = len(tokenizer(templated, add_special_tokens=False).input_ids)
    for formatted, length in ((True, raw_length), (False, template_length)):
        methods = [m for m in METHODS if "complete" in m]
        results = [(await call(llm, m, formatted=formatted, max_tokens=4))[-1] for m in methods]
        assert {r.raw["usage"]["input_tokens"] for r in results} == {length}
        assert len({r.text for r in results}) == 1


def test_system_prompt_and_custom_formatters(bundled: Any) -> None:
    tokenizer = bundled[1]

    def length(text: str, special: bool = True) -> int:
        return len(tokenizer(text, add_special_tokens=special).input_ids)

    pirate = SRALLM(*bundled, system_prompt="You are a pirate.", max_new_tokens=1)
    expected = tokenizer.apply_chat_template(
        [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": QUESTION}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert pirate.complete(QUESTION).raw["usage"]["input_tokens"] == length(expected, special=False)

    wrapped = SRALLM(*bundled, query_wrapper_prompt=PromptTemplate("Question: {query_str}"), max_new_tokens=1)
    expected = tokenizer.apply_chat_template(
        [{"role": "user", "content": f"Question: {QUESTION}"}], add_generation_prompt=True, tokenize=False
    )
    for response in (wrapped.complete(QUESTION), list(wrapped.stream_complete(QUESTION))[-1]):
        assert response.raw["usage"]["input_tokens"] == length(expected, special=False)

    custom = SRALLM(
        *bundled,
        max_new_tokens=1,
        completion_to_prompt=lambda prompt: f"Q: {prompt}\nA:",
        messages_to_prompt=lambda messages: "\n".join(f"{m.role.value}: {m.content}" for m in messages),
    )
    assert custom.complete(QUESTION).raw["usage"]["input_tokens"] == length(f"Q: {QUESTION}\nA:")
    chat = custom.chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert chat.raw["usage"]["input_tokens"] == length(f"user: {QUESTION}")


def test_multi_turn_chat_uses_the_chat_template(llm: SRALLM, bundled: Any) -> None:
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="Answer in one word."),
        ChatMessage(role=MessageRole.USER, content="What colour is the sky?"),
        ChatMessage(role=MessageRole.ASSISTANT, content="Blue."),
        ChatMessage(role=MessageRole.USER, content=QUESTION),
    ]
    response = llm.chat(messages)
    assert "Paris" in response.message.content
    assert response.message.role == MessageRole.ASSISTANT
    tokenizer = bundled[1]
    dicts = [{"role": m.role.value, "content": m.content} for m in messages]
    rendered = tokenizer.apply_chat_template(dicts, add_generation_prompt=True, tokenize=False)
    expected = tokenizer(rendered, add_special_tokens=False).input_ids
    assert response.raw["usage"]["input_tokens"] == len(expected)


async def test_async_calls_never_block_the_event_loop(llm: SRALLM) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        started = time.perf_counter()
        await llm.acomplete("Write a long story about the sea.", max_tokens=8)
        elapsed = time.perf_counter() - started
        async for _ in await llm.astream_chat([ChatMessage(role=MessageRole.USER, content=QUESTION)]):
            pass
    finally:
        ticker.cancel()
    assert ticks >= min(10, int(elapsed / 0.005) // 4)


async def test_concurrent_async_calls_keep_their_own_sra(llm: SRALLM) -> None:
    """Each concurrent call gives what it gives alone, on a prompt where every setting acts."""
    llm.diagnostics = True
    settings = [None, DEFAULT, TransitionConfig()]
    alone = [await llm.acomplete(LONG, max_tokens=3, sra=sra) for sra in settings]
    together = await asyncio.gather(*(llm.acomplete(LONG, max_tokens=3, sra=sra) for sra in settings))
    assert [r.additional_kwargs["sra_policy"] for r in together] == [None, "sra", "transition"]
    for got, expected in zip(together, alone, strict=True):
        assert (got.text, got.raw["diagnostics"]) == (expected.text, expected.raw["diagnostics"])
    assert len({moved(r) for r in together}) == 3  # three settings, three different effects


def _new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads started since `before`, less the event loop's executor workers (idle pool threads
    that persist by design)."""
    return {t for t in threading.enumerate() if t not in before and not t.name.startswith("asyncio_")}


async def test_leaving_a_stream_stops_the_generation(llm: SRALLM) -> None:
    story = "Write a long story about the sea."
    before = set(threading.enumerate())
    stream = llm.stream_complete(story, max_tokens=400)
    next(stream)
    stream.close()
    assert not _new_threads(before)  # the generation thread was stopped and joined

    astream = await llm.astream_chat([ChatMessage(role=MessageRole.USER, content=story)], max_tokens=400)
    async for _ in astream:
        break
    await astream.aclose()
    deadline = time.monotonic() + 10  # the producer stops at the next chunk, far sooner than 400 tokens
    while _new_threads(before) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _new_threads(before)
