"""The settings the harness compares, by name: baseline, the shipped presets, the seed's Attention
Transition grid, and a one-parameter-at-a-time sweep around the `paper` SRA preset.

The seed's transition grid is alpha in {0.3, 0.5, 0.7}, beta in {0.05, 0.1, 0.2, 0.3}, lay
(intervals per layer) in {1, 2, 3}: 36 points, named `transition_a{alpha}_b{beta}_l{lay}` (its
centre, alpha 0.5, beta 0.1, lay 2, is the `transition` preset). One more point lies in the region
the authors' own XSum runs found best (alpha 1-1.5, beta 0.3-0.5, lay 3-4; docs/algorithm.md, section 2),
outside the grid. 36 prefills per sample is a long run on a CPU, so only the `grid` harness preset
runs all of them; the others pick a few.
"""

from __future__ import annotations

import dataclasses

from ...engine.config import PAPER, PRESETS, TransitionConfig
from ...engine.setting import Setting

BASELINE = "baseline"


def _transition_name(config: TransitionConfig) -> str:
    if config == PRESETS["transition"]:
        return "transition"
    return f"transition_a{config.alpha}_b{config.beta}_l{config.intervals_per_layer}"


TRANSITION_GRID: dict[str, Setting] = {
    _transition_name(config): config
    for config in (
        TransitionConfig(alpha=alpha, beta=beta, intervals_per_layer=lay)
        for alpha in (0.3, 0.5, 0.7)
        for beta in (0.05, 0.1, 0.2, 0.3)
        for lay in (1, 2, 3)
    )
}
"""The seed's 36 points."""

XSUM_REGION: dict[str, Setting] = {
    "transition_a1.0_b0.3_l3": TransitionConfig(alpha=1.0, beta=0.3, intervals_per_layer=3)
}

SRA_SWEEP: dict[str, Setting] = {
    "sra_strength2": dataclasses.replace(PAPER, inter_strength=2.0, outer_strength=2.0),
    "sra_strength8": dataclasses.replace(PAPER, inter_strength=8.0, outer_strength=8.0),
    "sra_eliminate1": dataclasses.replace(PAPER, inter_eliminate=1.0, outer_eliminate=1.0),
    "sra_question50": dataclasses.replace(PAPER, question_length=50),
}

SETTINGS: dict[str, Setting | None] = {
    BASELINE: None,
    "paper": PRESETS["paper"],
    "paper_demo": PRESETS["paper_demo"],
    **TRANSITION_GRID,
    **XSUM_REGION,
    **SRA_SWEEP,
}
"""Every named setting; a harness preset picks which of them run on dev and on test."""


def setting(name: str) -> Setting | None:
    """A harness setting by name, or any library preset (e.g. a shipped `*_best`)."""
    if name in SETTINGS:
        return SETTINGS[name]
    if name in PRESETS:
        return PRESETS[name]
    raise ValueError(f"unknown setting {name!r}; choose from {sorted(SETTINGS)} or {sorted(PRESETS)}")
