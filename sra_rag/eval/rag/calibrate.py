"""`sra-rag calibrate`: a model's best passage setting, measured on the dev split of the synthetic
corpora and written as a profile (`rag.profile.RagProfile`) that the pipeline and both adapters load.

Each question has its own corpus of 40 short biographies; MiniLM + FAISS retrieve 16 of them, as
`RagPipeline` does by default. A candidate keeps the retriever's best `keep` in one order (orders
that place `keep` passages alike run once), and the model answers (greedy) and is scored on the gold
answer's teacher-forced log-probability. `profile_rule.CHOICE` picks the profile; it and the ship
rule are copied into the file, and the test phase (`profile_verdict`) refuses a profile chosen under
other rules or other candidates.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...rag.embedding import Embedder
from ...rag.profile import RagProfile
from ..provenance import provenance
from ..records import Checkpoint, Record, paired
from ..stats import accuracy, mcnemar, mean_interval
from ..tasks import Style
from .candidates import candidates, reference, setting_of
from .own_questions import OwnQuestions, score_own
from .presets import CalibrationPreset
from .profile_rule import CHOICE, SHIP, choose
from .rule import difference
from .run import Scorer
from .samples import RagSample, rank_counts, retrieve_samples

logger = logging.getLogger(__name__)


def table(records: list[Record], names: list[str], against: str) -> dict[str, dict[str, Any]]:
    """Per setting: accuracy, mean gold log-probability, and both paired against `against` (with
    the exact McNemar p-value of the accuracy difference)."""
    out = {}
    for name in names:
        mine = [r for r in records if r["setting"] == name]
        out[name] = {
            "accuracy": accuracy([r["contains"] for r in mine]),
            "logprob": mean_interval([r["logprob"] for r in mine]),
            "prompt_tokens": mean_interval([r["prompt_tokens"] for r in mine])["mean"],
            f"vs_{against}": {
                **difference(records, name, against),
                "mcnemar_p": mcnemar_p(records, name, against),
            },
        }
    return out


def mcnemar_p(records: list[Record], setting: str, against: str) -> float:
    diffs = paired(records, setting, "contains", against)
    return mcnemar(diffs.count(1.0), diffs.count(-1.0))


def fingerprint(model_name: str, style: Style, preset: CalibrationPreset) -> dict[str, Any]:
    """What a checkpointed record depends on besides its key: a changed run starts afresh."""
    return {"benchmark": "calibrate", "model": model_name, "style": style, **preset.to_dict()}


def score(
    scorer: Scorer, samples: list[RagSample], names: list[str], phase: str, progress: bool
) -> list[Record]:
    """Every sample under every setting, resuming from the scorer's checkpoint; logs the time
    the rest will take once the first question still to do is done."""
    done = scorer.store.done()
    todo = [s for s in samples if any(s.record_key(n) not in done for n in names)]
    if todo:
        start = time.perf_counter()
        scorer.run(todo[:1], names, f"{phase} (first question)", progress)
        logger.info(
            "%s: about %.0f min for %d questions x %d settings (interrupt and rerun to resume)",
            phase,
            (time.perf_counter() - start) * len(todo) / 60,
            len(todo),
            len(names),
        )
        scorer.run(todo, names, phase, progress)
    keys = {(s.case.split, s.case.index) for s in samples}
    return [r for r in scorer.store.records if (r["split"], r["index"]) in keys and r["setting"] in names]


def calibrate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    embedder: Embedder,
    preset: CalibrationPreset,
    *,
    model_name: str,
    model_source: str | Path | None,
    style: Style,
    checkpoint: Path | None,
    progress: bool = True,
    own: OwnQuestions | None = None,
) -> RagProfile:
    """The dev phase: every candidate on the synthetic corpora's dev questions (or on `own`
    questions over the user's index), `CHOICE` applied, as a profile."""
    started = provenance(model_source, model)  # the code as the run starts
    names = candidates(preset)
    made = fingerprint(model_name, style, preset)
    if own is None:
        store = Checkpoint(checkpoint, made)
        scorer = Scorer(model, tokenizer, style, store, preset.max_new_tokens)
        samples = retrieve_samples(embedder, preset.seed, "dev", preset.retrieve, preset.dev_questions)
        records = score(scorer, samples, names, "calibrate", progress)
        asked: dict[str, Any] = {"retrieval": rank_counts(samples)}
    else:
        store = Checkpoint(checkpoint, {**made, "questions": own.describe()})
        records = score_own(
            model, tokenizer, embedder, own, names, preset, style=style, store=store, progress=progress
        )
        asked = {"questions": own.describe()}
    rows = table(records, names, reference(preset))
    chosen = choose(rows, reference(preset))
    keep, order = setting_of(chosen, preset)
    return RagProfile(
        model_name,
        keep,
        order,
        {
            "choice_rule": CHOICE,
            "ship_rule": SHIP,
            "preset": preset.to_dict(),
            "prompt_style": style,
            "candidates": names,
            "reference": reference(preset),
            "chosen": chosen,
            "dev": {**asked, "settings": rows},
            "provenance": started,
            "records": records,
        },
    )
