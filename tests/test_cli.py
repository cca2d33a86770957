"""The command line end to end on the bundled models; bad input exits non-zero with one line."""

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import one_line_error

from sra_rag.cli import build_parser, main
from sra_rag.demo import paired_lines
from sra_rag.rag import order_passages
from sra_rag.rag.profile import shipped_profile
from sra_rag.rag.store import load_index

CORPUS = {
    "harbour.md": "# Harbour\n\nThe Quillon harbour master is Teodora Vask. " + "Boats come and go. " * 40,
    "bakery.txt": "The Minnow Street bakery opens at 5:40 every morning. " + "Bread is baked daily. " * 40,
}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docs")
    for name, text in CORPUS.items():
        (folder / name).write_text(text)
    out = folder.parent / "index"
    assert main(["index", str(folder), "--out", str(out)]) == 0
    return folder, out


def test_index_then_reindex_embeds_nothing_new(index, capsys):
    folder, out = index
    assert main(["index", str(folder), "--out", str(out)]) == 0
    assert "2 unchanged; 0 chunks embedded" in capsys.readouterr().out


def test_ask_prints_the_answer_and_its_sources(index, smollm2, capsys):
    _, out = index
    code = main(["ask", "Who is the harbour master of Quillon?", "--index", str(out), "--keep", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Vask" in printed and "[1] harbour.md" in printed
    # the bundled model's shipped profile was measured with stock attention: so it answers
    shipped = shipped_profile(smollm2[0])
    assert shipped.sra is None and "SRA: off, 2 sources" in printed
    assert f"profile: {shipped.describe()}" in printed


@pytest.fixture(scope="module")
def logbook(tmp_path_factory):
    """An index of 20 one-chunk files: more than any keep a profile ships, and than 16."""
    folder = tmp_path_factory.mktemp("logbook")
    for day in range(1, 21):
        (folder / f"day{day:02d}.txt").write_text(
            f"Day {day} of the Quillon harbour log: {day + 2} boats came in and the harbour master "
            f"counted {3 * day} crates of salted fish on the north quay."
        )
    out = folder.parent / "logbook-index"
    assert main(["index", str(folder), "--out", str(out)]) == 0
    assert len(load_index(out).chunks) == 20
    return out


def sources_printed(printed: str) -> list[int]:
    """The retrieval ranks of the sources `ask` lists, in prompt order."""
    return [
        int(re.search(r"rank (\d+)\)$", line)[1]) for line in printed.splitlines() if line.startswith("[")
    ]


def test_ask_reads_the_shipped_profile_unless_told_none(logbook, smollm2, capsys):
    """No --keep: the shipped keep, order, prompt and attention run through the CLI, over an index
    with more chunks than the keep (so the keep, not the index's size, is what counts)."""
    shipped = shipped_profile(smollm2[0])
    assert shipped.keep < 16
    question = ["ask", "How many crates did the harbour master count?", "--index", str(logbook)]
    assert main([*question, "--max-new-tokens", "4"]) == 0
    printed = capsys.readouterr().out
    sra = shipped.sra.name if shipped.sra else "off"
    facts = f"SRA: {sra}, {shipped.keep} sources, order: {shipped.order}, prompt: {shipped.prompt}"
    assert facts in printed and f"profile: {shipped.describe()}" in printed
    assert sources_printed(printed) == order_passages(list(range(1, shipped.keep + 1)), shipped.order)
    assert main([*question, "--max-new-tokens", "4", "--profile", "none"]) == 0
    printed = capsys.readouterr().out
    assert "SRA: sra, 16 sources, order: retrieved" in printed and "profile: none" in printed
    assert sources_printed(printed) == list(range(1, 17))


def test_ask_without_sra(index, capsys):
    _, out = index
    assert main(["ask", "When does the bakery open?", "--index", str(out), "--keep", "2", "--no-sra"]) == 0
    assert "SRA: off" in capsys.readouterr().out


def test_compare_shows_both_answers_and_per_source_attention(index, capsys):
    _, out = index
    question = "Who is the harbour master of Quillon?"
    assert main(["compare", question, "--index", str(out), "--keep", "2"]) == 0
    printed = capsys.readouterr().out
    assert "baseline:" in printed and "SRA (sra):" in printed
    assert "the question's attention per source" in printed and "│ 1 │ harbour.md │" in printed


@pytest.mark.slow
def test_demo_answers_with_the_default_beside_plain_stuffing(demo_index, smollm2, capsys):
    assert main(["demo", "--limit", "2", "--index", str(demo_index[0]), "--also", "paper"]) == 0
    printed = capsys.readouterr().out
    assert "0 embedded now" in printed  # the session's index was reused
    shipped = shipped_profile(smollm2[0])
    assert (
        f"default: {shipped.keep} chunks, {shipped.order}, prompt {shipped.prompt}, attention stock "
        f"(the profile of {shipped.model}); plain stuffing: 16 chunks, retrieved, stock attention"
    ) in printed
    table = [line for line in printed.splitlines() if line[:1] in "┏┃┡│├└"]
    assert len(table) > 8 and max(map(len, table)) <= 80, "the table must read in 80 columns"
    assert any(line.startswith("│ Q2 ") for line in table)
    counts = re.findall(
        r"(default(?: \+ paper)?): (\d)/2 against plain stuffing's (\d)/2 \((\d) answered", printed
    )
    assert [c[0] for c in counts] == ["default", "default + paper"], printed
    marks = {name: [line for line in table if f" {name} " in line] for name in ("default", "plain stuffing")}
    assert all(len(rows) >= 2 for rows in marks.values())


def test_paired_lines_count_the_questions_only_one_row_answered():
    hits = {"default": [True, True, False, False], "plain stuffing": [True, False, True, False]}
    assert paired_lines(hits) == (
        "default: 2/4 against plain stuffing's 2/4 (1 answered only by default, 1 only by plain stuffing)."
    )


def test_the_demo_refuses_an_unknown_attention_setting_before_loading(capsys):
    assert main(["demo", "--also", "paper_dmeo"]) == 2
    one_line_error(capsys, "no preset of that name")


def test_missing_folder(tmp_path, capsys):
    assert main(["index", str(tmp_path / "nope"), "--out", str(tmp_path / "i")]) == 2
    one_line_error(capsys, "does not exist")


def test_empty_corpus(tmp_path, capsys):
    assert main(["index", str(tmp_path), "--out", str(tmp_path / "i")]) == 2
    one_line_error(capsys, "no non-empty .txt or .md files")


def test_unreadable_file(tmp_path, capsys):
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00binary")
    assert main(["index", str(tmp_path), "--out", str(tmp_path / "i")]) == 2
    one_line_error(capsys, "bad.txt", "is not UTF-8 text")
    assert not (tmp_path / "i").exists()


def test_bad_config(index, tmp_path, capsys):
    _, out = index
    bad = tmp_path / "bad.json"
    bad.write_text('{"policy": "sra", "question_length": -3}')
    assert main(["ask", "Who?", "--index", str(out), "--config", str(bad)]) == 2
    one_line_error(capsys, "question_length")


def test_unknown_config(index, capsys):
    _, out = index
    assert main(["ask", "Who?", "--index", str(out), "--config", "papr"]) == 2
    one_line_error(capsys, "no preset of that name", "paper_demo")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        main(["--debug", "index", str(tmp_path / "nope"), "--out", str(tmp_path / "i")])


def test_missing_index(tmp_path, capsys):
    assert main(["ask", "Who?", "--index", str(tmp_path / "none")]) == 2
    one_line_error(capsys, "no saved index", "sra-rag index DIR --out PATH")


def test_eval_is_wired_and_resummarises_a_saved_report(tmp_path):
    saved = Path(__file__).resolve().parent.parent / "docs/results/eval_smollm2_135m_instruct.json"
    out = tmp_path / "report.json"
    assert main(["eval", "--report", str(saved), "--out", str(out), "--no-plots", "--quiet"]) == 0
    again, original = json.loads(out.read_text()), json.loads(saved.read_text())
    assert again["test"] == original["test"] and again["model"] == original["model"]


def test_ask_with_an_order_and_guided_sra(index, capsys):
    _, out = index
    argv = ["ask", "Who is the harbour master of Quillon?", "--index", str(out), "--top-k", "2"]
    assert main([*argv, "--order", "best_last", "--config", "guided"]) == 0
    printed = capsys.readouterr().out
    assert "SRA: guided_dispense, 2 sources, order: best_last" in printed
    sources = [line for line in printed.splitlines() if line.startswith("[")]
    assert sources[0].startswith("[1] ") and sources[0].endswith("rank 2)")  # the best source is last
    assert sources[1].startswith("[2] harbour.md") and sources[1].endswith("rank 1)")


def test_an_unknown_order_is_a_usage_error(index, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "x", "--index", str(index[1]), "--order", "best_first"])
    assert exit_.value.code == 2 and "invalid choice: 'best_first'" in capsys.readouterr().err


def test_compare_with_guided_sra_on_the_best_last_order(index, capsys):
    _, out = index
    question = "Who is the harbour master of Quillon?"
    argv = ["compare", question, "--index", str(out), "--keep", "2", "--config", "guided_fim"]
    assert main([*argv, "--order", "best_last"]) == 0
    printed = capsys.readouterr().out
    assert "SRA (guided_fim):" in printed and "(best_last order)" in printed
    best = next(line for line in printed.splitlines() if line.startswith("│ 2 │"))
    assert "harbour.md │    1 │" in best and "+" in best.split("│")[-2]  # the best source gained


def test_help_and_argument_errors_never_import_torch():
    """`--help` and a bad argument answer at once: no torch, transformers or sentence-transformers."""
    script = (
        "import sys\n"
        "from sra_rag.cli import main\n"
        "for argv in (['--help'], ['ask', 'q', '--index', '/nowhere'], ['demo', '--limit', '-1']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["demo", "--limit", "-1"], "--limit must be >= 0, got -1"),
        (["demo", "--max-new-tokens", "0"], "--max-new-tokens must be >= 1, got 0"),
        (["ask", "q", "--index", "X", "--max-new-tokens", "0"], "--max-new-tokens must be >= 1, got 0"),
        (["ask", "q", "--index", "X", "--no-sra", "--config", "papr"], "no preset of that name"),
    ],
)
def test_bad_counts_and_configs_fail_before_anything_loads(argv, needle, capsys):
    assert main(argv) == 2
    one_line_error(capsys, needle)


