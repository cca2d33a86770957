"""The framework-free RAG pipeline: documents, chunks, a real FAISS index on disk, retrieval, prompts."""

import copy
import itertools
import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from sra_rag import GuidedFim
from sra_rag.engine.config import PAPER
from sra_rag.engine.passage import rank_weight
from sra_rag.generation import Generator
from sra_rag.rag import (
    ChunkingParams,
    CorpusError,
    Document,
    Embedder,
    IndexStoreError,
    RagPipeline,
    build_index,
    build_prompt,
    chunk_document,
    demo_corpus_dir,
    demo_questions,
    index_folder,
    load_documents,
    load_index,
    order_passages,
    save_index,
)
from sra_rag.rag import store as store_module
from sra_rag.rag.profile import shipped_profile

# a demo question the bundled model answers with and without SRA (the pipeline, not accuracy, is tested)
ANSWERED = "q02"

FACTS = {
    "harbour.md": "# Harbour\n\nThe Quillon harbour master is Teodora Vask. " + "Boats come and go. " * 60,
    "bakery.txt": "The Minnow Street bakery opens at 5:40 every morning. " + "Bread is baked daily. " * 60,
    "notes/library.md": "# Library\n\nThe library's rarest book is the Amberlin Codex. "
    + "Quiet please. " * 60,
}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def _corpus(folder: Path, files: dict[str, str] = FACTS) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_documents_are_read_recursively_with_their_hashes(tmp_path):
    (tmp_path / "skip.pdf").write_bytes(b"%PDF")
    (tmp_path / "blank.md").write_text("  \n")
    documents = load_documents(_corpus(tmp_path))
    assert [d.source for d in documents] == ["bakery.txt", "harbour.md", "notes/library.md"]
    assert len({d.sha256 for d in documents}) == 3


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "has no non-empty .txt or .md files"),
    ],
    ids=["missing", "empty"],
)
def test_bad_corpus_folders_are_clear_errors(tmp_path, setup, message):
    with pytest.raises(CorpusError, match=message):
        load_documents(setup(tmp_path))


