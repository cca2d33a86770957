"""Retrieved documents into the prompt, and their spans and scores to the model.

An LCEL RAG chain formats the retriever's `Document`s into the prompt as one string, so the chat
model only sees flat text. `stuff_passages(prompt)` takes the place of the prompt template (and of
the usual `format_docs` step): it puts the documents, in the chosen passage order, into the
prompt's context variable and attaches each one as a `Passage` (its text, retrieval rank, weight
and name, as JSON) to the prompt's last message (`additional_kwargs["sra_passages"]`), where
`ChatSRA` finds them (in that message only: chat history is never searched). Guided SRA then knows
where every passage and the question are; without guided SRA nothing changes but the order, and
nothing can fail on passages.

The question may come before or after the context in the prompt: guided SRA acts on the question's
rows where it follows the passages, else on the rows after the last passage. A passage's weight is
its retrieval rank (`sra_rag.engine.passage.rank_weights`), never its raw score: retrievers return
documents best first, and scores come on every scale and in both senses (similarities, distances,
reranker logits, BM25), some missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.prompt_values import ChatPromptValue
from langchain_core.prompts import BasePromptTemplate, format_document
from langchain_core.runnables import Runnable, RunnableLambda

from sra_rag.engine.passage import Passage, PassageLike, as_passage, ranked_passages
from sra_rag.rag.order import order_passages
from sra_rag.rag.profile import RagProfile, passage_setting

PASSAGES_KEY = "sra_passages"
"""The message `additional_kwargs` entry that carries the passages: `Passage.to_dict()`s, so the
message stays JSON for the stores and servers that keep or send it."""
QUESTION_KEY = "sra_question"
"""The message `additional_kwargs` entry that carries the question's text."""


def document_text(document: Document, document_prompt: BasePromptTemplate | None = None) -> str:
    """A document's text as the prompt shows it (as `document_prompt` formats it, if given)."""
    return document.page_content if document_prompt is None else format_document(document, document_prompt)


def to_passages(items: Sequence[Document | PassageLike]) -> list[Passage]:
    """The per-call `passages` option as the engine takes them: Documents (best first: each
    weighed by its place among them, labelled by its id), `Passage`s or the dicts `stuff_passages`
    attaches (weighed by the retrieval ranks they carry, among those that are there; a document
    without one ranks after them: `sra_rag.engine.passage.ranked_passages`), texts, or
    (text, weight[, label]) tuples (weights >= 0, higher = more relevant)."""
    if isinstance(items, (str, Document)):
        raise TypeError("passages must be a list of documents or texts, not a single one")
    given: list[Passage] = []
    ranked: list[tuple[int, Passage]] = []  # (where in `given`, a passage weighed by its rank)
    for position, item in enumerate(items, 1):
        if isinstance(item, Document):
            passage = Passage(document_text(item), label=item.id or str(position))
        elif isinstance(item, (Passage, Mapping, str, tuple)):
            passage = as_passage(item, position - 1)
        else:
            raise TypeError(
                f"passage {position - 1} is a {type(item).__name__}; give a Document, a Passage, a "
                "text, or a (text, weight[, label]) tuple"
            )
        if isinstance(item, (Document, Mapping)) or passage.rank is not None:
            ranked.append((len(given), passage))
        given.append(passage)
    weighed = ranked_passages([(p.text, p.rank, p.label) for _, p in ranked])
    for (i, _), passage in zip(ranked, weighed, strict=True):
        given[i] = passage
    return given


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
        kept = [
            (document_text(d, document_prompt), rank, d.id or str(rank))
            for rank, d in enumerate(documents[:keep], 1)
        ]
        arranged = ranked_passages(order_passages(kept, order))
        value = prompt.invoke({**inputs, document_variable_name: separator.join(p.text for p in arranged)})
        if not isinstance(value, ChatPromptValue):
            raise TypeError(
                "stuff_passages needs a chat prompt (ChatPromptTemplate) for ChatSRA; with SRALLM, "
                "pass the documents per call: llm.invoke(text, passages=documents)"
            )
        extra: dict[str, Any] = {PASSAGES_KEY: [p.to_dict() for p in arranged]}
        if question_variable_name is not None:
            extra[QUESTION_KEY] = str(inputs[question_variable_name])
        *before, last = value.messages
        tagged = last.model_copy(update={"additional_kwargs": {**last.additional_kwargs, **extra}})
        return ChatPromptValue(messages=[*before, tagged])

    return RunnableLambda(format_prompt, name="stuff_passages")
