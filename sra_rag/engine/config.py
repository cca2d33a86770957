"""The shipped settings and their JSON form: presets, `config_from_dict`, `load_config`.

Every setting is a `setting.Setting` subclass, checked when it is made, so a bad value fails where
it was written, with the field name and the allowed range, instead of as a silent no-op deep
inside a forward pass. Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

from .guided import GuidedConfig
from .guided_dispense import GuidedDispense
from .guided_fim import GuidedFim
from .guided_pasta import GuidedPasta
from .setting import SETTING_CLASSES, Setting
from .sra import SRAConfig
from .transition import TransitionConfig


def _import_guided_rules() -> None:
    """Import every `guided_*.py` module of the engine: a rule registers itself on import
    (`setting.SETTING_CLASSES`), so a new one needs no list changed anywhere."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("guided_"):
            importlib.import_module(f"{__package__}.{module.name}")


_import_guided_rules()
GUIDED_RULES: dict[str, type[GuidedConfig]] = {
    cls.rule: cls for cls in SETTING_CLASSES.values() if issubclass(cls, GuidedConfig)
}
"""Each guided rule by its short name: every `guided_*.py` module of the engine, so a new rule is
one file (its class, parameters, checks and `edit`) and its tests."""

PAPER = SRAConfig()
"""The reference code's defaults: what `enable_sra` and `load_model` apply unless told otherwise."""

PRESETS: dict[str, Setting] = {
    "paper": PAPER,
    "paper_demo": SRAConfig(
        begin_length=5,
        question_length=50,
        inter_eliminate=0.5,
        outer_eliminate=0.5,
        inter_strength=5.0,
        outer_strength=5.0,
    ),
    "transition": TransitionConfig(),
    # each guided rule at the parameters the RAG benchmark's dev split chose on SmolLM2 (README, Results)
    "guided": GuidedDispense(strength=1.0, temperature=0.2),
    "guided_fim": GuidedFim(mix=0.5, temperature=0.05),
    "guided_pasta": GuidedPasta(scale=0.7, top=3),
}


def preset(name: str) -> Setting:
    """A named, shipped configuration (see `PRESETS`)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def config_from_dict(data: dict[str, Any]) -> Setting:
    """Inverse of `to_dict`: the `policy` key (the JSON name of the setting's kind, kept so that files
    and metadata written before read the same) picks the class; unknown keys are an error."""
    if not isinstance(data, dict):
        raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
    values = dict(data)
    policy = values.pop("policy", "sra")
    if policy not in SETTING_CLASSES:
        raise ValueError(
            f"unknown policy {policy!r} (the setting's kind); choose one of {sorted(SETTING_CLASSES)}"
        )
    cls = SETTING_CLASSES[policy]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(known)}")
    return cls(**values)


def config_to_json(config: Setting) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def config_from_json(text: str) -> Setting:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"config is not valid JSON: {error}") from None
    return config_from_dict(data)


def load_config(path: str | Path) -> Setting:
    """Read a config file (JSON) or a preset name."""
    if str(path) in PRESETS:
        return preset(str(path))
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"no config file {str(path)!r} and no preset of that name (presets: {', '.join(sorted(PRESETS))})"
        )
    return config_from_json(Path(path).read_text(encoding="utf-8"))
