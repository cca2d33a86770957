"""SRALLM: a local Hugging Face causal LM, SRA-patched, as a LangChain text-completion LLM."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import reduce
from operator import add
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseLLM, LangSmithParams
from langchain_core.outputs import GenerationChunk, LLMResult
from pydantic import ConfigDict

from sra_rag.generation import GenerationStream

from ._base import SRAModelBase


class SRALLM(SRAModelBase, BaseLLM):
    """Text completion over a local Hugging Face causal LM with Scaled ReAttention (sra-rag).

    The prompt string is used as is (no chat template; use `ChatSRA` for instruct models' chat
    format); only the new text comes back. Same per-call options as `ChatSRA`. Each generation's
    `generation_info` holds the finish reason, usage, the SRA setting and the diagnostics summary.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    @property
    def _llm_type(self) -> str:
        return "sra"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return LangSmithParams(ls_model_type="llm", **self._ls_params(stop, kwargs))  # type: ignore[typeddict-item]

    def _info(self, stream: GenerationStream) -> dict[str, Any]:
        return {**self._metadata(stream), "usage": dict(self._usage(stream))}

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        options = self._options(stop, kwargs)
        with self.generator.stream(prompt, **options) as stream:
            for text in stream:
                chunk = GenerationChunk(text=text)
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
        yield GenerationChunk(text="", generation_info=self._info(stream))

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        options = self._options(stop, kwargs)
        generation = self.generator.astream(prompt, **options)
        async for text in generation:
            chunk = GenerationChunk(text=text)
            if run_manager:
                await run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
        assert generation.stream is not None
        yield GenerationChunk(text="", generation_info=self._info(generation.stream))

    def _result(self, generations: list[GenerationChunk]) -> LLMResult:
        """One generation per prompt, plus the summed token usage of the batch."""
        usage = [g.generation_info["usage"] for g in generations if g.generation_info]
        totals = {k: sum(u[k] for u in usage) for k in ("input_tokens", "output_tokens", "total_tokens")}
        return LLMResult(
            generations=[[g] for g in generations],
            llm_output={"model_name": self.model_name, "token_usage": totals},
        )

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        return self._result(
            [reduce(add, self._stream(prompt, stop, run_manager, **kwargs)) for prompt in prompts]
        )

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        generations = []
        for prompt in prompts:
            chunks = [chunk async for chunk in self._astream(prompt, stop, run_manager, **kwargs)]
            generations.append(reduce(add, chunks))
        return self._result(generations)
