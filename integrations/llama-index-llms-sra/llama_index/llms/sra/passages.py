"""Retrieved nodes to the model: passage order as a node postprocessor, and a response synthesizer
that hands every node's span and score to `SRALLM`.

A query engine stuffs its nodes into one prompt string, so the LLM only sees flat text.
`PassageSynthesizer` builds that prompt itself (the nodes' texts, unchanged, in the order they
arrive) and calls the LLM with `passages=` and `question=`, so guided SRA knows where every node and
the question are (the question may come before or after the context in the template).
`PassageReorder` sets the order beforehand, next to LlamaIndex's own `LongContextReorder` (the same
permutation as `order="long_context"` for similarity scores).

Ranks, not scores: retrievers and rerankers hand nodes over best first, while `node.score` may be a
similarity, a distance (FAISS over `IndexFlatL2`: lower is better), a logit, or missing. So the
order the nodes arrive in is their rank; `PassageReorder` keeps it on each node (`RankedNode`), and
a passage's weight follows that rank (`sra_rag.engine.passage.rank_weight`), never its raw score. Put
`PassageReorder` where you would put `LongContextReorder`: the latter sorts by score, which inverts
a distance store's order.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from llama_index.core.base.response.schema import RESPONSE_TYPE
from llama_index.core.bridge.pydantic import Field, field_validator, model_validator
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.default_prompt_selectors import DEFAULT_TEXT_QA_PROMPT_SEL
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.response_synthesizers.base import BaseSynthesizer, QueryTextType
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.types import RESPONSE_TEXT_TYPE

from sra_rag.rag.order import DEFAULT_ORDER, check_order, order_passages
from sra_rag.rag.profile import passage_setting

from .base import SRALLM, RankedNode, node_passages

_NODES: ContextVar[Sequence[NodeWithScore] | None] = ContextVar("sra_synthesized_nodes", default=None)
"""The nodes of the synthesis in progress (their scores and ids; `get_response` sees only texts)."""


@contextmanager
def _synthesizing(nodes: Sequence[NodeWithScore]) -> Iterator[None]:
    token = _NODES.set(nodes)
    try:
        yield
    finally:
        _NODES.reset(token)


class PassageReorder(BaseNodePostprocessor):
    """Keeps the best `keep` retrieved nodes (all by default) and puts them in a passage order:
    `retrieved` (best first, the default), `best_last` (the best node just before the question) or
    `long_context` (LlamaIndex's `LongContextReorder`). `profile` (a `RagProfile` or the file
    `sra-rag calibrate` wrote) gives the model's measured keep and order where they are not given.
    The nodes' rank is the order they arrive in (retrievers and rerankers return the best first,
    whatever their scores mean); each node comes back as a `RankedNode` that keeps it."""

    order: str = Field(default=DEFAULT_ORDER, description="retrieved, best_last or long_context")
    keep: int | None = Field(default=None, ge=1, description="how many of the best nodes to keep (None: all)")

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data: Any) -> Any:
        if isinstance(data, dict) and "profile" in data:
            data = dict(data)
            keep, order = passage_setting(data.pop("profile"), data.get("keep"), data.get("order"))
            data.update(keep=keep, order=order)
        return data

    @field_validator("order")
    @classmethod
    def _known(cls, order: str) -> str:
        check_order(order)
        return order

    @classmethod
    def class_name(cls) -> str:
        return "PassageReorder"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if all(isinstance(n, RankedNode) for n in nodes):  # reordered before: back to their rank
            ranked = sorted(nodes, key=lambda n: n.retrieval_rank)  # type: ignore[attr-defined]
        else:
            ranked = [
                RankedNode(node=n.node, score=n.score, retrieval_rank=rank) for rank, n in enumerate(nodes, 1)
            ]
        return order_passages(ranked[: self.keep], self.order)


class PassageSynthesizer(BaseSynthesizer):
    """Answers from all retrieved nodes in one prompt (like `simple_summarize`, without truncation:
    a prompt over the context window is an error, never a silently cut passage), and passes each
    node's text, score and id to the LLM, so a guided SRA setting can use them:

    ```python
    engine = index.as_query_engine(llm=llm, response_synthesizer=PassageSynthesizer(llm))
    ```
    """

    def __init__(
        self,
        llm: SRALLM,
        text_qa_template: BasePromptTemplate | None = None,
        streaming: bool = False,
        separator: str = "\n\n",
    ) -> None:
        if not isinstance(llm, SRALLM):
            raise TypeError(
                f"PassageSynthesizer needs an SRALLM (it passes the passages), got {type(llm).__name__}"
            )
        super().__init__(llm=llm, streaming=streaming)
        self._text_qa_template = text_qa_template or DEFAULT_TEXT_QA_PROMPT_SEL
        self._separator = separator

    def _get_prompts(self) -> PromptDictType:
        return {"text_qa_template": self._text_qa_template}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        if "text_qa_template" in prompts:
            self._text_qa_template = prompts["text_qa_template"]

    def synthesize(
        self,
        query: QueryTextType,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> RESPONSE_TYPE:
        with _synthesizing(nodes):
            return super().synthesize(query, nodes, additional_source_nodes, **response_kwargs)

    async def asynthesize(
        self,
        query: QueryTextType,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> RESPONSE_TYPE:
        with _synthesizing(nodes):
            return await super().asynthesize(query, nodes, additional_source_nodes, **response_kwargs)

    def _call(self, query_str: str, text_chunks: Sequence[str]) -> tuple[Any, dict[str, Any]]:
        """The chat messages and the call's options: the passages are the chunks, with the ranks and
        ids of the nodes they came from when `synthesize` gave them."""
        nodes = _NODES.get()
        passages = node_passages(
            nodes if nodes is not None and len(nodes) == len(text_chunks) else text_chunks
        )
        messages = self._text_qa_template.format_messages(
            llm=self._llm, context_str=self._separator.join(text_chunks), query_str=query_str
        )
        return messages, {"passages": passages, "question": query_str}

    def get_response(
        self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any
    ) -> RESPONSE_TEXT_TYPE:
        messages, options = self._call(query_str, text_chunks)
        if self._streaming:
            return (r.delta or "" for r in self._llm.stream_chat(messages, **options, **response_kwargs))
        return self._llm.chat(messages, **options, **response_kwargs).message.content or ""

    async def aget_response(
        self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any
    ) -> RESPONSE_TEXT_TYPE:
        messages, options = self._call(query_str, text_chunks)
        if self._streaming:
            stream = await self._llm.astream_chat(messages, **options, **response_kwargs)
            return _deltas(stream)
        return (await self._llm.achat(messages, **options, **response_kwargs)).message.content or ""


async def _deltas(stream: AsyncGenerator[Any, None]) -> AsyncGenerator[str, None]:
    async for response in stream:
        yield response.delta or ""