def test_a_file_that_is_not_text_is_a_clear_error(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt' is not UTF-8 text"):
        load_documents(tmp_path)


def test_the_embedding_model_loads_only_once_the_corpus_is_read(tmp_path):
    embedder = Embedder()
    with pytest.raises(CorpusError, match="does not exist"):
        index_folder(tmp_path / "missing", tmp_path / "index", embedder)
    assert embedder._model is None  # a bad corpus cost no model load
    assert embedder.dimension == 384 and embedder._model is not None


def test_an_unreadable_file_is_a_clear_error(tmp_path, monkeypatch):
    _corpus(tmp_path)
    real = Path.read_bytes

    def denied(path: Path) -> bytes:
        if path.name == "bakery.txt":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(CorpusError, match=r"cannot read .*bakery\.txt.*Permission denied"):
        load_documents(tmp_path)


def test_chunks_fit_the_window_overlap_and_never_cut_words(embedder):
    words = [f"word{i}" for i in range(400)]
    document = Document("a.md", " ".join(words), "x")
    params = ChunkingParams(chunk_tokens=50, overlap_tokens=10)
    chunks = chunk_document(document, embedder.tokenizer, params)
    assert len(chunks) > 5
    for chunk in chunks:
        assert len(embedder.tokenizer(chunk.text, add_special_tokens=False).input_ids) <= 50
        assert all(w in words for w in chunk.text.split())  # whole words only
    for left, right in itertools.pairwise(chunks):
        assert right.start < left.end  # consecutive chunks overlap
    assert chunks[0].text.split()[0] == "word0" and chunks[-1].text.split()[-1] == "word399"


def test_text_without_spaces_is_chunked_whole(embedder):
    text = "天文台" * 150 + " end word here"  # no word starts for hundreds of tokens
    params = ChunkingParams(chunk_tokens=50, overlap_tokens=10)
    chunks = chunk_document(Document("zh.md", text, "x"), embedder.tokenizer, params)
    covered = [False] * len(text)
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    assert all(covered[i] for i, c in enumerate(text) if not c.isspace())


def test_bad_chunking_parameters_are_rejected():
    with pytest.raises(ValueError, match="overlap_tokens must be in"):
        ChunkingParams(chunk_tokens=50, overlap_tokens=50)


def test_index_round_trip_and_retrieval(tmp_path, embedder):
    index, report = build_index(_corpus(tmp_path / "docs"), embedder)
    assert report.added == ["bakery.txt", "harbour.md", "notes/library.md"] and report.embedded_chunks > 3
    save_index(index, tmp_path / "index")
    loaded = load_index(tmp_path / "index", embedder.name, embedder.dimension)
    assert loaded.chunks == index.chunks and loaded.files == index.files
    question = embedder.embed(["Who is the harbour master?"])
    best, score = loaded.search(question, 1)[0][0]
    assert best.source == "harbour.md" and "Teodora Vask" in best.text and 0 < score <= 1
    assert [c for c, _ in loaded.search(question, 3)[0]] == [c for c, _ in index.search(question, 3)[0]]


@pytest.fixture
def saved(tmp_path, embedder) -> Path:
    index, _ = build_index(_corpus(tmp_path / "docs"), embedder)
    return save_index(index, tmp_path / "index")


def test_a_different_embedding_model_is_refused(saved):
    with pytest.raises(IndexStoreError, match="built with embedding model 'all-MiniLM-L6-v2', not 'other'"):
        load_index(saved, "other")
    with pytest.raises(IndexStoreError, match=r"384-dimensional vectors.*makes 768-dimensional"):
        load_index(saved, dimension=768)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda p: (p / "index.faiss").write_bytes((p / "index.faiss").read_bytes()[:100]),
            "truncated or corrupt",
        ),
        (lambda p: (p / "chunks.jsonl").write_text('{"oops": 1}\n'), "truncated or corrupt"),
        (lambda p: (p / "chunks.jsonl").unlink(), "chunks.jsonl is missing"),
        (lambda p: (p / "meta.json").write_text("{not json"), "meta.json' is corrupt"),
        (lambda p: (p / "meta.json").unlink(), "not a saved index: meta.json is missing"),
    ],
    ids=["truncated-index", "corrupt-chunks", "missing-chunks", "corrupt-meta", "missing-meta"],
)
def test_damaged_indexes_are_clear_errors(saved, damage, message):
    damage(saved)
    with pytest.raises(IndexStoreError, match=message):
        load_index(saved)


def test_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexStoreError, match="sra-rag index DIR --out PATH"):
        load_index(tmp_path / "nowhere")


def test_a_failed_save_leaves_the_old_index_and_no_debris(saved, embedder, monkeypatch):
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    index = load_index(saved)

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.faiss, "write_index", fail)
    with pytest.raises(OSError, match="No space left"):
        save_index(index, saved)
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["docs", "index"]


def test_saving_over_a_folder_that_is_not_an_index_is_refused(tmp_path, saved):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"jpg")
    with pytest.raises(IndexStoreError, match="is not a saved index"):
        save_index(load_index(saved), tmp_path / "photos")


def test_indexing_over_a_folder_that_is_not_an_index_fails_before_embedding(tmp_path, embedder, monkeypatch):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"jpg")
    monkeypatch.setattr(embedder, "embed", lambda *_: pytest.fail("embedded before checking the target"))
    with pytest.raises(IndexStoreError, match="is not a saved index"):
        index_folder(_corpus(tmp_path / "docs"), tmp_path / "photos", embedder)


def test_an_index_missing_its_meta_is_rebuilt(tmp_path, embedder):
    docs = _corpus(tmp_path / "docs")
    index_folder(docs, tmp_path / "index", embedder)
    (tmp_path / "index" / "meta.json").unlink()
    index, report = index_folder(docs, tmp_path / "index", embedder)
    assert report.embedded_chunks == report.chunks and load_index(tmp_path / "index").chunks == index.chunks


