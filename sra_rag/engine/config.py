"""The shipped settings and their JSON form: presets, `config_from_dict`, `load_config`.

Every setting is a `policy.Policy` subclass, checked when it is made, so a bad value fails where
it was written, with the field name and the allowed range, instead of as a silent no-op deep
inside a forward pass. Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any, TypeAlias

from .guided import GuidedConfig
from .guided_dispense import GuidedDispense
from .guided_fim import GuidedFim
from .guided_pasta import GuidedPasta
from .policy import POLICIES, Policy
from .sra import SRAConfig
from .transition import TransitionConfig

AnyConfig: TypeAlias = Policy
"""Any SRA setting: `SRAConfig`, `TransitionConfig` or a guided rule."""


def _import_guided_rules() -> None:
    """Import every `guided_*.py` module of the engine: a rule registers itself on import
    (`policy.POLICIES`), so a new one needs no list changed anywhere."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("guided_"):
            importlib.import_module(f"{__package__}.{module.name}")


_import_guided_rules()
GUIDED_RULES: dict[str, type[GuidedConfig]] = {
    cls.rule: cls for cls in POLICIES.values() if issubclass(cls, GuidedConfig)
}
"""Each guided rule by its short name: every `guided_*.py` module of the engine, so a new rule is
one file (its class, parameters, checks and `edit`) and its tests."""

PAPER = SRAConfig()
"""The reference code's defaults: what `enable_sra` and `load_model` apply unless told otherwise."""

PRESETS: dict[str, AnyConfig] = {
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


def preset(name: str) -> AnyConfig:
    """A named, shipped configuration (see `PRESETS`)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def config_from_dict(data: dict[str, Any]) -> AnyConfig:
    """Inverse of `to_dict`: the `policy` key picks the class; unknown keys are an error."""
    if not isinstance(data, dict):
        raise ValueError(f"a config must be a JSON object, got {type(data).__name__}")
    values = dict(data)
    policy = values.pop("policy", "sra")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {sorted(POLICIES)}")
    cls = POLICIES[policy]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; allowed: {sorted(known)}")
    return cls(**values)


def config_to_json(config: AnyConfig) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def config_from_json(text: str) -> AnyConfig:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"config is not valid JSON: {error}") from None
    return config_from_dict(data)


def load_config(path: str | Path) -> AnyConfig:
    """Read a config file (JSON) or a preset name."""
    if str(path) in PRESETS:
        return preset(str(path))
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"no config file {str(path)!r} and no preset of that name (presets: {', '.join(sorted(PRESETS))})"
        )
    return config_from_json(Path(path).read_text(encoding="utf-8"))
