"""sra_rag.generation on the bundled SmolLM2: new text only, streaming, stops, usage, threads."""

import asyncio
import threading

import pytest
import torch
from transformers import pipeline

from sra_rag import SRAConfig, disable_sra, enable_sra, is_patched, record_diagnostics, use_sra
from sra_rag.generation import ContextWindowError, Generator, _StopFilter, cut_at_stop
from sra_rag.models import load_model
from sra_rag.rag.prompt import COMPLETION_STOPS

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
SMALL_SRA = SRAConfig(begin_length=5, question_length=20)


@pytest.fixture(scope="module")
def generator(smollm2):
    yield Generator(*smollm2)
    disable_sra(smollm2[0])  # per-call settings patched it; leave the shared model stock


def _long_prompt(tokens: int = 500) -> list[dict]:
    facts = " ".join(
        f"Item {i} of the inventory is a crate of {i * 7 % 13} apples." for i in range(tokens // 14)
    )
    return [{"role": "user", "content": f"{facts}\nHow many apples are in item 12? Answer briefly."}]


def test_returns_only_new_text_with_usage(generator):
    result = generator.generate(QUESTION, max_new_tokens=20)
    assert "Paris" in result.text
    assert "capital of France?" not in result.text and "<|im_start|>" not in result.text
    assert result.usage.input_tokens == generator.encode(QUESTION).shape[1]
    assert 0 < result.usage.output_tokens <= 20
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    assert result.finish_reason == "stop"


def test_stream_yields_the_same_text_in_pieces(generator):
    stream = generator.stream("1, 2, 3, 4, 5,", max_new_tokens=12)
    chunks = list(stream)
    assert len(chunks) > 1
    assert "".join(chunks) == generator.generate("1, 2, 3, 4, 5,", max_new_tokens=12).text
    assert stream.usage.output_tokens == 12 and stream.finish_reason == "length"
    # a for loop over the stream call drops the stream object at once: the generation must go on
    text = ""
    for chunk in generator.stream("1, 2, 3, 4, 5,", max_new_tokens=12):
        text += chunk
    assert text == "".join(chunks)


@pytest.mark.parametrize("streaming", [False, True])
def test_multi_token_stop_string_stops_and_is_trimmed(generator, streaming):
    options = {"max_new_tokens": 30, "stop": [", 9"]}
    if streaming:
        stream = generator.stream("1, 2, 3, 4, 5,", **options)
        text, reason, used = "".join(stream), stream.finish_reason, stream.usage.output_tokens
    else:
        result = generator.generate("1, 2, 3, 4, 5,", **options)
        text, reason, used = result.text, result.finish_reason, result.usage.output_tokens
    assert text == " 6, 7, 8"
    assert reason == "stop" and used < 30


@pytest.mark.parametrize("streaming", [False, True])
def test_a_stop_string_never_matches_in_the_replys_leading_whitespace(generator, streaming):
    """A base model often opens its answer with a blank line after "Answer:"; a "\n" stop must not
    cut that reply to nothing. Here the reply " 6, 7, 8" opens with the stop " ", so it ends at the
    next one (the old rule returned "")."""
    options = {"max_new_tokens": 12, "stop": [" "]}
    if streaming:
        stream = generator.stream("1, 2, 3, 4, 5,", **options)
        text, reason = "".join(stream), stream.finish_reason
    else:
        result = generator.generate("1, 2, 3, 4, 5,", **options)
        text, reason = result.text, result.finish_reason
    assert text == " 6," and reason == "stop"


def test_stops_are_cut_after_the_reply_begins_whichever_way_it_arrives() -> None:
    stops = COMPLETION_STOPS
    assert cut_at_stop("\n1852\nQuestion: when?", stops) == "\n1852"
    assert cut_at_stop("  \n \n", stops) == "  \n \n"  # nothing begun: nothing to cut at
    assert cut_at_stop(" four, five", [" four"]) == ""  # a stop with text in it counts where it starts
    assert cut_at_stop("\nQuestion: why?", stops) == "\n"
    for pieces in (["\n", "18", "52\n", "Q"], ["\n1", "852", "\nQuest", "ion:"], ["\n1852\nQuestion:"]):
        held = _StopFilter(stops)
        text = "".join(held.push(piece) for piece in pieces) + held.flush()
        assert (text, held.stopped) == ("\n1852", True), pieces
    held = _StopFilter([" four"])
    assert [held.push(piece) for piece in (" ", "fo", "ur,", " five")] == ["", "", "", ""] and held.stopped


def test_prompt_over_the_context_window_says_how_long(generator):
    prompt = "word " * 8300
    with pytest.raises(
        ContextWindowError, match=r"the prompt is \d+ tokens .* context window is 8192 tokens"
    ):
        generator.generate(prompt, max_new_tokens=5)


def test_a_lowered_context_window_is_enforced(smollm2):
    small = Generator(*smollm2, context_window=64)
    with pytest.raises(ContextWindowError, match=r"the prompt is \d+ tokens .* context window is 64 tokens"):
        small.generate("word " * 70, max_new_tokens=1)
    with pytest.raises(ValueError, match="between 1 and the model's 8192 tokens, got 9000"):
        Generator(*smollm2, context_window=9000)


def test_sra_per_call_and_diagnostics(generator):
    prompt = _long_prompt()
    on = generator.generate(prompt, max_new_tokens=4, sra=SMALL_SRA, diagnostics=True)
    off = generator.generate(prompt, max_new_tokens=4, sra=None, diagnostics=True)
    assert on.diagnostics["rows_touched"] > 0 and on.diagnostics["redistributed_mass"] > 0
    assert off.diagnostics["rows_touched"] == 0
    assert on.sra == SMALL_SRA and off.sra is None
    # the caller's own recorder (and spans) reach a call that gives none of its own
    with record_diagnostics() as outer:
        generator.generate(prompt, max_new_tokens=4, sra=SMALL_SRA)
    assert outer.summary()["rows_touched"] == on.diagnostics["rows_touched"]


def test_a_per_call_setting_leaves_the_attention_implementation_as_it_was():
    """An eager model given `sra=` for one call is eager again afterwards, and unpatched."""
    model, tokenizer = load_model(sra=None, attn_implementation="eager")
    assert model.config._attn_implementation == "eager"
    result = Generator(model, tokenizer).generate(
        _long_prompt(), max_new_tokens=2, sra=SMALL_SRA, diagnostics=True
    )
    assert result.diagnostics["redistributed_mass"] > 0
    assert not is_patched(model) and model.config._attn_implementation == "eager"


def test_reports_the_setting_in_force(generator, smollm2):
    model = smollm2[0]
    enable_sra(model, SMALL_SRA)
    try:
        assert generator.sra_in_force() == SMALL_SRA
        with use_sra(model, None):
            assert generator.generate(QUESTION, max_new_tokens=2).sra is None
        with generator.stream(QUESTION, max_new_tokens=2) as stream:
            assert stream.sra == SMALL_SRA
    finally:
        disable_sra(model)
    assert generator.sra_in_force() is None


def test_bad_options_are_rejected(generator):
    with pytest.raises(ValueError, match="max_new_tokens"):
        generator.generate(QUESTION, max_new_tokens=0)
    with pytest.raises(TypeError, match="SRAConfig"):
        generator.generate(QUESTION, sra={"policy": "sra"})
    with pytest.raises(ValueError, match="tools need chat messages"):
        generator.generate("hi", tools=[{"type": "function"}])


def test_concurrent_calls_match_sequential_ones(generator):
    prompt = _long_prompt(300)
    settings = [SMALL_SRA, None, SMALL_SRA, None]
    expected = [generator.generate(prompt, max_new_tokens=6, sra=s).text for s in settings]
    got: dict[int, str] = {}
    touched: dict[int, int] = {}

    def run(index: int) -> None:
        result = generator.generate(prompt, max_new_tokens=6, sra=settings[index], diagnostics=True)
        got[index], touched[index] = result.text, result.diagnostics["rows_touched"]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(settings))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [got[i] for i in range(len(settings))] == expected
    assert [touched[i] > 0 for i in range(len(settings))] == [True, False, True, False]