def test_a_crash_between_the_swap_renames_is_recovered(saved):
    before = load_index(saved).chunks
    saved.rename(saved.with_name(f".{saved.name}.old-deadbeef"))  # the old index moved out, no new one
    assert load_index(saved).chunks == before and saved.is_dir()


def test_reindexing_embeds_only_new_and_changed_files(tmp_path, embedder, monkeypatch):
    docs = _corpus(tmp_path / "docs")
    first, report = index_folder(docs, tmp_path / "index", embedder)
    (docs / "bakery.txt").write_text("The Minnow Street bakery now opens at 6:15. " * 30)
    (docs / "notes/library.md").unlink()
    (docs / "zoo.md").write_text("The zoo keeps a single capybara named Pell. " * 30)
    embedded: list[str] = []
    real_embed = embedder.embed
    monkeypatch.setattr(
        embedder, "embed", lambda texts, **kw: embedded.extend(texts) or real_embed(texts, **kw)
    )
    second, report = index_folder(docs, tmp_path / "index", embedder)
    assert (report.added, report.changed, report.removed, report.unchanged) == (
        ["zoo.md"],
        ["bakery.txt"],
        ["notes/library.md"],
        ["harbour.md"],
    )
    assert {c.source for c in second.chunks} == {"bakery.txt", "harbour.md", "zoo.md"}
    assert embedded == [c.text for c in second.chunks if c.source != "harbour.md"]
    _, vectors = second.by_source()["harbour.md"]
    _, old_vectors = first.by_source()["harbour.md"]
    np.testing.assert_array_equal(vectors, old_vectors)
    assert load_index(tmp_path / "index").files == second.files


def test_changed_chunking_reembeds_everything(tmp_path, embedder):
    docs = _corpus(tmp_path / "docs")
    index_folder(docs, tmp_path / "index", embedder)
    _, report = index_folder(docs, tmp_path / "index", embedder, ChunkingParams(100, 10))
    assert report.unchanged == [] and report.embedded_chunks == report.chunks


def test_a_corrupt_index_is_rebuilt_on_reindex(tmp_path, embedder):
    docs = _corpus(tmp_path / "docs")
    index_folder(docs, tmp_path / "index", embedder)
    (tmp_path / "index" / "index.faiss").write_bytes(b"garbage")
    _, report = index_folder(docs, tmp_path / "index", embedder)
    assert report.unchanged == [] and load_index(tmp_path / "index").vectors.ntotal == report.chunks


def test_the_prompt_numbers_sources_and_ends_with_the_question(smollm2, tmp_path, embedder):
    model, tokenizer = smollm2
    generator = Generator(model, tokenizer)
    index, _ = build_index(_corpus(tmp_path), embedder)
    prompt = build_prompt(generator, "Who is the harbour master?", index.chunks[:3])
    ids = generator.encode(prompt.messages)[0]
    assert len(ids) == prompt.length
    assert len(prompt.source_spans) == 3
    for number, ((start, end), chunk) in enumerate(
        zip(prompt.source_spans, index.chunks[:3], strict=True), 1
    ):
        text = tokenizer.decode(ids[start:end])
        assert text.strip().startswith(f"[{number}] (from {chunk.source})") and chunk.text[-20:] in text
    tail = tokenizer.decode(ids[-prompt.question_rows :])
    assert tail.startswith("Question: Who is the harbour master?") and "Sources" not in tail


def test_demo_corpus_is_well_formed():
    questions = demo_questions()
    sources = {p.name for p in demo_corpus_dir().glob("*.md")}
    assert 30 <= len(sources) <= 50 and len(questions) >= 40
    assert len({q.id for q in questions}) == len(questions)
    for q in questions:
        assert q.source in sources and q.position in {"start", "middle", "end"}
        assert q.is_answered_by((demo_corpus_dir() / q.source).read_text(encoding="utf-8"))


