"""The test phase of a calibrated profile: on test questions its dev phase never read, does the
chosen setting beat plain stuffing, and how does it stand against the simple alternatives a user
has (fewer passages, LongContextReorder) and the profile shipped before? `profile_rule.SHIP`, as
the profile carries it, decides whether it ships.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ...rag.embedding import Embedder
from ...rag.profile import RagProfile
from ..provenance import provenance
from ..records import Checkpoint
from .asked import AskedScorer
from .calibrate import compare, fingerprint, score, table
from .candidates import arrangements, reference, setting_name
from .presets import CalibrationPreset
from .profile_rule import CHOICE, SHIP, ships
from .samples import rank_counts, retrieve_samples
from .settings import parse

GOLD_ALONE = "retrieved+gold"
SHIPPED_BEFORE = "best_last+top5"
"""The profile SmolLM2 shipped before settings were measured as `ask` answers (seed 5309)."""


def alternatives(preset: CalibrationPreset, chosen: str) -> list[str]:
    """The simple settings a user could pick instead, as far as the preset retrieves; the profile
    shipped before, measured (stock) and as `ask` ran it by default (the paper's SRA); the chosen
    setting with stock attention and the default prompt (what its attention and layout add); and
    the gold passage alone (an upper bound no retriever gives)."""
    simple = [("retrieved", 8), ("long_context", 8), ("retrieved", 3), ("retrieved", 5)]
    names = [setting_name(o, k, preset.retrieve) for o, k in simple if k < preset.retrieve]
    if preset.retrieve > 5:
        names += [SHIPPED_BEFORE, f"{SHIPPED_BEFORE}+paper"]
    setting = parse(chosen)
    plain = setting_name(setting.order, setting.keep or preset.retrieve, preset.retrieve)
    return [*names, plain, GOLD_ALONE]


def check_profile(profile: RagProfile) -> CalibrationPreset:
    """The profile's preset, after checking that it was chosen under the code's rules and
    candidates (else the test split would judge something the dev phase did not choose)."""
    made = profile.calibration
    if made.get("choice_rule") != CHOICE or made.get("ship_rule") != SHIP:
        raise ValueError(
            "the profile was chosen under other rules than sra_rag/eval/rag/profile_rule.py: restore "
            "them, or calibrate again"
        )
    preset = CalibrationPreset(**{k: tuple(v) if k == "keeps" else v for k, v in made["preset"].items()})
    if made.get("candidates", [])[1 : len(arrangements(preset)) + 1] != arrangements(preset):
        raise ValueError("the profile's candidates differ from the code's: restore them, or calibrate again")
    return preset


def judge_profile(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    embedder: Embedder,
    profile: RagProfile,
    *,
    model_source: str | Path | None,
    checkpoint: Path | None,
    progress: bool = True,
) -> dict[str, Any]:
    """The profile, the reference and the alternatives on the test split, answered as `ask`
    answers them; `SHIP` applied."""
    preset = check_profile(profile)
    made = profile.calibration
    started = provenance(model_source, model)
    store = Checkpoint(
        checkpoint, {**fingerprint(profile.model, made["prompt_style"], preset), "phase": "test"}
    )
    scorer = AskedScorer(
        model, tokenizer, made["prompt_style"], store, preset.free_tokens, preset.max_new_tokens
    )
    samples = retrieve_samples(embedder, preset.seed, "test", preset.retrieve, preset.test_questions)
    ref, chosen = reference(preset), made["chosen"]
    names = list(dict.fromkeys([ref, chosen, *alternatives(preset, chosen)]))
    records = score(scorer, samples, names, "test", progress)
    rows = table(records, names, ref)
    diff = rows[chosen][f"vs_{ref}"]
    return {
        "model": profile.model,
        "profile": {k: v for k, v in profile.to_dict().items() if k != "calibration"},
        "preset": preset.to_dict(),
        "chosen": chosen,
        "reference": ref,
        "ship_rule": SHIP,
        "test": {
            "questions": len(samples),
            "retrieval": rank_counts(samples),
            "settings": rows,
            "chosen_vs_alternatives": {
                name: compare(records, chosen, name) for name in names if name not in (chosen, ref)
            },
            "decision": {"ships": ships(chosen, ref, diff), "chosen_vs_reference": diff},
            "target_plus_10_over_reference": {
                "gain": diff["accuracy"]["mean"],
                "met": (diff["accuracy"]["mean"] or 0.0) >= 0.10,
            },
        },
        "dev": {"settings": made["dev"]["settings"], "provenance": made["provenance"]},
        "provenance": started,
        "records": records,
    }