def test_an_index_whose_meta_lacks_keys_is_an_error_and_can_be_rebuilt(index, tmp_path, capsys):
    folder, out = index
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    meta = json.loads((damaged / "meta.json").read_text())
    del meta["chunking"], meta["sha256"]["index.faiss"]
    (damaged / "meta.json").write_text(json.dumps(meta))
    assert main(["ask", "Who?", "--index", str(damaged)]) == 2
    one_line_error(capsys, "lacks ['chunking', 'sha256.index.faiss']", "rebuild the index")
    assert main(["index", str(folder), "--out", str(damaged)]) == 0  # rebuilt in place
    assert "(2 added, 0 changed" in capsys.readouterr().out


def test_a_corpus_without_words_is_an_error(tmp_path, capsys):
    (tmp_path / "nul.txt").write_bytes(b"\x00" * 64)
    assert main(["index", str(tmp_path), "--out", str(tmp_path / "i")]) == 2
    one_line_error(capsys, "no text to index")
    assert not (tmp_path / "i").exists()


def test_chunks_longer_than_the_embedder_takes_are_an_error(index, tmp_path, capsys):
    folder, _ = index
    assert main(["index", str(folder), "--out", str(tmp_path / "i"), "--chunk-tokens", "1000"]) == 2
    one_line_error(capsys, "chunks of 1000 tokens are longer than all-MiniLM-L6-v2 embeds (254 tokens")


def test_a_model_folder_without_a_tokenizer_is_an_error(index, tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["ask", "Who?", "--index", str(index[1]), "--model", str(tmp_path)]) == 2
    one_line_error(capsys, "has no tokenizer", "tokenizer.save_pretrained")


def test_ctrl_c_while_indexing_says_the_old_index_is_intact(index, monkeypatch, capsys):
    folder, out = index

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sra_rag.rag.index_folder", interrupted)
    assert main(["index", str(folder), "--out", str(out)]) == 130
    assert "interrupted; any index being written was left as it was before" in capsys.readouterr().err


def test_every_argument_has_help():
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [
        (name, action.dest)
        for name, command in commands.choices.items()
        for action in command._actions
        if not action.help
    ]
    assert missing == []
    assert "(default: 48)" in commands.choices["demo"].format_help()  # defaults are shown


def test_the_demo_refuses_a_missing_profile_before_loading(tmp_path, capsys):
    assert main(["demo", "--profile", str(tmp_path / "none.json")]) == 2
    one_line_error(capsys, "no profile at", "sra-rag calibrate")
