"""The settings the harness compares, by name: baseline, the shipped presets, a subset of the
seed's Attention Transition grid, and a one-parameter-at-a-time sweep around the `paper` SRA preset.

The seed's transition grid (alpha in {0.3, 0.5, 0.7}, beta in {0.05, 0.1, 0.2, 0.3}, lay in
{1, 2, 3}: 36 points) costs 36 prefills per sample, which a 2-core CPU cannot afford; the subset
keeps its default, its weakest and strongest corners, and the region the authors' own XSum runs
found best (alpha 1-1.5, beta 0.3-0.5, lay 3-4; SRA_SPEC.md section 2), which lies outside it.
"""

from __future__ import annotations

import dataclasses

from ..config import PAPER, PRESETS, AnyConfig, TransitionConfig

BASELINE = "baseline"

TRANSITION_GRID: dict[str, AnyConfig] = {
    "transition": PRESETS["transition"],  # alpha 0.5, beta 0.1, lay 2: the seed's first experiment
    "transition_a0.3_b0.05_l1": TransitionConfig(alpha=0.3, beta=0.05, intervals_per_layer=1),
    "transition_a0.7_b0.3_l3": TransitionConfig(alpha=0.7, beta=0.3, intervals_per_layer=3),
    "transition_a1.0_b0.3_l3": TransitionConfig(alpha=1.0, beta=0.3, intervals_per_layer=3),
}

SRA_SWEEP: dict[str, AnyConfig] = {
    "sra_strength2": dataclasses.replace(PAPER, inter_strength=2.0, outer_strength=2.0),
    "sra_strength8": dataclasses.replace(PAPER, inter_strength=8.0, outer_strength=8.0),
    "sra_eliminate1": dataclasses.replace(PAPER, inter_eliminate=1.0, outer_eliminate=1.0),
    "sra_question50": dataclasses.replace(PAPER, question_length=50),
}

SETTINGS: dict[str, AnyConfig | None] = {
    BASELINE: None,
    "paper": PRESETS["paper"],
    "paper_demo": PRESETS["paper_demo"],
    **TRANSITION_GRID,
    **SRA_SWEEP,
}
"""Every named setting; a harness preset picks which of them run on dev and on test."""


def setting(name: str) -> AnyConfig | None:
    """A harness setting by name, or any library preset (e.g. a shipped `*_best`)."""
    if name in SETTINGS:
        return SETTINGS[name]
    if name in PRESETS:
        return PRESETS[name]
    raise ValueError(f"unknown setting {name!r}; choose from {sorted(SETTINGS)} or {sorted(PRESETS)}")