def test_answer_matching_ignores_case_and_punctuation():
    q = demo_questions()[0]
    assert q.is_answered_by(f"It is {q.answer.upper()}.")
    assert not q.is_answered_by("I do not know.")


@pytest.mark.slow
def test_a_demo_question_is_answered_from_the_corpus(smollm2, demo_index):
    model, tokenizer = smollm2
    _, index, embedder = demo_index
    pipeline = RagPipeline(index, embedder, Generator(model, tokenizer), keep=16)
    question = next(q for q in demo_questions() if q.id == ANSWERED)
    baseline, sra = pipeline.compare(question.question, sra=PAPER)
    assert 3000 <= sra.prompt_tokens <= 6000
    assert any(s.chunk.source == question.source for s in sra.sources)
    for answer in (baseline, sra):
        assert question.is_answered_by(answer.answer), answer.answer
        assert sum(s.attention for s in answer.sources) < 1
    assert sra.diagnostics["rows_touched"] > 0 and baseline.diagnostics["rows_touched"] == 0
    assert [s.attention for s in sra.sources] != [s.attention for s in baseline.sources]


def test_pipeline_refuses_an_index_from_another_embedder(tmp_path, embedder, smollm2):
    index, _ = build_index(_corpus(tmp_path), embedder)
    index.embedding_model = "other"
    with pytest.raises(ValueError, match="built with 'other'"):
        RagPipeline(index, embedder, Generator(*smollm2))


def test_meta_records_what_the_index_was_built_from(saved):
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["embedding_model"] == "all-MiniLM-L6-v2" and meta["dimension"] == 384
    assert meta["chunking"] == {"chunk_tokens": 200, "overlap_tokens": 40}
    assert (
        set(meta["files"]) == set(FACTS)
        and meta["count"] == faiss.read_index(str(saved / "index.faiss")).ntotal
    )


def test_the_pipeline_places_sources_by_order_and_hands_their_spans_to_guided_sra(
    smollm2, tmp_path, embedder
):
    index, _ = build_index(_corpus(tmp_path), embedder)
    generator = Generator(*smollm2)
    question = "Who is the harbour master of Quillon?"
    retrieved = RagPipeline(index, embedder, generator, keep=3, order="retrieved").ask(question, sra=None)
    assert [s.rank for s in retrieved.sources] == [1, 2, 3]
    assert retrieved.sources[0].chunk.source == "harbour.md"
    with pytest.warns(DeprecationWarning, match=r"top_k=\.\.\.\) is now keep"):  # the old name still works
        assert RagPipeline(index, embedder, generator, top_k=3, order="best_last").keep == 3
    last = RagPipeline(index, embedder, generator, keep=3, order="best_last")
    answer = last.ask(question, sra=GuidedFim(temperature=0.05))
    assert [s.rank for s in answer.sources] == [3, 2, 1] and answer.sources[-1].chunk.source == "harbour.md"
    assert [s.chunk.source for s in answer.sources] == [s.chunk.source for s in reversed(retrieved.sources)]
    passages = answer.diagnostics["passages"]
    assert [p["label"] for p in passages] == ["1", "2", "3"]  # the numbers the prompt cites
    # weights follow the retriever's rank, not its raw cosine (passage.rank_weight)
    assert [p["weight"] for p in passages] == pytest.approx([1 / 3, 2 / 3, 1.0])
    # the best source (now last, [3]) gains attention mass; FiM keeps the total on passages
    assert passages[2]["mass_change"] > 0 > min(p["mass_change"] for p in passages[:2])
    assert sum(p["mass_change"] for p in passages) == pytest.approx(0.0, abs=1e-2)