COUNTING = "1, 2, 3, 4, 5,"


def test_counting_runs_to_the_limit(generator):
    """The evidence the two tests below rest on: left alone, this prompt generates to the limit."""
    assert generator.generate(COUNTING, max_new_tokens=40).usage.output_tokens == 40


def test_closing_a_stream_stops_the_generation(generator):
    stream = generator.stream(COUNTING, max_new_tokens=200)
    first = next(iter(stream))
    stream.close()
    assert first
    produced = stream._outcome.ids.shape[1] - generator.encode(COUNTING).shape[1]
    assert produced < 16, produced  # stopped at once, not after the 40+ it would have made


def test_astream_matches_stream_and_keeps_the_loop_free(generator):
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async def collect() -> tuple[list[str], object]:
        ticker = asyncio.create_task(tick())
        generation = generator.astream("1, 2, 3, 4, 5,", max_new_tokens=12, sra=SMALL_SRA)
        chunks = [text async for text in generation]
        ticker.cancel()
        return chunks, generation.stream

    chunks, stream = asyncio.run(collect())
    expected = generator.generate("1, 2, 3, 4, 5,", max_new_tokens=12, sra=SMALL_SRA)
    assert len(chunks) > 1 and "".join(chunks) == expected.text
    assert stream.usage == expected.usage and stream.sra == SMALL_SRA
    assert ticks > 5  # the loop ran while the model generated


