"""Calibration on a user's own questions over their own index (`sra-rag calibrate --questions`).

The questions file is JSON Lines, one `{"question": "...", "answer": "..."}` per line, the answer a
short string that a right reply contains. Each question is retrieved from the index as
`RagPipeline` retrieves it (the bundled embedder, its best `retrieve` chunks), its prompt built as
the pipeline builds it (`place_passages`), answered under every candidate (its attention setting
included) and scored as `ask` answers: does the free-form greedy reply contain the answer, and the
answer's teacher-forced log-probability right after the prompt (your questions have no reply stem).
All the questions are the dev set: keep some back to check the profile on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...engine.patch import disable_sra
from ...engine.spans import use_spans
from ...generation import Generator
from ...rag.embedding import Embedder
from ...rag.pipeline import place_passages
from ...rag.store import RagIndex
from ..records import Checkpoint, Record, record_key, set_setting
from ..scoring import score_as_asked
from ..tasks import Style
from .candidates import setting_of
from .presets import CalibrationPreset

SPLIT = "own"


@dataclass(frozen=True)
class OwnQuestion:
    question: str
    answer: str


@dataclass(frozen=True)
class OwnQuestions:
    """A user's questions file and the index they are asked of."""

    path: Path
    questions: tuple[OwnQuestion, ...]
    index: RagIndex

    def describe(self) -> dict[str, Any]:
        """What the profile records (and a resumed run must match): the file, its hash, its size."""
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return {"file": str(self.path), "sha256": digest, "count": len(self.questions)}


def load_questions(path: Path) -> tuple[OwnQuestion, ...]:
    """The questions file, every line checked: a bad one is an error that names it."""
    if not path.is_file():
        raise FileNotFoundError(f"no questions file {path}: write one JSON object per line, {_SHAPE}")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"line {number} of {path} is not JSON: write {_SHAPE}") from None
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) and item[k].strip() for k in _KEYS
        ):
            raise ValueError(f"line {number} of {path} needs non-empty strings {_SHAPE}")
        questions.append(OwnQuestion(item["question"].strip(), item["answer"].strip()))
    if not questions:
        raise ValueError(f"{path} holds no questions: write one JSON object per line, {_SHAPE}")
    return tuple(questions)


_KEYS = ("question", "answer")
_SHAPE = '{"question": "...", "answer": "..."}'


def score_own(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    embedder: Embedder,
    own: OwnQuestions,
    names: list[str],
    preset: CalibrationPreset,
    *,
    style: Style,
    store: Checkpoint,
    progress: bool = True,
) -> list[Record]:
    """Every question under every candidate, resuming from `store`."""
    generator = Generator(model, tokenizer)
    done = store.done()
    bar = tqdm(
        total=len(own.questions) * len(names), desc="calibrate", disable=not progress, dynamic_ncols=True
    )
    for number, asked in enumerate(own.questions):
        retrieved = own.index.search(embedder.embed([asked.question]), preset.retrieve)[0]
        for name in names:
            if ("rag", SPLIT, preset.retrieve, number, name) not in done:
                keep, order, layout, sra = setting_of(name, preset)
                prompt, placed = place_passages(generator, asked.question, retrieved[:keep], order, layout)
                set_setting(model, sra)
                with use_spans(prompt.spans):
                    metrics = score_as_asked(
                        model,
                        tokenizer,
                        prompt.prepared.input_ids[0].tolist(),
                        "",
                        asked.answer,
                        preset.free_tokens,
                        preset.max_new_tokens,
                        asked.answer if style == "chat" else f" {asked.answer}",
                        stops=prompt.stops,
                    )
                store.add(
                    {
                        "task": "rag",
                        "split": SPLIT,
                        "index": number,
                        "target_tokens": preset.retrieve,
                        "answer": asked.answer,
                        "setting": name,
                        "prompt_tokens": prompt.length,
                        "passages": len(placed),
                        **metrics,
                    }
                )
            bar.update()
    bar.close()
    disable_sra(model)
    wanted = {("rag", SPLIT, preset.retrieve, i, n) for i in range(len(own.questions)) for n in names}
    return [r for r in store.records if record_key(r) in wanted]
