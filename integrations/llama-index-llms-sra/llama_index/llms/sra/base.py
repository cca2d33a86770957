"""SRALLM: a local Hugging Face causal LM, patched with Scaled ReAttention, as a LlamaIndex LLM.

A thin adapter over `sra_rag.generation.Generator`: every method, sync or async, streaming or not,
runs the same path (one generation stream; the non-streaming methods collect it), so stop strings,
usage counts and per-call settings behave identically everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, field_serializer, field_validator
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.schema import MetadataMode, NodeWithScore
from llama_index.core.tools import ToolSelection
from llama_index.core.types import PydanticProgramMode
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from sra_rag.async_stream import iterate_in_thread
from sra_rag.engine.config import PAPER
from sra_rag.engine.passage import Passage, PassageLike, as_passage, ranked_passages
from sra_rag.engine.setting import Setting
from sra_rag.generation import (
    DEFAULT,
    GenerationStream,
    Generator,
    Prompt,
    check_setting,
    describe_setting,
)
from sra_rag.hints import check_known, warn_if_without_sra
from sra_rag.models import BUNDLED_MODEL_NAME, load_model
from sra_rag.rag.profile import SHIPPED, RagProfile, resolve_profile
from sra_rag.tool_calls import ReplyReader, ToolCall, tool_reader, tool_support_error

CALL_OPTIONS = (
    "max_tokens",
    "max_new_tokens",
    "temperature",
    "top_p",
    "stop",
    "sra",
    "diagnostics",
    "passages",
    "question",
    "json_schema",
    "tools",
    "tool_choice",
)
"""Keyword arguments every call accepts; each overrides the field of the same name for that call.
`passages` (retrieved nodes, texts or (text, score[, label]) tuples, as they appear in the prompt)
and `question` (its text) tell guided SRA where they are; `PassageSynthesizer` sends them.
`json_schema` holds the reply to a JSON Schema (`sra_rag.structured`); `structured_predict` sends
its output class's. `tools` (OpenAI-format) and `tool_choice` offer tools through the chat
template (`chat_with_tools` sends them; see `sra_rag.tool_calls`)."""

T = TypeVar("T")
_ROLE_ALIASES = {"chatbot": "assistant", "model": "assistant", "developer": "system"}


class PassagesRequiredError(RuntimeError):
    """A guided SRA setting got no passages. Not a ValueError: LlamaIndex's refining synthesizers
    catch those and answer "Empty Response", which would hide the mistake."""


class RankedNode(NodeWithScore):
    """A node that remembers its place in the retriever's order (1 = best) after a reorder, so
    that its weight follows that rank wherever it ends up in the prompt (`PassageReorder`)."""

    retrieval_rank: int


def node_passages(items: Sequence[NodeWithScore | PassageLike] | None) -> list[Passage] | None:
    """Nodes, `Passage`s, texts or (text, weight[, label]) tuples as passages. A node is its text
    as the prompt shows it, weighed by its retrieval rank among the nodes given (its `RankedNode`
    rank if it has one; a node without one ranks after those, in the order given:
    `sra_rag.engine.passage.ranked_passages`, since a filter or reranker after `PassageReorder`
    may have dropped some), and labelled by its id. The node's score is never the weight: vector
    stores return similarities or distances (FAISS over `IndexFlatL2`: lower is better),
    rerankers logits, some nodes none at all."""
    if items is None:
        return None
    if isinstance(items, (str, NodeWithScore)):
        raise TypeError("passages must be a list of nodes or texts, not a single one")
    passages = [
        None if isinstance(item, NodeWithScore) else as_passage(item, i) for i, item in enumerate(items)
    ]
    nodes = [(i, item) for i, item in enumerate(items) if isinstance(item, NodeWithScore)]
    weighed = ranked_passages(
        [
            (
                node.node.get_content(metadata_mode=MetadataMode.LLM),
                node.retrieval_rank if isinstance(node, RankedNode) else None,
                node.node.node_id,
            )
            for _, node in nodes
        ]
    )
    for (i, _), passage in zip(nodes, weighed, strict=True):
        passages[i] = passage
    return passages  # type: ignore[return-value]


def _held_to(output_cls: type[Any], llm_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The call options of a structured prediction: its output class's JSON Schema, held to."""
    return {"json_schema": output_cls.model_json_schema(), **(llm_kwargs or {})}


