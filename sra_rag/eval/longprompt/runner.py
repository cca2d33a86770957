"""Run an evaluation preset on one model: score every dev sample under every dev setting, choose
on dev, then score the test samples under the reported settings; write all of it down.

Settings run interleaved per sample (every setting on a prompt before the next prompt), and each
record is appended to a checkpoint file as soon as it exists, so a run cut short still yields
paired, summarisable results, and a rerun resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...engine.patch import disable_sra
from ..provenance import weights_sha256
from ..records import Checkpoint, record_key, sample_key, set_setting, versions
from ..scoring import score_answer, score_perplexity
from ..tasks import Sample, Style, held_text, make_sample
from . import summary
from .presets import EvalPreset
from .settings import BASELINE, setting

logger = logging.getLogger(__name__)


def _sample(
    tokenizer: PreTrainedTokenizerBase,
    preset: EvalPreset,
    task: str,
    split: str,
    index: int,
    length: int,
    style: Style,
) -> Sample:
    """One seeded sample; depths cycle through the preset's depths for the task."""
    depths = preset.depths[task]
    return make_sample(
        tokenizer,
        task,
        seed=preset.seed,
        split=split,
        index=index,
        tokens=length,
        depth=depths[index % len(depths)],
        style=style,
    )


def dev_samples(tokenizer: PreTrainedTokenizerBase, preset: EvalPreset, style: Style) -> list[Sample]:
    return [
        _sample(tokenizer, preset, task, "dev", i, length, style)
        for task in preset.tasks
        for length in preset.dev_lengths
        for i in range(preset.dev_samples)
    ]


def test_samples(tokenizer: PreTrainedTokenizerBase, preset: EvalPreset, style: Style) -> list[Sample]:
    cells = [(task, length, count) for length, count in preset.test_cells for task in preset.tasks]
    if preset.long_slice is not None:
        cells.append(("needle", *preset.long_slice))
    samples = [
        _sample(tokenizer, preset, task, "test", i, length, style)
        for task, length, count in cells
        for i in range(count)
    ]
    samples += [
        held_text(tokenizer, seed=preset.seed, split="test", index=i, tokens=preset.perplexity_tokens)
        for i in range(preset.perplexity_samples)
    ]
    return samples


def _score(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    samples: Iterable[Sample],
    settings: list[str],
    preset: EvalPreset,
    checkpoint: Checkpoint,
    phase: str,
    progress: bool,
) -> None:
    done = checkpoint.done()
    samples = list(samples)
    bar = tqdm(total=len(samples) * len(settings), desc=phase, disable=not progress, dynamic_ncols=True)
    for sample in samples:
        for name in settings:
            base = sample.to_dict()
            if (*sample_key(base), name) in done:
                bar.update()
                continue
            set_setting(model, setting(name))
            if sample.task == "perplexity":
                metrics = score_perplexity(model, tokenizer, sample, preset.perplexity_tail)
            else:
                metrics = score_answer(model, tokenizer, sample, preset.max_new_tokens)
            checkpoint.add({**base, "phase": phase, "setting": name, **metrics})
            bar.update()
    bar.close()
    disable_sra(model)


def run_evaluation(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    preset: EvalPreset,
    *,
    model_name: str,
    style: Style,
    checkpoint: Path | None = None,
    progress: bool = True,
    force_test_settings: list[str] | None = None,
) -> dict[str, Any]:
    """The whole run; returns the report (configs, seeds, versions, every record, summaries)."""
    start = time.perf_counter()
    # what a record's value depends on besides its key: a resized preset reuses its records
    fingerprint = json.loads(
        json.dumps(
            {
                "model": model_name,
                "style": style,
                "seed": preset.seed,
                "depths": preset.depths,
                "max_new_tokens": preset.max_new_tokens,
                "perplexity": [preset.perplexity_tokens, preset.perplexity_tail],
            }
        )
    )
    store = Checkpoint(checkpoint, fingerprint)
    dev = dev_samples(tokenizer, preset, style)
    logger.info("dev: %d samples x %d settings", len(dev), len(preset.dev_settings))
    _score(model, tokenizer, dev, list(preset.dev_settings), preset, store, "dev", progress)
    dev_records = [r for r in store.records if r["split"] == "dev"]
    selection = summary.select_best(dev_records)
    test_settings = list(force_test_settings or preset.test_settings)
    if BASELINE not in test_settings:
        test_settings.insert(0, BASELINE)
    if selection["best"] is not None and selection["best"] not in test_settings:
        test_settings.append(selection["best"])
    test = test_samples(tokenizer, preset, style)
    logger.info("test: %d samples x settings %s", len(test), test_settings)
    _score(model, tokenizer, test, test_settings, preset, store, "test", progress)
    keys = {(*sample_key(x.to_dict()), name) for x in dev for name in preset.dev_settings}
    keys |= {(*sample_key(x.to_dict()), name) for x in test for name in test_settings}
    records = [r for r in store.records if record_key(r) in keys]  # a resized preset's leftovers out
    report = build_report(records, preset, model_name=model_name, style=style, test_settings=test_settings)
    report["wall_seconds"] = time.perf_counter() - start
    report["weights_sha256"] = weights_sha256(model)
    report["counts"].update(dev_samples=len(dev), test_samples=len(test))
    return report


def build_report(
    records: list[dict[str, Any]],
    preset: EvalPreset,
    *,
    model_name: str,
    style: str,
    test_settings: list[str],
    partial: bool = False,
) -> dict[str, Any]:
    """Summaries, configs and provenance around the records (also for a checkpoint cut short)."""
    dev_records = [r for r in records if r["split"] == "dev"]
    test_records = [r for r in records if r["split"] == "test"]
    used = list(dict.fromkeys([*preset.dev_settings, *test_settings]))
    return {
        "model": model_name,
        "prompt_style": style,
        "partial": partial,
        "preset": preset.to_dict(),
        "settings": {name: (None if setting(name) is None else setting(name).to_dict()) for name in used},
        "test_settings": test_settings,
        "versions": versions(),
        "command": " ".join(sys.argv),
        "scoring_seconds": sum(r["seconds"] for r in records),
        "counts": {"records": len(records)},
        "dev": {
            "answers": summary.answer_summary(dev_records),
            "selection": summary.select_best(dev_records),
        },
        "test": {
            "answers": summary.answer_summary(test_records),
            "perplexity": summary.perplexity_summary(test_records),
        },
        "records": records,
    }
