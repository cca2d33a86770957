"""Retrieved documents into the prompt, and their spans and scores to the model.

An LCEL RAG chain formats the retriever's `Document`s into the prompt as one string, so the chat
model only sees flat text. `stuff_passages(prompt)` takes the place of the prompt template (and of
the usual `format_docs` step): it puts the documents, in the chosen passage order, into the
prompt's context variable and attaches each one's text, retrieval rank, score and name to the
prompt's last message (`additional_kwargs["sra_passages"]`), where `ChatSRA` finds them (in that
message only: chat history is never searched). Guided SRA then knows where every passage and the
question are; without guided SRA nothing changes but the order, and nothing can fail on passages.

The question may come before or after the context in the prompt: guided SRA acts on the question's
rows where it follows the passages, else on the rows after the last passage. A passage's weight is
its retrieval rank (`sra_rag.engine.spans.rank_weights`), never its raw score: retrievers return documents
best first, and scores come on every scale and in both senses (similarities, distances, reranker
logits, BM25), some missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import BasePromptTemplate, format_document
from langchain_core.runnables import Runnable, RunnableLambda

from sra_rag.engine.spans import rank_weights
from sra_rag.generation import Passage
from sra_rag.rag.order import order_passages
from sra_rag.rag.profile import RagProfile, passage_setting

PASSAGES_KEY = "sra_passages"
"""The message `additional_kwargs` entry that carries the passages: dicts of text, rank, score, label."""
QUESTION_KEY = "sra_question"
"""The message `additional_kwargs` entry that carries the question's text."""
SCORE_KEYS = ("relevance_score", "score")
"""Document metadata reported as the retriever's score (rerankers write `relevance_score`): shown in
the diagnostics, never used as a weight."""


def document_passage(
    document: Document, rank: int, document_prompt: BasePromptTemplate | None = None
) -> dict[str, Any]:
    """One retrieved document as a passage: its text (as `document_prompt` formats it, if given),
    its 1-based retrieval rank, its score if the metadata has one, and a label (its id, else its
    rank) that names it in the diagnostics."""
    score = next((document.metadata[k] for k in SCORE_KEYS if document.metadata.get(k) is not None), None)
    return {
        "text": document.page_content
        if document_prompt is None
        else format_document(document, document_prompt),
        "rank": rank,
        "score": None if score is None else float(score),
        "label": document.id or str(rank),
    }


def to_passages(items: Sequence[Document | str | tuple[Any, ...] | Mapping[str, Any]]) -> list[Passage]:
    """The per-call `passages` option as the engine takes them: Documents (best first: weighted by
    that rank), texts, (text, weight[, label]) tuples (weights >= 0, higher = more relevant), or
    the dicts `stuff_passages` attaches (weighted by the retrieval ranks they carry, among those
    that are there: `sra_rag.engine.spans.rank_weights`)."""
    if isinstance(items, (str, Document)):
        raise TypeError("passages must be a list of documents or texts, not a single one")
    passages: list[Passage] = []
    ranked: list[tuple[int, int]] = []  # (where in `passages`, retrieval rank)
    for position, item in enumerate(items, 1):
        if isinstance(item, Document):
            item = document_passage(item, position)
        if isinstance(item, Mapping):
            ranked.append((len(passages), int(item.get("rank", position))))
            passages.append((item["text"], None, str(item.get("label") or position)))
        elif isinstance(item, (str, tuple)):
            passages.append(item)  # type: ignore[arg-type]
        else:
            raise TypeError(
                f"passage {position - 1} is a {type(item).__name__}; give a Document, a text, or a "
                "(text, score[, label]) tuple"
            )
    for (i, _), weight in zip(ranked, rank_weights([rank for _, rank in ranked]), strict=True):
        text, _, label = passages[i]
        passages[i] = (text, weight, label)
    return passages


def stuff_passages(
    prompt: BasePromptTemplate,
    *,
    order: str | None = None,
    keep: int | None = None,
    profile: RagProfile | str | Path | None = None,
    document_variable_name: str = "context",
    question_variable_name: str | None = "question",
    document_prompt: BasePromptTemplate | None = None,
    separator: str = "\n\n",
) -> Runnable[dict[str, Any], ChatPromptValue]:
    """A chat prompt template that takes the retrieved Documents (best first, as retrievers return
    them) in `document_variable_name` and hands them to `ChatSRA` with the prompt:

    ```python
    chain = {"context": retriever, "question": RunnablePassthrough()} | stuff_passages(prompt) | chat
    ```

    `keep` is how many of the best documents go in (None: all), `order` the passage order
    (`retrieved`, the default, `best_last` or `long_context`, the last being LangChain's own
    `LongContextReorder`); where they are not given, `profile` (a `RagProfile` or the file
    `sra-rag calibrate` wrote) gives the model's measured ones. `question_variable_name` names the
    input whose text is the question, before or after the context (None: whatever follows the last
    passage).
    `document_prompt` formats each document (from its `page_content` and metadata, as in
    LangChain's `create_stuff_documents_chain`); the formatted text is the passage.
    """
    keep, order = passage_setting(profile, keep, order)
    missing = {document_variable_name, question_variable_name} - set(prompt.input_variables) - {None}
    if missing:
        raise ValueError(
            f"the prompt has no variable(s) {sorted(missing)} (its variables: {prompt.input_variables}); "
            "set document_variable_name / question_variable_name to the ones it uses"
        )

    def format_prompt(inputs: dict[str, Any]) -> ChatPromptValue:
        documents = inputs.get(document_variable_name)
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise TypeError(
                f"stuff_passages needs a list of Documents in {document_variable_name!r} (the "
                f"retriever's output), got {type(documents).__name__}"
            )
        if not documents:
            raise ValueError(f"no documents in {document_variable_name!r}: the retriever found nothing")
        passages = [document_passage(d, rank, document_prompt) for rank, d in enumerate(documents[:keep], 1)]
        arranged = order_passages(passages, order)
        value = prompt.invoke({**inputs, document_variable_name: separator.join(p["text"] for p in arranged)})
        if not isinstance(value, ChatPromptValue):
            raise TypeError(
                "stuff_passages needs a chat prompt (ChatPromptTemplate) for ChatSRA; with SRALLM, "
                "pass the documents per call: llm.invoke(text, passages=documents)"
            )
        extra: dict[str, Any] = {PASSAGES_KEY: arranged}
        if question_variable_name is not None:
            extra[QUESTION_KEY] = str(inputs[question_variable_name])
        *before, last = value.messages
        tagged = last.model_copy(update={"additional_kwargs": {**last.additional_kwargs, **extra}})
        return ChatPromptValue(messages=[*before, tagged])

    return RunnableLambda(format_prompt, name="stuff_passages")
