"""Settings for the two SRA policies: validated on construction, frozen, JSON round-trip, presets.

A config is checked before it can reach a model, so a bad value fails where it was written, with
the field name and the allowed range, instead of as a silent no-op deep inside a forward pass.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeAlias


def _check_number(owner: str, name: str, value: Any, *, low: float, strict: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    if value < low or (strict and value == low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"{owner}.{name} must be {bound}, got {value!r}")


def _check_int(owner: str, name: str, value: Any, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{owner}.{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{owner}.{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class SRAConfig:
    """Scaled ReAttention (docs/algorithm.md, section 1). Defaults are the reference code's (`paper`)."""

    policy: ClassVar[str] = "sra"

    begin_length: int = 100
    question_length: int = 200
    inter_eliminate: float = 0.5
    outer_eliminate: float = 0.3
    inter_strength: float = 4.0
    outer_strength: float = 4.0
    gem_share: float = 100.0
    filler_share: float = 5.0
    dynamic_question_divisor: int | None = field(default=None)

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_int(owner, "begin_length", self.begin_length, low=0)
        _check_int(owner, "question_length", self.question_length, low=0)
        for name in ("inter_eliminate", "outer_eliminate", "gem_share", "filler_share"):
            _check_number(owner, name, getattr(self, name), low=0.0, strict=True)
        for name in ("inter_strength", "outer_strength"):
            _check_number(owner, name, getattr(self, name), low=0.0, strict=False)
        if self.dynamic_question_divisor is not None:
            _check_int(owner, "dynamic_question_divisor", self.dynamic_question_divisor, low=1)

    def question_tokens(self, n: int) -> int:
        """The question tail `t` for a prompt of `n` tokens."""
        if self.dynamic_question_divisor is None:
            return self.question_length
        return n // self.dynamic_question_divisor

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class TransitionConfig:
    """Attention Transition, the paper's first version (docs/algorithm.md, section 2)."""

    policy: ClassVar[str] = "transition"

    alpha: float = 0.5
    beta: float = 0.1
    intervals_per_layer: int = 2
    min_length: int = 400

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _check_number(owner, "alpha", self.alpha, low=0.0, strict=True)
        _check_number(owner, "beta", self.beta, low=0.0, strict=False)
        _check_int(owner, "intervals_per_layer", self.intervals_per_layer, low=1)
        _check_int(owner, "min_length", self.min_length, low=0)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, **dataclasses.asdict(self)}


GuidedRule = Literal["dispense", "fim", "pasta"]
GUIDED_RULES: tuple[str, ...] = ("dispense", "fim", "pasta")
_RULE_FIELDS: dict[str, tuple[str, ...]] = {
    "dispense": ("temperature", "eliminate", "strength", "gem_share", "filler_share"),
    "fim": ("temperature", "mix"),
    "pasta": ("scale", "top"),
}
"""The fields each guided rule reads; another rule's field set away from its default is refused
(it would be silently ignored)."""


@dataclass(frozen=True)
class GuidedConfig:
    """Retrieval-guided ReAttention (docs/algorithm.md, section 5): the question's rows only, aimed
    at the prompt's passages (given per call with `use_spans` or `passages=`), in layers
    `first_layer..last_layer` (inclusive; negative counts from the end, as in Python).

    Passage weights (by retrieval rank: `spans.rank_weight`) become shares by a softmax with
    `temperature`; unweighted passages share equally. The rule:
    - `dispense`: the Dispenser on the question rows: weights under `eliminate / question_start`
      become 0 and `strength` times the eliminated mass goes to the passages, by share across
      passages and by Hidden Gem shares (`gem_share`, `filler_share`) inside each;
    - `fim` (Found-in-the-Middle-style calibration): each passage's part of the row's attention
      on passages moves a fraction `mix` of the way to its share; the total on passages is kept;
    - `pasta` (PASTA-style emphasis): attention outside the `top` highest-weight passages (of
      those weighted above 0; all passages when unweighted, equally weighted or `top` is 0) is
      scaled by `scale`, and the row renormalised.
    """

    policy: ClassVar[str] = "guided"

    rule: GuidedRule = "dispense"
    first_layer: int = 1
    last_layer: int = -2
    temperature: float = 0.1
    eliminate: float = 0.3
    strength: float = 1.0
    gem_share: float = 100.0
    filler_share: float = 5.0
    mix: float = 1.0
    scale: float = 0.5
    top: int = 1

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.rule not in GUIDED_RULES:
            raise ValueError(f"{owner}.rule must be one of {list(GUIDED_RULES)}, got {self.rule!r}")
        for name in ("first_layer", "last_layer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{owner}.{name} must be an integer layer index, got {value!r}")
        for name in ("temperature", "eliminate", "gem_share", "filler_share"):
            _check_number(owner, name, getattr(self, name), low=0.0, strict=True)
        _check_number(owner, "strength", self.strength, low=0.0, strict=False)
        _check_number(owner, "mix", self.mix, low=0.0, strict=True)
        if self.mix > 1:
            raise ValueError(f"{owner}.mix must be <= 1, got {self.mix!r}")
        _check_number(owner, "scale", self.scale, low=0.0, strict=True)
        if self.scale >= 1:
            raise ValueError(
                f"{owner}.scale must be < 1 (it scales attention down; 1 changes nothing), got {self.scale!r}"
            )
        _check_int(owner, "top", self.top, low=0)
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        ignored = [
            name
            for name in sorted(
                {n for fields in _RULE_FIELDS.values() for n in fields} - set(_RULE_FIELDS[self.rule])
            )
            if getattr(self, name) != defaults[name]
        ]
        if ignored:
            raise ValueError(
                f"{owner}(rule={self.rule!r}) does not use {ignored}; the rule reads "
                f"{list(_RULE_FIELDS[self.rule])}: drop the others"
            )

    def layers(self, num_layers: int) -> range:
        """The layers this config touches in a model of `num_layers` layers."""
        first = self.first_layer + num_layers if self.first_layer < 0 else self.first_layer
        last = self.last_layer + num_layers if self.last_layer < 0 else self.last_layer
        if not 0 <= first <= last < num_layers:
            raise ValueError(
                f"GuidedConfig layers {self.first_layer}..{self.last_layer} select no layer of a "
                f"{num_layers}-layer model; choose first_layer <= last_layer within it"
            )
        return range(first, last + 1)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, **dataclasses.asdict(self)}


AnyConfig: TypeAlias = SRAConfig | TransitionConfig | GuidedConfig
_POLICIES: dict[str, type[SRAConfig] | type[TransitionConfig] | type[GuidedConfig]] = {
    "sra": SRAConfig,
    "transition": TransitionConfig,
    "guided": GuidedConfig,
}

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
    "guided": GuidedConfig(rule="dispense", strength=1.0, temperature=0.2),
    "guided_fim": GuidedConfig(rule="fim", mix=0.5, temperature=0.05),
    "guided_pasta": GuidedConfig(rule="pasta", scale=0.7, top=3),
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
    if policy not in _POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {sorted(_POLICIES)}")
    cls = _POLICIES[policy]
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
