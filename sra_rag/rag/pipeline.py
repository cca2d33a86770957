"""Retrieve, stuff, answer with SRA: the framework-free RAG pipeline."""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.attention_share import record_attention_share
from ..engine.passage import rank_weights
from ..engine.patch import check_config
from ..engine.setting import Setting
from ..generation import DEFAULT, Generator, Usage
from ..models import load_model
from .chunking import Chunk
from .embedding import Embedder
from .order import check_order, order_passages
from .profile import DEFAULT_KEEP, SHIPPED, RagProfile, passage_setting, resolve_profile
from .prompt import RagPrompt, build_prompt
from .prompt_layout import DEFAULT_LAYOUT, check_layout
from .store import RagIndex, load_index


@dataclass(frozen=True)
class Source:
    number: int  # as cited in the prompt, from 1
    chunk: Chunk
    score: float  # cosine similarity to the question
    attention: float | None = None  # the question's mean attention on this source, if measured
    rank: int = 1  # the retriever's rank, from 1 (best)


@dataclass(frozen=True)
class RagAnswer:
    question: str
    answer: str
    sources: list[Source]
    sra: Setting | None  # the setting the answer was generated with
    prompt_tokens: int
    usage: Usage
    seconds: float
    diagnostics: dict[str, Any] | None


def place_passages(
    generator: Generator,
    question: str,
    retrieved: list[tuple[Chunk, float]],
    order: str,
    layout: str = DEFAULT_LAYOUT,
) -> tuple[RagPrompt, list[tuple[Chunk, float, int]]]:
    """The prompt over `retrieved` (best first) in `order` and `layout`, each source weighted by
    its retrieval rank; and the sources in prompt order as (chunk, score, retriever rank)."""
    ranked = [(c, s, rank) for rank, (c, s) in enumerate(retrieved, start=1)]
    placed = order_passages(ranked, order)
    ranks = [rank for _, _, rank in placed]
    chunks = [c for c, _, _ in placed]
    return build_prompt(generator, question, chunks, rank_weights(ranks), layout, ranks), placed


