"""Prompt or chat messages in, only the new text out: the one generation path every integration
(LangChain, LlamaIndex, the CLI) shares.

Non-streaming generation is streaming, collected; so stop strings, usage counts and per-call SRA
settings behave identically in both. Generation runs in a worker thread that inherits the
caller's context (per-call SRA override, diagnostics recorder), so concurrent calls on one model
never see each other's settings.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from transformers import (
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from .async_stream import AsyncGenerationStream
from .default_setting import DEFAULT
from .engine.call import within
from .engine.diagnostics import Diagnostics
from .engine.passage import Passage, PassageLike, as_passages
from .engine.patch import check_config, sra_call
from .engine.setting import Setting
from .engine.spans import PassageNotFoundError, PromptSpans, batch_spans, locate_passages
from .engine.state import effective_config
from .structured import GrammarLogitsProcessor, IncompleteJSONError, json_grammar

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]
Prompt = str | Sequence[Message]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt rendered and tokenised once, with its passages' spans (None: no passages given, or
    not found for a call that does not need them). `Generator.stream` takes it as it is, so the
    code that builds a prompt locates its passages once and nothing tokenises it again."""

    input_ids: torch.Tensor  # (1, n)
    spans: PromptSpans | None = None

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])


def _carrier_start(prompt: Prompt, text: str, passages: Sequence[Passage]) -> int:
    """Where the message that carries the passages starts in the rendered `text`: the last message
    whose content holds every passage (0 for a plain string, or when no message holds them all).
    Chat history before it is never searched, so a follow-up turn finds this turn's passages."""
    if isinstance(prompt, str):
        return 0
    for message in reversed(prompt):
        content = message.get("content")
        if isinstance(content, str) and all(p.text in content for p in passages):
            for candidate in (content, content.strip()):
                if (at := text.rfind(candidate)) >= 0:
                    return at
            break
    return 0


def check_setting(sra: Any) -> Any:
    """An `sra` value an adapter or a call was given, checked (DEFAULT, None or a config) and returned."""
    if sra is not DEFAULT:
        check_config(sra)
    return sra


def describe_setting(sra: Any) -> dict[str, Any] | str | None:
    """An `sra` value as JSON, for metadata and serialised fields: "default", None (the baseline)
    or the config's fields."""
    return "default" if sra is DEFAULT else None if sra is None else sra.to_dict()


class ContextWindowError(ValueError):
    """The prompt plus the requested new tokens do not fit the model's context window."""


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Generation:
    text: str
    usage: Usage
    finish_reason: FinishReason
    sra: Setting | None = None  # the setting the text was generated with
    diagnostics: dict[str, Any] | None = None


def eos_ids(model: PreTrainedModel) -> tuple[int, ...]:
    """The tokens `generate` ends a reply at (the model's generation config's)."""
    eos = model.generation_config.eos_token_id
    return tuple(eos) if isinstance(eos, list) else () if eos is None else (eos,)


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the first of `stops` begins in the reply `text` (None: nowhere), counting only an
    occurrence that reaches past the reply's leading whitespace: a reply that opens with a blank
    line, as a base model's often does after "Answer:", is never cut to nothing by a "\n" stop,
    while a stop with text in it (" four", "\nQuestion:") counts wherever it starts."""
    begun = len(text) - len(text.lstrip())
    hits = [i for i in (text.find(s, max(0, begun - len(s) + 1)) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to its first stop string, as a generation with those stops returns it."""
    at = first_stop(text, stops)
    return text if at is None else text[:at]


