"""`sra-rag calibrate`: a model's best RAG setting — how many passages, which order, which prompt
layout, which attention setting — measured on the dev split of the synthetic corpora and written
as a profile (`rag.profile.RagProfile`) that the pipeline and both adapters apply as measured.

Each question has its own corpus of 40 short biographies; MiniLM + FAISS retrieve 16 of them, as
`RagPipeline` does by default. Every candidate is answered as `ask` answers it (`asked`): the
pipeline's prompt, its attention setting, a free-form greedy reply, with the stem-forced gold
log-probability beside it. The search is successive halving (`profile_rule.CHOICE`); the rule
and the ship rule are copied into the file, and the test phase (`profile_verdict`) refuses a
profile chosen under other rules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...model_identity import weights_fingerprint
from ...rag.embedding import Embedder
from ...rag.profile import RagProfile
from ..provenance import provenance
from ..records import Checkpoint, Record, paired
from ..stats import accuracy, mcnemar, mean_interval
from ..tasks import Style
from .asked import AskedScorer
from .candidates import arrangements, in_layouts, reference, setting_of, with_attention
from .own_questions import OwnQuestions, score_own
from .presets import CalibrationPreset
from .profile_rule import CHOICE, SHIP, choose, ranked
from .samples import RagSample, rank_counts, retrieve_samples

logger = logging.getLogger(__name__)


def compare(records: list[Record], setting: str, against: str) -> dict[str, Any]:
    """Paired differences of `setting` minus `against`: free-form accuracy (`accuracy`, what the
    rules read), stem-forced accuracy and gold log-probability, and McNemar's exact p-value of
    the free-form difference."""
    diffs = paired(records, setting, "free_contains", against)
    return {
        "accuracy": mean_interval(diffs),
        "forced_accuracy": mean_interval(paired(records, setting, "contains", against)),
        "logprob": mean_interval(paired(records, setting, "logprob", against)),
        "mcnemar_p": mcnemar(diffs.count(1.0), diffs.count(-1.0)),
    }


def table(records: list[Record], names: list[str], against: str) -> dict[str, dict[str, Any]]:
    """Per setting: free-form and stem-forced accuracy, mean gold log-probability, and each paired
    against `against`."""
    out = {}
    for name in names:
        mine = [r for r in records if r["setting"] == name]
        out[name] = {
            "accuracy": accuracy([r["free_contains"] for r in mine]),
            "forced_accuracy": accuracy([r["contains"] for r in mine]),
            "logprob": mean_interval([r["logprob"] for r in mine]),
            "prompt_tokens": mean_interval([r["prompt_tokens"] for r in mine])["mean"],
            f"vs_{against}": compare(records, name, against),
        }
    return out


def fingerprint(model_name: str, style: Style, preset: CalibrationPreset) -> dict[str, Any]:
    """What a checkpointed record depends on besides its key: a changed run starts afresh."""
    return {
        "benchmark": "calibrate",
        "scoring": "as_asked",
        "model": model_name,
        "style": style,
        **preset.to_dict(),
    }


def score(
    scorer: AskedScorer, samples: list[RagSample], names: list[str], phase: str, progress: bool
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


def search(
    run: Callable[[list[str], str], list[Record]], preset: CalibrationPreset, num_layers: int | None = None
) -> tuple[list[str], dict[str, dict[str, Any]], list[Record]]:
    """`CHOICE`'s successive halving: every arrangement, the best in other layouts, the best stock
    settings with each attention setting (that fits a model of `num_layers` layers). Returns the
    candidates run, their table and records."""
    ref = reference(preset)
    names = [ref, *arrangements(preset)]
    rows = table(run(names, "arrangements"), names, ref)
    names += in_layouts(ranked(rows, names[1:], ref)[: preset.layouts_on])
    rows = table(run(names, "layouts"), names, ref)
    names += with_attention(ranked(rows, names[1:], ref)[: preset.attention_on], num_layers)
    records = run(names, "attention")
    return names, table(records, names, ref), records


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
    """The dev phase: the search on the synthetic corpora's dev questions (or on `own` questions
    over the user's index), `CHOICE` applied, as a profile of this model's weights."""
    started = provenance(model_source, model)  # the code as the run starts
    made = fingerprint(model_name, style, preset)
    run: Callable[[list[str], str], list[Record]]
    if own is None:
        store = Checkpoint(checkpoint, made)
        scorer = AskedScorer(model, tokenizer, style, store, preset.free_tokens, preset.max_new_tokens)
        samples = retrieve_samples(embedder, preset.seed, "dev", preset.retrieve, preset.dev_questions)

        def run(names: list[str], phase: str) -> list[Record]:
            return score(scorer, samples, names, phase, progress)

        asked: dict[str, Any] = {"retrieval": rank_counts(samples)}
    else:
        store = Checkpoint(checkpoint, {**made, "questions": own.describe()})

        def run(names: list[str], phase: str) -> list[Record]:
            return score_own(
                model, tokenizer, embedder, own, names, preset, style=style, store=store, progress=progress
            )

        asked = {"questions": own.describe()}
    names, rows, records = search(run, preset, model.config.get_text_config().num_hidden_layers)
    ref = reference(preset)
    chosen = choose(rows, ref)
    keep, order, layout, sra = setting_of(chosen, preset)
    return RagProfile(
        model_name,
        keep,
        order,
        layout,
        sra,
        weights_fingerprint(model),
        {
            "choice_rule": CHOICE,
            "ship_rule": SHIP,
            "preset": preset.to_dict(),
            "prompt_style": style,
            "candidates": names,
            "reference": ref,
            "chosen": chosen,
            "dev": {**asked, "settings": rows},
            "provenance": started,
            "records": records,
        },
    )
