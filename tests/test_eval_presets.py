"""Harness presets and settings: every name resolves, baselines are always there, and the runs
that extend one another (lite -> full, long) agree on what a record depends on."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from sra_rag import PRESETS, SRAConfig, TransitionConfig
from sra_rag.eval.longprompt.presets import EVAL_PRESETS, eval_preset
from sra_rag.eval.longprompt.settings import SETTINGS, TRANSITION_GRID, setting


def test_settings_are_valid_and_distinct() -> None:
    assert SETTINGS["baseline"] is None
    assert SETTINGS["paper"] == PRESETS["paper"] and SETTINGS["paper_demo"] == PRESETS["paper_demo"]
    configs = [c for c in SETTINGS.values() if c is not None]
    assert len({c.to_dict().__repr__() for c in configs}) == len(configs)  # no duplicate under two names
    for name, config in TRANSITION_GRID.items():
        assert isinstance(config, TransitionConfig), name
    assert all(isinstance(SETTINGS[n], SRAConfig) for n in SETTINGS if n.startswith("sra_"))
    assert setting("transition") == PRESETS["transition"]
    with pytest.raises(ValueError, match="unknown setting"):
        setting("nope")


def test_presets() -> None:
    for preset in EVAL_PRESETS.values():
        assert "baseline" in preset.dev_settings and "baseline" in preset.test_settings
        assert set(preset.tasks) <= set(preset.depths)
    full, lite = eval_preset("full"), eval_preset("lite")
    same = ("seed", "depths", "max_new_tokens", "perplexity_tokens", "perplexity_tail")
    assert all(getattr(full, f) == getattr(lite, f) for f in same)  # lite's records count towards full
    assert set(eval_preset("smoke").dev_settings) >= {"baseline", "paper", "transition"}
    grid = eval_preset("grid")
    assert len(TRANSITION_GRID) == 36 and set(grid.dev_settings) == {"baseline", *TRANSITION_GRID}
    assert all(getattr(full, f) == getattr(grid, f) for f in (*same, "dev_lengths", "dev_samples"))
    points = {(c.alpha, c.beta, c.intervals_per_layer) for c in TRANSITION_GRID.values()}
    seed_grid = itertools.product((0.3, 0.5, 0.7), (0.05, 0.1, 0.2, 0.3), (1, 2, 3))
    assert points == set(seed_grid)
    with pytest.raises(ValueError, match="unknown settings"):
        dataclasses.replace(full, test_settings=("baseline", "made_up"))
    with pytest.raises(ValueError, match="unknown eval preset"):
        eval_preset("huge")