def test_the_bundled_model_reads_its_shipped_profile_unless_told_otherwise(smollm2, tmp_path, embedder):
    index, _ = build_index(_corpus(tmp_path), embedder)
    generator = Generator(*smollm2)
    shipped = shipped_profile(smollm2[0])
    assert shipped is not None and shipped.calibration["test"]["decision"]["ships"]
    pipeline = RagPipeline(index, embedder, generator)
    assert (pipeline.profile, pipeline.keep, pipeline.order) == (shipped, shipped.keep, shipped.order)
    assert (pipeline.layout, pipeline.sra) == (shipped.prompt, shipped.sra)
    plain = RagPipeline(index, embedder, generator, profile=None)
    assert (plain.profile, plain.keep, plain.order, plain.layout) == (None, 16, "retrieved", "sources_first")


def test_an_unknown_order_is_refused_before_any_model_loads(tmp_path):
    with pytest.raises(ValueError, match="unknown passage order 'best_first'; choose one of"):
        RagPipeline.from_index(tmp_path / "missing", order="best_first")


def test_orders_follow_langchains_long_context_reorder():
    ranked = list(range(1, 8))  # best first
    assert order_passages(ranked, "retrieved") == ranked
    assert order_passages(ranked, "best_last") == ranked[::-1]
    assert order_passages(ranked, "long_context") == [1, 3, 5, 7, 6, 4, 2]


class _CountingTokenizer:
    """The real tokenizer, counting how often a text is tokenised (called) or rendered."""

    def __init__(self, tokenizer) -> None:
        self.inner, self.calls, self.renders = tokenizer, 0, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)

    def apply_chat_template(self, *args, **kwargs):
        self.renders += 1
        return self.inner.apply_chat_template(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_pipeline_answer_renders_and_tokenises_its_prompt_once(smollm2, tmp_path, embedder):
    """The spans are located where the prompt is built, and generation takes them as they are."""
    index, _ = build_index(_corpus(tmp_path), embedder)
    counting = _CountingTokenizer(smollm2[1])
    generator = Generator(smollm2[0], counting)
    pipeline = RagPipeline(index, embedder, generator, keep=3, order="retrieved", max_new_tokens=4)
    answer = pipeline.ask("Who is the harbour master of Quillon?", sra=GuidedFim())
    assert (counting.renders, counting.calls) == (1, 1)
    assert [p["weight"] for p in answer.diagnostics["passages"]] == pytest.approx([1.0, 2 / 3, 1 / 3])


@pytest.mark.parametrize("rank, count", [(0, 3), (4, 3), (True, 3), (1.0, 3)])
def test_a_rank_outside_the_retrieved_passages_is_refused(rank, count):
    with pytest.raises(ValueError, match="a retrieval rank must be an integer from 1 to 3"):
        rank_weight(rank, count)


def test_a_completion_prompt_answer_ends_where_a_reader_stops(smollm2, tmp_path, embedder):
    """A model without a chat template (a base model) gets a completion prompt ending in "Answer:",
    and would write on (the next question, more answers) until the token limit."""
    index, _ = build_index(_corpus(tmp_path), embedder)
    tokenizer = copy.copy(smollm2[1])
    tokenizer.chat_template = None
    generator = Generator(smollm2[0], tokenizer)
    question = "When does the Minnow Street bakery open?"
    options = dict(keep=3, profile=None, sra=None, max_new_tokens=48)
    raw = RagPipeline(index, embedder, generator, stop=(), **options).ask(question)
    assert "\n" in raw.answer.strip()  # what the stops are for: it goes on past its line
    answer = RagPipeline(index, embedder, generator, **options).ask(question)
    assert isinstance(RagPipeline(index, embedder, generator, **options).prompt(question)[0].messages, str)
    assert "5:40" in answer.answer and "\n" not in answer.answer and "Question:" not in answer.answer
    assert raw.answer.startswith(answer.answer + "\n") and answer.usage.output_tokens < 48
    with pytest.raises(TypeError, match=r"stop must be a list of stop strings, not one string"):
        RagPipeline(index, embedder, generator, stop="\n", **options)
