import math

import pytest

from sra_rag import PRESETS, SRAConfig, TransitionConfig, config_from_dict, load_config, preset
from sra_rag.engine.config import config_from_json, config_to_json


@pytest.mark.parametrize(
    ("cls", "field", "value", "expected"),
    [
        (SRAConfig, "begin_length", -1, "begin_length must be an integer >= 0"),
        (SRAConfig, "question_length", 2.5, "question_length must be an integer >= 0"),
        (SRAConfig, "inter_eliminate", math.nan, "inter_eliminate must be a finite number"),
        (SRAConfig, "outer_eliminate", 0.0, "outer_eliminate must be > 0.0"),
        (SRAConfig, "inter_strength", -1.0, "inter_strength must be >= 0.0"),
        (SRAConfig, "outer_strength", math.inf, "outer_strength must be a finite number"),
        (SRAConfig, "gem_share", True, "gem_share must be a finite number"),
        (SRAConfig, "dynamic_question_divisor", 0, "dynamic_question_divisor must be an integer >= 1"),
        (TransitionConfig, "alpha", -0.5, "alpha must be > 0.0"),
        (TransitionConfig, "beta", math.nan, "beta must be a finite number"),
        (TransitionConfig, "intervals_per_layer", 0, "intervals_per_layer must be an integer >= 1"),
        (TransitionConfig, "min_length", -5, "min_length must be an integer >= 0"),
    ],
)
def test_bad_values_name_the_field_and_range(cls, field, value, expected):
    with pytest.raises(ValueError, match=expected):
        cls(**{field: value})


def test_configs_are_frozen():
    config = SRAConfig()
    with pytest.raises(AttributeError):
        config.begin_length = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "config",
    [
        SRAConfig(),
        SRAConfig(question_length=64, dynamic_question_divisor=20),
        TransitionConfig(alpha=1.5, beta=0.3),
    ],
)
def test_json_round_trip(config):
    assert config_from_json(config_to_json(config)) == config
    assert config_from_dict(config.to_dict()) == config


def test_unknown_keys_and_policy_are_rejected():
    with pytest.raises(ValueError, match=r"unknown SRAConfig field\(s\) \['question_len'\]"):
        config_from_dict({"policy": "sra", "question_len": 5})
    with pytest.raises(ValueError, match="unknown policy 'magic'"):
        config_from_dict({"policy": "magic"})
    with pytest.raises(ValueError, match="not valid JSON"):
        config_from_json("{policy:")


def test_presets_match_the_spec():
    assert preset("paper") == SRAConfig(100, 200, 0.5, 0.3, 4.0, 4.0)
    demo = preset("paper_demo")
    assert (demo.begin_length, demo.question_length, demo.outer_eliminate, demo.inter_strength) == (
        5,
        50,
        0.5,
        5.0,
    )
    assert isinstance(PRESETS["transition"], TransitionConfig)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("best")


def test_load_config_reads_files_and_preset_names(tmp_path):
    path = tmp_path / "sra.json"
    path.write_text(config_to_json(SRAConfig(question_length=64)))
    assert load_config(path) == SRAConfig(question_length=64)
    assert load_config("paper_demo") == preset("paper_demo")


def test_dynamic_question_length():
    assert SRAConfig(dynamic_question_divisor=20).question_tokens(4000) == 200
    assert SRAConfig(question_length=7).question_tokens(4000) == 7