class _StopFilter:
    """Passes a streamed reply on, holding back text that may be the start of a stop string, and
    cuts it at the first stop string (`first_stop`)."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self.text = ""  # the reply so far
        self.sent = 0  # how much of it was passed on
        self.stopped = False

    def push(self, chunk: str) -> str:
        self.text += chunk
        at = first_stop(self.text, self.stops)
        if at is not None:
            out, self.sent, self.stopped = self.text[self.sent : at], len(self.text), True
            return out
        hold = max(
            (
                k
                for s in self.stops
                for k in range(min(len(s) - 1, len(self.text)), 0, -1)
                if self.text.endswith(s[:k])
            ),
            default=0,
        )
        out, self.sent = self.text[self.sent : len(self.text) - hold], len(self.text) - hold
        return out

    def flush(self) -> str:
        out, self.sent = self.text[self.sent :], len(self.text)
        return out


class _StopStrings(StoppingCriteria):
    """Ends generation at the token that completes a stop string in the reply (`first_stop`)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.stops = [s for s in stops if s]
        self.prompt_length = prompt_length

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        replies = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=True)
        done = [first_stop(reply, self.stops) is not None for reply in replies]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _Cancelled(StoppingCriteria):
    """Stops the worker when the consumer abandons the stream."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


@dataclass
class _Outcome:
    """What the worker and the chunk iterator learn, read by the stream (no reference cycle)."""

    ids: torch.Tensor | None = None
    error: BaseException | None = None
    diagnostics: dict[str, Any] | None = None
    usage: Usage | None = None
    finish_reason: FinishReason | None = None


class GenerationStream:
    """Iterate for text chunks; once exhausted, `usage`, `finish_reason` and `diagnostics` are set.

    Closing it, leaving its `with` block or dropping it stops the generation behind it.
    """

    def __init__(
        self,
        chunks: Iterator[str],
        outcome: _Outcome,
        cancel: threading.Event,
        worker: threading.Thread,
        sra: Setting | None,
    ) -> None:
        self.sra = sra  # the setting this generation runs with
        self._chunks = chunks
        self._outcome = outcome
        self._cancel = cancel
        self._worker = worker

    def __iter__(self) -> Iterator[str]:
        # a generator that holds the stream: `for text in generator.stream(...)` drops the stream
        # object itself, and dropping it stops the generation (`__del__`)
        yield from self._chunks

    def __enter__(self) -> GenerationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self._cancel.set()

    def close(self) -> None:
        """Stop generating and wait for the worker to finish its current step."""
        self._cancel.set()
        self._chunks.close()  # type: ignore[attr-defined]
        self._worker.join()  # also when iteration never started (then the line above did nothing)

    @property
    def usage(self) -> Usage | None:
        return self._outcome.usage

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._outcome.finish_reason

    @property
    def diagnostics(self) -> dict[str, Any] | None:
        return self._outcome.diagnostics


def _summary(recorder: Any, spans: PromptSpans | None) -> dict[str, Any]:
    """The diagnostics digest; with passages, what each one gained, by its label (None when no
    guided rule acted on them)."""
    summary = recorder.summary()
    if spans is not None:
        masses = summary.pop("passage_mass", None)
        summary["passages"] = [
            {**p, "mass_change": None if masses is None else masses[i]}
            for i, p in enumerate(spans.to_dict()["passages"])
        ]
    return summary


class Generator:
    """Generation for one model and tokenizer; safe to call from several threads at once."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        context_window: int | None = None,
    ) -> None:
        """`context_window` may lower the model's own (its `max_position_embeddings`), never raise it."""
        self.model = model
        self.tokenizer = tokenizer
        native = getattr(model.config.get_text_config(), "max_position_embeddings", None)
        if context_window is not None:
            if context_window < 1 or (native is not None and context_window > native):
                raise ValueError(
                    f"context_window must be between 1 and the model's {native} tokens, got {context_window}"
                )
            native = context_window
        self.context_window: int | None = native

    def sra_in_force(self, sra: Setting | None = DEFAULT) -> Setting | None:
        """The SRA setting a call given `sra` runs with: its own, else the model's (including an
        enclosing `use_sra` block of the caller's)."""
        if sra is not DEFAULT:
            return sra
        found = effective_config(self.model.config.get_text_config())
        return None if found is None else found[1]

    def render(self, prompt: Prompt, tools: Sequence[Any] | None = None) -> str:
        """A string is used as is; chat messages go through the tokenizer's chat template."""
        if isinstance(prompt, str):
            if tools:
                raise ValueError("tools need chat messages, not a plain string prompt")
            return prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError("this tokenizer has no chat template; pass a plain string prompt")
        return self.tokenizer.apply_chat_template(
            [dict(m) for m in prompt],
            tools=list(tools) if tools else None,
            add_generation_prompt=True,
            tokenize=False,
        )

    def encode(
        self, prompt: Prompt, max_new_tokens: int = 0, tools: Sequence[Any] | None = None
    ) -> torch.Tensor:
        """Token ids (1, n) of the rendered prompt; raises ContextWindowError if it cannot fit."""
        return self.prepare(prompt, max_new_tokens=max_new_tokens, tools=tools).input_ids

    def prepare(
        self,
        prompt: Prompt,
        *,
        max_new_tokens: int = 0,
        tools: Sequence[Any] | None = None,
        passages: Sequence[PassageLike] | None = None,
        question: str | None = None,
        require_spans: bool = True,
    ) -> PreparedPrompt:
        """Render and tokenise `prompt` once and locate its `passages` in the message that carries
        them. Passages that cannot be found raise `PassageNotFoundError` when `require_spans`,
        else the prompt comes back without spans (nothing but guided SRA needs them)."""
        text = self.render(prompt, tools)
        encoded = self.tokenizer(
            text,
            return_tensors="pt",
            add_special_tokens=isinstance(prompt, str),
            return_offsets_mapping=passages is not None,
        )
        ids = encoded.input_ids
        self._check_window(ids.shape[1], max_new_tokens)
        spans = None
        if passages is not None:
            offsets = [tuple(pair) for pair in encoded["offset_mapping"][0].tolist()]
            passages = as_passages(passages)
            start = _carrier_start(prompt, text, passages)
            try:
                spans = locate_passages(text, offsets, passages, question=question, search_from=start)
            except PassageNotFoundError as error:
                if require_spans:
                    raise
                logger.info("answering without passage spans (no guided setting needs them): %s", error)
        return PreparedPrompt(ids, spans)

    def _check_window(self, prompt_tokens: int, max_new_tokens: int) -> None:
        window = self.context_window
        if window is not None and prompt_tokens + max_new_tokens > window:
            raise ContextWindowError(
                f"the prompt is {prompt_tokens} tokens and {max_new_tokens} new tokens were requested, "
                f"but the context window is {window} tokens; shorten the prompt "
                "(fewer or smaller retrieved chunks) or lower max_new_tokens"
            )

    def stream(
        self,
        prompt: Prompt | PreparedPrompt,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        sra: Setting | None = DEFAULT,
        diagnostics: bool = False,
        tools: Sequence[Any] | None = None,
        passages: Sequence[PassageLike] | None = None,
        question: str | None = None,
        json_schema: Mapping[str, Any] | None = None,
    ) -> GenerationStream:
        """Start generating; the returned stream yields new text only (never the prompt).

        `passages` are the retrieved passages as they appear in the prompt (`Passage`s with their
        rank, relevance weight and label; or texts, or (text, weight[, label]) tuples): their
        token spans, and the question's (`question`'s text where it follows the passages, else
        what follows the last passage), reach the prefill, where a guided SRA setting uses them.
        Only a guided setting needs them: a passage not found in the prompt is a
        `PassageNotFoundError` then, and otherwise the call goes on without spans. A
        `PreparedPrompt` (from `prepare`) brings its spans along.

        A per-call `sra` on a model that was never patched patches it once, inactive (its default
        stays the stock attention), so that each call's setting is private to that call.

        `json_schema` (a JSON Schema) constrains the reply to a JSON document it accepts
        (`structured`): valid whatever the model. The grammar ends it, so `stop` does not apply;
        a reply that reaches `max_new_tokens` first raises `structured.IncompleteJSONError`.
        """
        if sra is not DEFAULT:
            check_config(sra, self.model)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature}, {top_p}")
        if isinstance(stop, str):
            stop = [stop]
        setting = self.sra_in_force(sra)
        guided = setting is not None and setting.needs_spans
        if isinstance(prompt, PreparedPrompt):
            if passages is not None or question is not None or tools:
                raise ValueError("a PreparedPrompt already holds its passages, question and tools; pass none")
            self._check_window(prompt.length, max_new_tokens)
        else:
            prompt = self.prepare(
                prompt,
                max_new_tokens=max_new_tokens,
                tools=tools,
                passages=passages,
                question=question,
                require_spans=guided,
            )
        input_ids, spans = prompt.input_ids.to(self.model.device), prompt.spans
        if guided and spans is None:
            raise ValueError(
                "guided SRA needs the prompt's passages: pass passages=[...] (their texts as they "
                "appear in the prompt, optionally with relevance weights)"
            )
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        outcome = _Outcome()
        options: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": max_new_tokens,
            "streamer": streamer,
            "pad_token_id": self.tokenizer.pad_token_id,
            "stopping_criteria": StoppingCriteriaList([_Cancelled(cancel)]),
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            options.update(temperature=temperature, top_p=top_p)
        else:  # greedy: clear sampling defaults a model's generation config may carry
            options.update(temperature=None, top_p=None, top_k=None)
        if json_schema is not None:  # the grammar ends the reply: no stop string may cut it
            stop = None
            vocab = self.model.get_output_embeddings().weight.shape[0]
            grammar, eos = json_grammar(json_schema), eos_ids(self.model)
            held = GrammarLogitsProcessor(grammar, self.tokenizer, vocab, input_ids.shape[1], eos)
            options["logits_processor"] = LogitsProcessorList([held])
        if stop:
            options["stopping_criteria"].append(_StopStrings(self.tokenizer, stop, input_ids.shape[1]))

        def work() -> None:
            recorder = Diagnostics() if diagnostics else None
            # the call's whole state, entered once (`engine.call`); what this call does not give
            # (spans, a recorder) stays the caller's, carried into this thread by copy_context
            given: dict[str, Any] = {}
            if spans is not None:
                given["spans"] = batch_spans(spans)
            if recorder is not None:
                given["recorder"] = recorder
            try:
                call = within(**given) if sra is DEFAULT else sra_call(self.model, sra, **given)
                with call, torch.inference_mode():
                    outcome.ids = self.model.generate(**options)
                outcome.diagnostics = _summary(recorder, spans) if recorder else None
            except BaseException as error:  # handed to the consumer, who re-raises it
                outcome.error = error
                streamer.end()

        worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True)
        worker.start()
        constrained = max_new_tokens if json_schema is not None else None
        chunks = self._chunks(streamer, worker, outcome, cancel, stop or (), input_ids.shape[1], constrained)
        return GenerationStream(chunks, outcome, cancel, worker, setting)

    def _chunks(
        self,
        streamer: TextIteratorStreamer,
        worker: threading.Thread,
        outcome: _Outcome,
        cancel: threading.Event,
        stop: Sequence[str],
        prompt_length: int,
        constrained: int | None,
    ) -> Iterator[str]:
        """The new text, cut at the stop strings. `constrained`: the token limit of a reply held to
        a JSON schema, which is an error to reach (the document would be cut short)."""
        stops = _StopFilter(stop)
        try:
            for chunk in streamer:
                text = stops.push(chunk)
                if text:
                    yield text
                if stops.stopped:
                    break
            if not stops.stopped and (tail := stops.flush()):
                yield tail
        finally:
            cancel.set()
            worker.join()
        if outcome.error is not None:
            raise outcome.error
        new_ids = outcome.ids[0, prompt_length:]
        ended = stops.stopped or (len(new_ids) > 0 and int(new_ids[-1]) in eos_ids(self.model))
        outcome.usage = Usage(prompt_length, len(new_ids))
        outcome.finish_reason = "stop" if ended else "length"
        if constrained is not None and not ended:
            raise IncompleteJSONError(
                f"the reply reached max_new_tokens={constrained} before its JSON document was complete; "
                "raise max_new_tokens (max_tokens) for this schema"
            )

    def astream(self, prompt: Prompt, **options: Any) -> AsyncGenerationStream:
        """`stream` for async code: `async for text in generator.astream(prompt)`; same options.
        A worker thread runs it, so the event loop never blocks."""
        return AsyncGenerationStream(lambda: self.stream(prompt, **options))

    def generate(self, prompt: Prompt, **options: Any) -> Generation:
        """Generate to the end; same options as `stream`."""
        stream = self.stream(prompt, **options)
        text = "".join(stream)
        return Generation(text, stream.usage, stream.finish_reason, stream.sra, stream.diagnostics)  # type: ignore[arg-type]