def test_astream_raises_bad_input_in_the_consumer_and_stops_when_left(generator):
    async def first_then_leave() -> object:
        generation = generator.astream("1, 2, 3, 4, 5,", max_new_tokens=200)
        async for _ in generation:
            break
        return generation.stream

    async def bad() -> None:
        async for _ in generator.astream(QUESTION, max_new_tokens=0):
            pass

    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        asyncio.run(bad())
    stream = asyncio.run(first_then_leave())
    stream._worker.join(timeout=30)  # the pump closed the stream: generation was cancelled
    produced = stream._outcome.ids.shape[1] - generator.encode(COUNTING).shape[1]
    assert produced < 16, produced


def test_transformers_pipeline_runs_with_sra(smollm2):
    model, tokenizer = smollm2
    enable_sra(model, SMALL_SRA)
    try:
        generate = pipeline("text-generation", model=model, tokenizer=tokenizer)
        with record_diagnostics() as recorder:
            out = generate(_long_prompt(300), max_new_tokens=8, do_sample=False)
        reply = out[0]["generated_text"][-1]
        assert reply["role"] == "assistant" and reply["content"].strip()
        assert recorder.summary()["redistributed_mass"] > 0  # SRA acted inside the pipeline
    finally:
        disable_sra(model)
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        assert torch.isfinite(model(torch.tensor([[1, 2, 3]])).logits).all()


def test_default_survives_copy_and_pickle():
    import copy
    import pickle

    from sra_rag.generation import DEFAULT

    assert copy.deepcopy(DEFAULT) is DEFAULT and pickle.loads(pickle.dumps(DEFAULT)) is DEFAULT


def test_a_json_schema_holds_the_reply_to_it(generator):
    """Constrained decoding (`structured`): a document the schema accepts, whatever the prompt."""
    import json

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["name", "year"],
        "additionalProperties": False,
    }
    prompt = [{"role": "user", "content": "Mira Voss was born in 1871. Who, and when?"}]
    result = generator.generate(prompt, max_new_tokens=32, json_schema=schema)
    document = json.loads(result.text)
    assert set(document) == {"name", "year"} and isinstance(document["year"], int)
    assert result.finish_reason == "stop"
    with pytest.raises(ValueError, match="cannot be enforced"):
        generator.generate(prompt, json_schema={"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}})
