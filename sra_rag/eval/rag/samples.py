"""RAG benchmark samples: a seeded corpus (`rag_corpus`), the bundled MiniLM + FAISS retriever's
top-k over it, and the prompt the pipeline would build from them under a passage order.

The retriever really chooses: the gold document lands at whatever rank MiniLM gives it, or
outside the top k (a retriever miss, reported apart from reader errors). Prompts are built by
`rag.prompt.build_prompt`, exactly as `RagPipeline` builds them, so a setting that wins here
wins in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...engine.spans import PromptSpans
from ...generation import Generator
from ...rag.chunking import Chunk
from ...rag.embedding import Embedder
from ...rag.order import order_passages
from ...rag.prompt import build_prompt
from ..tasks import Sample, Style
from .corpus import RagCase, make_case

REPLY_PREFIXES = {
    "birthplace": "{name} was born in the town of",
    "workshop": "{name} kept a workshop in the town of",
    "year": "{name} was admitted to the guild in",
}
"""Open the model's reply by restating the question, so the gold answer is its next tokens: the
teacher-forced log-probability then measures the answer, not the reply's format, and greedy
decoding answers at once (as the harness's other tasks do)."""


def reply_prefix(case: RagCase) -> str:
    return REPLY_PREFIXES[case.relation].format(name=case.docs[case.gold_id].title)


@dataclass(frozen=True)
class RagSample:
    """One question over its corpus, with the retriever's ranking (doc ids best first, scores)."""

    case: RagCase
    k: int
    ranked: tuple[tuple[int, float], ...]

    def gold_rank(self, k: int | None = None) -> int | None:
        """The gold document's rank (from 1) among the top `k` (default: all retrieved), or None."""
        ids = [doc_id for doc_id, _ in self.ranked[: k or self.k]]
        return ids.index(self.case.gold_id) + 1 if self.case.gold_id in ids else None

    def record_key(self, setting: str) -> tuple[Any, ...]:
        """The checkpoint key (`records.record_key`) of this question scored under `setting`."""
        return ("rag", self.case.split, self.k, self.case.index, setting)


def documents_for(k: int) -> int:
    """Corpus size for a top-k cell: enough distractors that retrieval is a real choice."""
    return max(40, 2 * k)


def retrieve_samples(
    embedder: Embedder, seed: int, split: str, k: int, count: int, first_index: int = 0
) -> list[RagSample]:
    """`count` seeded cases of the (split, k) cell, each with its top-k by cosine similarity (FAISS)."""
    import faiss

    samples = []
    for index in range(first_index, first_index + count):
        case = make_case(seed, split, index, documents=documents_for(k))
        vectors = embedder.embed([d.text for d in case.docs])
        store = faiss.IndexFlatIP(vectors.shape[1])
        store.add(vectors)
        scores, ids = store.search(embedder.embed([case.question]), k)
        ranked = tuple((int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True))
        samples.append(RagSample(case, k, ranked))
    return samples


@dataclass(frozen=True)
class BuiltPrompt:
    """A sample rendered under one order and top-k, ready to score."""

    sample: Sample  # what `scoring.score_answer` takes
    spans: PromptSpans  # retriever weights
    gold_rank: int | None
    gold_position: int | None  # 0-based slot of the gold passage in the prompt, None on a miss
    passages: int

    def weighted(self, weights: str) -> PromptSpans:
        """The spans with `retriever` (the scores), `oracle` (1 on gold, 0 elsewhere) or `uniform` weights."""
        if weights == "retriever":
            return self.spans
        if weights == "uniform":
            return self.spans.with_weights(None)
        if weights == "oracle":
            return self.spans.with_weights(
                [1.0 if i == self.gold_position else 0.0 for i in range(self.passages)]
            )
        raise ValueError(f"unknown passage weights {weights!r}; choose retriever, oracle or uniform")


def chunks_for(case: RagCase, doc_ids: list[int]) -> list[Chunk]:
    """The documents `doc_ids` of a case as the chunks a pipeline would retrieve, in that order."""
    docs = {d.doc_id: d for d in case.docs}
    return [Chunk(f"doc{i:03d}.md", 0, docs[i].text, 0, len(docs[i].text)) for i in doc_ids]


def build(
    generator: Generator, rag: RagSample, order: str, top_k: int | None, style: Style, gold_only: bool = False
) -> BuiltPrompt:
    """The pipeline's prompt for this sample: the top `top_k` (default: the cell's k) in `order`,
    or with `gold_only` the gold document alone (retrieved or not)."""
    case = rag.case
    k = top_k or rag.k
    ranked = ((case.gold_id, 1.0),) if gold_only else rag.ranked[:k]
    placed = order_passages(ranked, order)
    chunks = chunks_for(case, [doc_id for doc_id, _ in placed])
    # the committed RAG results weighted passages by MiniLM cosine (clamped at 0), kept so that they
    # reproduce; the pipeline and the adapters weight by retrieval rank (passage.rank_weight)
    prompt = build_prompt(generator, case.question, chunks, [max(s, 0.0) for _, s in placed])
    opener = reply_prefix(case) if style == "chat" else f" {reply_prefix(case)}"
    text = generator.render(prompt.messages) + opener
    ids = [doc_id for doc_id, _ in placed]
    position = ids.index(case.gold_id) if case.gold_id in ids else None
    continuation = f" {case.answer}"
    sample = Sample(
        task="rag",
        split=case.split,
        index=case.index,
        target_tokens=rag.k,
        depth=-1.0 if position is None else position / max(len(ids) - 1, 1),
        prompt=text,
        continuation=continuation,
        answer=case.answer,
        prompt_tokens=prompt.length,
        gold_depth=None,
        style=style,
    )
    return BuiltPrompt(sample, prompt.spans, 1 if gold_only else rag.gold_rank(k), position, len(ids))


def rank_counts(samples: list[RagSample]) -> dict[str, int]:
    """How often the gold document was retrieved at each rank (and missed)."""
    ranks = [s.gold_rank() for s in samples]
    counts = {str(r): ranks.count(r) for r in sorted({r for r in ranks if r is not None})}
    counts["missed"] = ranks.count(None)
    return counts