class RagPipeline:
    """One index, one embedder, one generator; `ask` answers with the pipeline's setting.

    The best `keep` chunks are retrieved and placed in the prompt in `order` (`rag.order`) and `prompt`
    layout (`rag.prompt_layout`), and answered with the `sra` setting. Where the caller leaves
    them out, the `profile` decides all four, as they were measured together (a `RagProfile`, its
    JSON file, or "shipped": the package's measured profile for this model's weights, if it ships
    one; None: no profile), else 16, `retrieved`, `sources_first` and the model's own SRA setting.
    Every call hands the sources' spans and relevance weights (by retrieval rank) to the model, so
    a guided SRA setting can use them. An answer ends at the `stop` strings (None: at the end of
    its line for a model without a chat template, `prompt.COMPLETION_STOPS`; a chat model's at
    the end of its turn).
    """

    def __init__(
        self,
        index: RagIndex,
        embedder: Embedder,
        generator: Generator,
        *,
        keep: int | None = None,
        max_new_tokens: int = 48,
        order: str | None = None,
        prompt: str | None = None,
        sra: Setting | None = DEFAULT,
        profile: RagProfile | str | Path | None = SHIPPED,
        stop: Sequence[str] | None = None,
        top_k: int | None = None,
    ) -> None:
        if top_k is not None:
            warnings.warn("RagPipeline(top_k=...) is now keep=...", DeprecationWarning, stacklevel=2)
            keep = top_k if keep is None else keep
        if isinstance(stop, str):
            raise TypeError(f"stop must be a list of stop strings, not one string: use [{stop!r}]")
        if index.embedding_model != embedder.name or index.dimension != embedder.dimension:
            raise ValueError(
                f"the index was built with {index.embedding_model!r} ({index.dimension} dimensions), "
                f"the embedder is {embedder.name!r} ({embedder.dimension}); use the same model"
            )
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        if prompt is not None:
            check_layout(prompt)
        if sra is not DEFAULT:
            check_config(sra)
        self.profile = resolve_profile(profile, generator.model)
        keep, self.order = passage_setting(self.profile, keep, order)
        self.keep = keep or DEFAULT_KEEP
        self.layout = prompt or (self.profile.prompt if self.profile else DEFAULT_LAYOUT)
        # the setting `ask` uses (DEFAULT: the model's own)
        self.sra = self.profile.sra if sra is DEFAULT and self.profile else sra
        self.index = index
        self.embedder = embedder
        self.generator = generator
        self.max_new_tokens = max_new_tokens
        self.stop = None if stop is None else tuple(stop)

    @classmethod
    def from_index(
        cls,
        index: str | Path | RagIndex,
        model: str | Path | None = None,
        *,
        sra: Setting | None = DEFAULT,
        load_kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> RagPipeline:
        """A saved index (its folder, or one already loaded), the bundled embedder and a model
        (None: the bundled SmolLM2); `load_kwargs` go to `load_model` (`device_map`, `dtype`,
        `quantization_config`, ...). `sra` (DEFAULT: the profile's, else load_model's) is the
        pipeline's setting."""
        if options.get("order") is not None:
            check_order(options["order"])
        if options.get("prompt") is not None:
            check_layout(options["prompt"])
        if options.get("profile", SHIPPED) != SHIPPED:  # a missing or bad profile fails before loading
            options["profile"] = resolve_profile(options["profile"])
        if not isinstance(index, RagIndex):
            index = load_index(index)  # first: a missing or damaged index fails before any model loads
        embedder = Embedder()
        load = dict(load_kwargs or {})
        if sra is not DEFAULT:
            load["sra"] = sra
        loaded, tokenizer = load_model(model, **load)
        return cls(index, embedder, Generator(loaded, tokenizer), sra=sra, **options)

    def retrieve(self, question: str) -> list[tuple[Chunk, float]]:
        """The best `keep` chunks for `question`, best first."""
        return self.index.search(self.embedder.embed([question]), self.keep)[0]

    def prompt(self, question: str) -> tuple[RagPrompt, list[tuple[Chunk, float, int]]]:
        """The prompt, and its sources in prompt order as (chunk, score, retriever rank)."""
        return place_passages(self.generator, question, self.retrieve(question), self.order, self.layout)

    def ask(self, question: str, *, sra: Setting | None = DEFAULT, attention: bool = False) -> RagAnswer:
        """Answer from the retrieved sources with `sra` (DEFAULT: the pipeline's setting); with
        `attention`, measure the question's attention on each source during the same prefill pass
        (SRA rules included)."""
        if sra is not DEFAULT:
            check_config(sra)
        prompt, retrieved = self.prompt(question)
        return self._answer(question, prompt, retrieved, self.sra if sra is DEFAULT else sra, attention)

    def compare(self, question: str, sra: Setting | None = DEFAULT) -> tuple[RagAnswer, RagAnswer]:
        """The same retrieved prompt answered without SRA and with it (the model's setting by
        default), each with the attention each source received."""
        setting = self.generator.sra_in_force(sra)
        if setting is None:
            raise ValueError("compare needs an SRA setting: the model has SRA off and none was given")
        check_config(setting)
        prompt, retrieved = self.prompt(question)
        baseline = self._answer(question, prompt, retrieved, None, True)
        return baseline, self._answer(question, prompt, retrieved, setting, True)

    def _answer(
        self,
        question: str,
        prompt: RagPrompt,
        retrieved: list[tuple[Chunk, float, int]],
        sra: Setting | None,
        attention: bool,
    ) -> RagAnswer:
        setting = self.generator.sra_in_force(sra)
        start = time.perf_counter()
        # the generator patches the model (SRA off) when given an explicit setting: the share
        # probe reads the patched attention path, so always pass one
        stop = prompt.stops if self.stop is None else self.stop
        options = dict(max_new_tokens=self.max_new_tokens, sra=setting, diagnostics=True, stop=stop)
        if attention:
            with record_attention_share(prompt.source_spans, prompt.question_rows) as share:
                result = self.generator.generate(prompt.prepared, **options)
            shares: list[float | None] = list(share.by_span())
        else:
            result = self.generator.generate(prompt.prepared, **options)
            shares = [None] * len(retrieved)
        sources = [
            Source(i, chunk, score, a, rank)
            for i, ((chunk, score, rank), a) in enumerate(zip(retrieved, shares, strict=True), start=1)
        ]
        return RagAnswer(
            question,
            result.text.strip(),
            sources,
            setting,
            prompt.length,
            result.usage,
            time.perf_counter() - start,
            result.diagnostics,
        )
