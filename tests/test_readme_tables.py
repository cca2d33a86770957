"""The README's results tables are what the committed result files say, to the digit."""

from pathlib import Path

from sra_rag.eval import readme_tables

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_results_table_matches_its_committed_file() -> None:
    text = README.read_text(encoding="utf-8")
    _, stale = readme_tables.refresh(text)
    assert stale == [], f"run `python -m sra_rag.eval.readme_tables`: {stale} differ from docs/results"
    shown = sorted(m["name"] for m in readme_tables._BLOCK.finditer(text))
    assert shown == sorted(readme_tables.TABLES), "every generated table appears in the README once"


def test_a_changed_number_is_caught() -> None:
    text = README.read_text(encoding="utf-8")
    table = next(readme_tables._BLOCK.finditer(text, text.index("<!-- table: rag-gemma -->")))
    body = table["body"].replace("19/34", "20/34", 1)
    edited = text[: table.start("body")] + body + text[table.end("body") :]
    assert readme_tables.refresh(edited)[1] == ["rag-gemma"]
