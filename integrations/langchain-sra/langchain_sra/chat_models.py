"""ChatSRA: a local Hugging Face chat model, SRA-patched, as a LangChain chat model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import (
    BaseChatModel,
    agenerate_from_stream,
    generate_from_stream,
)
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import ConfigDict

from sra_rag.generation import GenerationStream
from sra_rag.tool_calls import ReplyReader, required_call, tool_reader, tool_support_error

from ._base import SRAModelBase
from .messages import to_chat_dicts
from .passages import PASSAGES_KEY, QUESTION_KEY, to_passages
from .tools import as_chunks


@dataclass
class _Call:
    """One chat call, resolved: the rendered-to-be messages, generation options, tool parsing."""

    messages: list[dict[str, Any]]
    options: dict[str, Any]
    reader: ReplyReader | None

    def split(self, text: str) -> tuple[str, list[Any]]:
        """Content and tool-call chunks in the next piece of model output."""
        if self.reader is None:
            return text, []
        content, calls = self.reader.feed(text)
        return content, as_chunks(calls)

    def rest(self) -> tuple[str, list[Any]]:
        if self.reader is None:
            return "", []
        content, calls = self.reader.finish()
        return content, as_chunks(calls)


def _take_passages(messages: list[BaseMessage], options: dict[str, Any]) -> None:
    """Passages that came with the prompt (`stuff_passages`) into the call's options. Only the
    latest message that carries them counts: earlier ones are chat history."""
    carrier = next((m for m in reversed(messages) if PASSAGES_KEY in m.additional_kwargs), None)
    if carrier is None:
        return
    if options["passages"] is not None:
        raise ValueError(
            "passages came with the prompt (stuff_passages) and as a call option; pass them one way"
        )
    options["passages"] = to_passages(carrier.additional_kwargs[PASSAGES_KEY])
    if options["question"] is None:
        options["question"] = carrier.additional_kwargs.get(QUESTION_KEY)


class ChatSRA(SRAModelBase, BaseChatModel):
    """Chat model over a local Hugging Face causal LM with Scaled ReAttention (sra-rag).

    Messages go through the tokenizer's chat template; only the new text comes back. Generation is
    always streamed underneath (`invoke` collects the stream), so stop strings, usage and metadata
    are the same either way. Per call: `max_tokens`, `temperature`, `top_p`, `stop`, `sra`
    (an `SRAConfig`, a `TransitionConfig`, a guided rule such as `GuidedDispense`, or None for the
    baseline), and `passages`/`question` for guided SRA (in a chain, `stuff_passages(prompt)` sends them).

    ```python
    from langchain_sra import ChatSRA

    chat = ChatSRA.from_model_id(None, max_tokens=64)  # bundled SmolLM2-135M-Instruct, SRA on
    chat.invoke("What is the capital of France?")
    chat.invoke("Same question", sra=None)  # this call without SRA
    ```
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    streaming: bool = False
    """Have `invoke` go through `stream` (LangChain's flag); output is the same either way."""

    @property
    def _llm_type(self) -> str:
        return "sra-chat"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return LangSmithParams(ls_model_type="chat", **self._ls_params(stop, kwargs))  # type: ignore[typeddict-item]

    def get_num_tokens_from_messages(
        self, messages: list[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        """Tokens of the prompt these messages (and tools) make: the chat template, its generation
        prompt included, tokenized as a call would. Never raises for a prompt over the context
        window, so `trim_messages` can use it to make one fit."""
        chat = to_chat_dicts(messages)
        if tools:
            reason = tool_support_error(self.tokenizer, self.model)
            if reason is not None:
                raise NotImplementedError(reason)
            tools = [convert_to_openai_tool(t) for t in tools]
        text = self.generator.render(chat, tools)
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer tools through the chat template; raises NotImplementedError if it cannot render them.

        `tool_choice`: None or "auto" (the model decides), "none" (no tools), or a required call:
        "any"/"required"/True (to any tool), a tool's name or {"type": "function", "function":
        {"name": ...}} (to that tool). A required call is held by constrained decoding to the
        call's JSON and the tool's argument schema (`sra_rag.tool_calls.required_call`), so it
        parses whatever the model's size.
        """
        reason = tool_support_error(self.tokenizer, self.model)
        if reason is not None:
            raise NotImplementedError(reason)
        if tool_choice == "none":
            return self.bind(**kwargs)
        offered = [convert_to_openai_tool(t) for t in tools]
        required_call(tool_choice, offered)  # a choice that names no tool fails here, not at the call
        if tool_choice in (None, "auto"):
            return self.bind(tools=offered, **kwargs)
        return self.bind(tools=offered, tool_choice=tool_choice, **kwargs)

    def with_structured_output(
        self,
        schema: Mapping[str, Any] | type | None = None,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Replies that parse as `schema` (a Pydantic model, a TypedDict or a JSON Schema) every
        time, on any model: the reply is constrained token by token to the schema's JSON
        (`sra_rag.structured`), so no chat-template tool support is needed. `"function_calling"`
        is served the same way (a local model has no other channel to hold to a schema);
        `"json_mode"` constrains to any JSON object (describe the keys in the prompt). Every SRA
        setting and `passages` work as in any call. With `include_raw`, a dict of the message
        (`raw`), the parsed value (`parsed`) and any `parsing_error`. The schema is always enforced
        exactly, whatever `strict` says. A reply needs the tokens its JSON takes: one that reaches
        `max_tokens` first is an error saying so, never a cut document.
        """
        if kwargs:
            raise TypeError(f"with_structured_output got unsupported argument(s) {sorted(kwargs)}")
        if method not in ("json_schema", "function_calling", "json_mode"):
            raise ValueError(
                f"method={method!r} is not supported: 'json_schema' or 'function_calling' (constrained "
                "to the schema) or 'json_mode' (constrained to a JSON object)"
            )
        if schema is None and method != "json_mode":
            raise ValueError(
                f"method={method!r} needs a schema: a Pydantic model, a TypedDict or a dict "
                "(method='json_mode' takes None: any JSON object)"
            )
        described = None if schema is None else convert_to_json_schema(schema)
        constraint = {"type": "object"} if method == "json_mode" else described
        llm = self.bind(
            json_schema=constraint,
            ls_structured_output_format={"kwargs": {"method": method}, "schema": described},
        )
        pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks([unparsed], exception_key="parsing_error")

    def _prepare(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> _Call:
        kwargs = dict(kwargs)
        tools = kwargs.pop("tools", None) or None
        tool_choice = kwargs.pop("tool_choice", None)
        options = self._options(stop, kwargs)
        _take_passages(messages, options)
        chat = to_chat_dicts(messages)
        reader, offered = tool_reader(self.generator, chat, tools, tool_choice, options["json_schema"])
        options.update(offered)
        return _Call(chat, options, reader)

    def _chunk(self, call: _Call, text: str) -> ChatGenerationChunk | None:
        content, calls = call.split(text)
        if not content and not calls:
            return None
        return ChatGenerationChunk(message=AIMessageChunk(content=content, tool_call_chunks=calls))

    def _last_chunk(self, call: _Call, stream: GenerationStream) -> ChatGenerationChunk:
        content, calls = call.rest()
        message = AIMessageChunk(
            content=content,
            tool_call_chunks=calls,
            usage_metadata=self._usage(stream),
            response_metadata=self._metadata(stream),
            chunk_position="last",
        )
        return ChatGenerationChunk(message=message)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        call = self._prepare(messages, stop, kwargs)
        with self.generator.stream(call.messages, **call.options) as stream:
            for text in stream:
                if chunk := self._chunk(call, text):
                    if run_manager:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
        last = self._last_chunk(call, stream)
        if run_manager:
            run_manager.on_llm_new_token(last.text, chunk=last)
        yield last

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        call = self._prepare(messages, stop, kwargs)
        generation = self.generator.astream(call.messages, **call.options)
        async for text in generation:
            if chunk := self._chunk(call, text):
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
        assert generation.stream is not None
        last = self._last_chunk(call, generation.stream)
        if run_manager:
            await run_manager.on_llm_new_token(last.text, chunk=last)
        yield last

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
