"""The bundled demo corpus (sra_rag/data) and the scoring of answers to its questions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    source: str  # the one document that states the answer
    position: str  # where in that document: start, middle or end

    def is_answered_by(self, text: str) -> bool:
        """True when the gold answer or an alias appears in `text` (case, spacing and
        punctuation aside): the model often wraps a correct answer in a sentence."""
        said = _normal(text)
        return any(_normal(a) in said for a in (self.answer, *self.aliases) if _normal(a))


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def demo_corpus_dir() -> Path:
    return DATA / "corpus"


def demo_questions() -> list[Question]:
    with (DATA / "questions.jsonl").open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [
        Question(r["id"], r["question"], r["answer"], tuple(r.get("aliases", ())), r["source"], r["position"])
        for r in rows
    ]