@dataclass(frozen=True)
class _Piece:
    """One step of a generation: the new text, the text so far, and (last step only) the report."""

    delta: str
    text: str
    raw: dict[str, Any] | None = None
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def summary(self) -> dict[str, Any]:
        """The flat part of the report, for `additional_kwargs`."""
        if self.raw is None:
            return {}
        sra = self.raw["sra"]
        return {
            **self.raw["usage"],
            "finish_reason": self.raw["finish_reason"],
            "sra_policy": None if sra is None else sra["policy"],
        }

    def completion(self, streaming: bool) -> CompletionResponse:
        return CompletionResponse(
            text=self.text,
            delta=self.delta if streaming else None,
            raw=self.raw,
            additional_kwargs=self.summary,
        )

    def chat(self, streaming: bool) -> ChatResponse:
        calls = {
            "tool_calls": [_openai_call(c) for c in self.tool_calls if c.valid],
            "invalid_tool_calls": [c.arguments for c in self.tool_calls if not c.valid],
        }
        made = {key: value for key, value in calls.items() if value}
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=self.text, additional_kwargs=made),
            delta=self.delta if streaming else None,
            raw=self.raw,
            additional_kwargs=self.summary,
        )


def _openai_call(call: ToolCall) -> dict[str, Any]:
    """A tool call as chat messages carry it (OpenAI's form, as LlamaIndex's agents read it)."""
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _arguments(text: str) -> dict[str, Any] | None:
    """A call's arguments as a dict, or None when its text is not a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _template_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """A carried tool call as chat templates take it: its arguments as a dict."""
    function = call["function"]
    arguments = function["arguments"]
    parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    return {"type": "function", "function": {"name": function["name"], "arguments": parsed}}


def _pieces(stream: GenerationStream, reader: ReplyReader | None = None) -> Iterator[_Piece]:
    """Pieces of `stream`, one chunk behind, so the last piece can carry usage and finish reason
    (known only once the stream is exhausted) without an extra empty piece; with a `reader`, the
    reply's content only, and the tool calls it made on the last piece. Closing this iterator
    stops the generation."""
    text = delta = ""
    calls: list[ToolCall] = []
    with stream:
        for chunk in stream:
            if reader is not None:
                chunk, found = reader.feed(chunk)
                calls += found
            if not chunk:
                continue
            if delta:
                yield _Piece(delta, text)
            delta, text = chunk, text + chunk
    if reader is not None:
        tail, found = reader.finish()
        calls += found
        if tail:
            if delta:
                yield _Piece(delta, text)
            delta, text = tail, text + tail
    usage = stream.usage
    raw = {
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        },
        "finish_reason": stream.finish_reason,
        "sra": describe_setting(stream.sra),
        "diagnostics": stream.diagnostics,
    }
    yield _Piece(delta, text, raw, tuple(calls))


def _last(pieces: Iterator[_Piece]) -> _Piece:
    """Collect a generation: its last piece holds the whole text and the report."""
    return deque(pieces, maxlen=1)[0]


async def _alast(pieces: AsyncIterator[_Piece]) -> _Piece:
    async with contextlib.aclosing(pieces):  # type: ignore[type-var]
        async for piece in pieces:
            last = piece
    return last


def _each(pieces: Iterator[_Piece], convert: Callable[[_Piece], T]) -> Iterator[T]:
    """Map `pieces`; closing the result stops the generation at once."""
    with contextlib.closing(pieces):  # type: ignore[type-var]
        for piece in pieces:
            yield convert(piece)


async def _aeach(pieces: AsyncIterator[_Piece], convert: Callable[[_Piece], T]) -> AsyncIterator[T]:
    async with contextlib.aclosing(pieces):  # type: ignore[type-var]
        async for piece in pieces:
            yield convert(piece)


class SRALLM(FunctionCallingLLM):
    """A local Hugging Face causal LM with Scaled ReAttention, for query engines, chat engines and agents.

    Build it from a model and tokenizer you loaded (`SRALLM(model, tokenizer)`), or let it load one:
    `SRALLM()` is the bundled SmolLM2-135M-Instruct with the paper's SRA settings,
    `SRALLM("path/to/model", sra=TransitionConfig())` a local directory or `.gguf` file.
    Every call accepts the options in `CALL_OPTIONS`, which override the fields for that call only.
    """

    model_config = ConfigDict(validate_assignment=True, extra="forbid")

    model_name: str = Field(description="Name reported in the metadata.")
    context_window: int = Field(
        gt=0,
        frozen=True,
        description="Prompt plus new tokens: at most the model's own window; prompts beyond it fail.",
    )
    max_new_tokens: int = Field(default=256, ge=1, description="New tokens per call (num_output).")
    temperature: float = Field(default=0.0, ge=0.0, description="0 decodes greedily.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, description="Nucleus sampling, when temperature > 0.")
    stop: list[str] = Field(
        default_factory=list, description="Stop strings, trimmed from the output; any token length."
    )
    sra: Any = Field(
        default=DEFAULT,
        description="An SRA setting (SRAConfig, TransitionConfig, a guided rule: a sra_rag.GuidedConfig) "
        "or None (baseline) for every call; DEFAULT keeps the model's own setting.",
    )
    diagnostics: bool = Field(
        default=False,
        description="Record what SRA did in each call (response.raw['diagnostics']); costs a sync per layer.",
    )
    pydantic_program_mode: PydanticProgramMode = Field(
        default=PydanticProgramMode.LLM,
        description="Structured prediction holds the reply to the output class's JSON by constrained "
        "decoding (`structured_predict`), whether or not the model can call tools.",
    )

    _generator: Generator = PrivateAttr()
    _tools_error: str | None = PrivateAttr(default=None)
    _profile: RagProfile | None = PrivateAttr(default=None)
    _custom_completion_to_prompt: bool = PrivateAttr(default=False)
    _custom_messages_to_prompt: bool = PrivateAttr(default=False)

    def __init__(
        self,
        model: PreTrainedModel | str | os.PathLike[str] | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        *,
        sra: Setting | None = DEFAULT,
        profile: RagProfile | str | Path | None = SHIPPED,
        context_window: int | None = None,
        model_name: str | None = None,
        load_kwargs: Mapping[str, Any] | None = None,
        completion_to_prompt: Callable[[str], str] | None = None,
        messages_to_prompt: Callable[[Sequence[ChatMessage]], str] | None = None,
        **kwargs: Any,
    ) -> None:
        """`model`: a loaded `PreTrainedModel` (pass its `tokenizer` too), or what `sra_rag.load_model`
        takes: None for the bundled model, a local directory, a `.gguf` file.

        With a loaded model, `sra` applies to this LLM's calls only (the model's own setting is left
        alone); when the LLM loads the model, `sra` (default: the paper's settings) is the model's.
        `profile` is the model's measured RAG setting ("shipped": the package's profile for these
        weights, if one ships; a `RagProfile`, its file, or None): where one applies and `sra` is
        not given, its attention setting is every call's, and `PassageReorder(profile=llm.profile)`
        keeps and orders the nodes as it says. `load_kwargs` go to `load_model` (dtype, device,
        device_map, quantization_config and any other `from_pretrained` argument; a dispatched
        model is never moved).
        """
        check_setting(sra)
        check_known("SRALLM", kwargs, type(self).model_fields)  # before any model loads
        if profile != SHIPPED:  # a missing or bad profile fails before any model loads
            profile = resolve_profile(profile)
        asked = sra
        if isinstance(model, PreTrainedModel):
            if tokenizer is None:
                raise ValueError("pass the model's tokenizer with a loaded model: SRALLM(model, tokenizer)")
            if load_kwargs:
                raise ValueError("load_kwargs are for a model SRALLM loads, not for a loaded model")
            name = model_name or Path(model.config.name_or_path or type(model).__name__).name
        elif model is None or isinstance(model, (str, os.PathLike)):
            if tokenizer is not None:
                raise ValueError("a tokenizer goes with a loaded model, not with a path to load")
            name = model_name or (BUNDLED_MODEL_NAME if model is None else Path(model).name)
            model, tokenizer = load_model(model, sra=PAPER if sra is DEFAULT else sra, **(load_kwargs or {}))
            sra = DEFAULT  # the loaded model carries the setting
        else:
            raise TypeError(
                "model must be a transformers PreTrainedModel, a path, or None for the bundled model, "
                f"got {type(model).__name__}"
            )
        found = resolve_profile(profile, model)
        if asked is DEFAULT and found is not None:
            sra = found.sra  # measured with the profile's passages: applied with them
        warn_if_without_sra("SRALLM", model, sra)  # a model it loaded carries a setting: no warning
        generator = Generator(model, tokenizer, context_window)  # validates a lowered window
        if generator.context_window is None:  # no window in the model's config: enforce the one reported
            generator = Generator(model, tokenizer, DEFAULT_CONTEXT_WINDOW)
        context_window = generator.context_window
        super().__init__(
            model_name=name,
            context_window=context_window,
            sra=sra,
            completion_to_prompt=completion_to_prompt,
            messages_to_prompt=messages_to_prompt,
            **kwargs,
        )
        self._generator = generator
        self._tools_error = tool_support_error(tokenizer, model)
        self._profile = found
        self._custom_completion_to_prompt = completion_to_prompt is not None
        self._custom_messages_to_prompt = messages_to_prompt is not None

    @field_validator("sra")
    @classmethod
    def _check_sra(cls, sra: Any) -> Any:
        return check_setting(sra)

    @property
    def profile(self) -> RagProfile | None:
        """The measured RAG setting that applies to this model (see `__init__`), or None."""
        return self._profile

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, stop: Any) -> Any:
        return [stop] if isinstance(stop, str) else stop

    @field_serializer("sra")
    def _serialize_sra(self, sra: Any) -> dict[str, Any] | str | None:
        return describe_setting(sra)

    @classmethod
    def class_name(cls) -> str:
        return "SRALLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_new_tokens,
            is_chat_model=True,
            is_function_calling_model=self._tools_error is None,
            model_name=self.model_name,
        )

    @property
    def model(self) -> PreTrainedModel:
        return self._generator.model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The model's tokenizer: `Settings.tokenizer = llm.tokenizer.encode` makes LlamaIndex count
        tokens as the model does, so prompts and chat memory fit the context window exactly."""
        return self._generator.tokenizer

    def to_payload(self) -> dict[str, Any]:
        """What callback handlers and instrumentation see: the metadata and the SRA setting in force."""
        return {**super().to_payload(), "sra": describe_setting(self._generator.sra_in_force(self.sra))}

    # -- the one generation path --

    def _options(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(kwargs) - set(CALL_OPTIONS))
        if unknown:
            raise TypeError(f"SRALLM got unknown keyword argument(s) {unknown}; the options: {CALL_OPTIONS}")
        if "max_tokens" in kwargs and "max_new_tokens" in kwargs:
            raise TypeError("pass max_tokens or max_new_tokens, not both")
        stop = kwargs.get("stop", self.stop)
        return {
            "max_new_tokens": kwargs.get("max_tokens", kwargs.get("max_new_tokens", self.max_new_tokens)),
            "temperature": kwargs.get("temperature", self.temperature),
            "top_p": kwargs.get("top_p", self.top_p),
            "stop": [stop] if isinstance(stop, str) else list(stop or ()),
            "sra": check_setting(kwargs.get("sra", self.sra)),
            "diagnostics": kwargs.get("diagnostics", self.diagnostics),
            "passages": node_passages(kwargs.get("passages")),
            "question": kwargs.get("question"),
            "json_schema": kwargs.get("json_schema"),
        }

    def _start(self, prompt: Prompt, kwargs: Mapping[str, Any]) -> Iterator[_Piece]:
        """Validate, encode and start generating now, so bad input fails at the call, not later."""
        kwargs = dict(kwargs)
        tools, tool_choice = kwargs.pop("tools", None) or None, kwargs.pop("tool_choice", None)
        options = self._options(kwargs)
        setting = self._generator.sra_in_force(options["sra"])
        guided = setting is not None and setting.needs_spans
        if guided and options["passages"] is None:
            raise PassagesRequiredError(
                "guided SRA needs the retrieved nodes: build the query engine with "
                "response_synthesizer=PassageSynthesizer(llm), or pass passages=[...] per call"
            )
        reader, offered = tool_reader(self._generator, prompt, tools, tool_choice, options["json_schema"])
        options.update(offered)
        return _pieces(self._generator.stream(prompt, **options), reader)

    async def _astart(self, prompt: Prompt, kwargs: Mapping[str, Any]) -> AsyncIterator[_Piece]:
        pieces = await asyncio.to_thread(self._start, prompt, kwargs)
        return iterate_in_thread(lambda: pieces)

    def _has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _completion_prompt(self, prompt: str, formatted: bool) -> Prompt:
        """The one formatting rule of complete and stream_complete (sync and async).

        `formatted=True`: the text goes to the model as is. Otherwise the prompt (in the
        `query_wrapper_prompt`, if set) becomes the user turn of the chat template, after
        `system_prompt`; with a `completion_to_prompt` of your own, or no chat template, that
        function formats it instead.
        """
        if formatted:
            return prompt
        if self.query_wrapper_prompt is not None:
            prompt = self.query_wrapper_prompt.format(query_str=prompt)
        if self._custom_completion_to_prompt or not self._has_chat_template():
            if self.system_prompt:
                prompt = f"{self.system_prompt}\n\n{prompt}"
            return self.completion_to_prompt(prompt)
        messages = [ChatMessage(role=MessageRole.USER, content=prompt)]
        if self.system_prompt:
            messages.insert(0, ChatMessage(role=MessageRole.SYSTEM, content=self.system_prompt))
        return self._chat_prompt(messages)

    def _chat_prompt(self, messages: Sequence[ChatMessage]) -> Prompt:
        """Messages for the tokenizer's chat template, or your `messages_to_prompt`'s text."""
        if self._custom_messages_to_prompt or not self._has_chat_template():
            return self.messages_to_prompt(messages)
        converted = []
        for message in messages:
            other = [type(b).__name__ for b in message.blocks if not isinstance(b, TextBlock)]
            if other:
                raise ValueError(f"SRALLM takes text messages only, got block(s) {other}")
            role = message.role.value
            turn: dict[str, Any] = {"role": _ROLE_ALIASES.get(role, role), "content": message.content or ""}
            if calls := message.additional_kwargs.get("tool_calls"):
                turn["tool_calls"] = [_template_call(call) for call in calls]
            if call_id := message.additional_kwargs.get("tool_call_id"):
                turn["tool_call_id"] = call_id
            converted.append(turn)
        return converted

    # -- LlamaIndex's interface --

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The chat call `chat_with_tools` (and the agents) make: the tools through the chat
        template; where a call is required (`tool_required`, or `tool_choice` naming a tool) the
        reply is held to one call's JSON, so it parses (`sra_rag.tool_calls.required_call`)."""
        if self._tools_error is not None:
            raise NotImplementedError(self._tools_error)
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        offered = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        if tool_choice is None and tool_required:
            tool_choice = "required"
        return {"messages": messages, "tools": offered or None, "tool_choice": tool_choice, **kwargs}

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[Any],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Without parallel calls, the first call only (as LlamaIndex's hosted LLMs do)."""
        calls = response.message.additional_kwargs.get("tool_calls")
        if not allow_parallel_tool_calls and calls and len(calls) > 1:
            response.message.additional_kwargs["tool_calls"] = calls[:1]
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The calls the reply made, with their arguments parsed; a call whose arguments are not a
        JSON object is left out (its markup did not parse: `additional_kwargs["invalid_tool_calls"]`)."""
        calls = [
            ToolSelection(tool_id=call["id"], tool_name=call["function"]["name"], tool_kwargs=arguments)
            for call in response.message.additional_kwargs.get("tool_calls") or []
            if (arguments := _arguments(call["function"]["arguments"])) is not None
        ]
        if not calls and error_on_no_tool_call:
            raise ValueError(f"expected a tool call in the reply, got none: {response.message.content!r}")
        return calls

    def structured_predict(
        self, output_cls: type[Any], prompt: Any, llm_kwargs: dict[str, Any] | None = None, **prompt_args: Any
    ) -> Any:
        """LlamaIndex's structured prediction, with the reply held to `output_cls`'s JSON by
        constrained decoding, so it parses every time, on any model."""
        held = _held_to(output_cls, llm_kwargs)
        return super().structured_predict(output_cls, prompt, llm_kwargs=held, **prompt_args)

    async def astructured_predict(
        self, output_cls: type[Any], prompt: Any, llm_kwargs: dict[str, Any] | None = None, **prompt_args: Any
    ) -> Any:
        held = _held_to(output_cls, llm_kwargs)
        return await super().astructured_predict(output_cls, prompt, llm_kwargs=held, **prompt_args)

    def stream_structured_predict(
        self, output_cls: type[Any], prompt: Any, llm_kwargs: dict[str, Any] | None = None, **prompt_args: Any
    ) -> Any:
        """The object as its JSON grows (partial objects, then the whole), held to `output_cls`."""
        held = _held_to(output_cls, llm_kwargs)
        return super().stream_structured_predict(output_cls, prompt, llm_kwargs=held, **prompt_args)

    async def astream_structured_predict(
        self, output_cls: type[Any], prompt: Any, llm_kwargs: dict[str, Any] | None = None, **prompt_args: Any
    ) -> Any:
        held = _held_to(output_cls, llm_kwargs)
        return await super().astream_structured_predict(output_cls, prompt, llm_kwargs=held, **prompt_args)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        pieces = self._start(self._completion_prompt(prompt, formatted), kwargs)
        return _last(pieces).completion(streaming=False)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        pieces = self._start(self._completion_prompt(prompt, formatted), kwargs)
        return _each(pieces, lambda piece: piece.completion(streaming=True))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        pieces = self._start(self._chat_prompt(messages), kwargs)
        return _last(pieces).chat(streaming=False)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        pieces = self._start(self._chat_prompt(messages), kwargs)
        return _each(pieces, lambda piece: piece.chat(streaming=True))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        pieces = await self._astart(self._completion_prompt(prompt, formatted), kwargs)
        return (await _alast(pieces)).completion(streaming=False)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        pieces = await self._astart(self._completion_prompt(prompt, formatted), kwargs)
        return _aeach(pieces, lambda piece: piece.completion(streaming=True))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        pieces = await self._astart(self._chat_prompt(messages), kwargs)
        return (await _alast(pieces)).chat(streaming=False)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        pieces = await self._astart(self._chat_prompt(messages), kwargs)
        return _aeach(pieces, lambda piece: piece.chat(streaming=True))
