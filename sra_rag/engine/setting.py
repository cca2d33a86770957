"""What every SRA setting is: a frozen, validated dataclass that plans each layer's steps.

A setting (the paper's SRA, Attention Transition, each guided rule) is one class, like a kvpress
press: its parameters, their checks and its `plan`, which turns a prompt length and a layer into
steps. A step names a span of query rows and edits their post-softmax weights in place; every step
is row-local, so it may be applied to any block of its rows (that is what makes the fast path
exact). Subclasses register themselves by `name`, which is all `config_from_dict` dispatches on.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import torch

    from .spans import PromptSpans
    from .step_stats import StepStats


def check_number(
    owner: str, name: str, value: Any, *, low: float, strict: bool, high: float | None = None
) -> None:
    """ValueError unless `value` is a finite number >= low (> low when `strict`), < high if given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    if value < low or (strict and value == low):
        bound = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"{owner}.{name} must be {bound}, got {value!r}")
    if high is not None and value >= high:
        raise ValueError(f"{owner}.{name} must be < {high} ({high} changes nothing), got {value!r}")


def check_int(owner: str, name: str, value: Any, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{owner}.{name} must be an integer >= {low}, got {value!r}")


class Step(Protocol):
    """One edit of a layer: query rows [rows[0], rows[1]) of one sequence."""

    rows: tuple[int, int]
    kind: str

    def apply(
        self, w: torch.Tensor, key_mask: torch.Tensor | None = None, stats: bool = False
    ) -> StepStats | None:
        """Edit `w` (..., rows, keys) in place. `key_mask` (broadcastable, True = attendable)
        keeps added mass inside the keys the layer may see (sliding windows). Counting `stats`
        costs a device sync, so it is opt-in."""


SETTING_CLASSES: dict[str, type[Setting]] = {}
"""Every concrete setting class by `name` (its `policy` in JSON): filled by subclassing."""


@dataclasses.dataclass(frozen=True)
class Setting(ABC):
    """The base of every SRA setting."""

    name: ClassVar[str]
    needs_spans: ClassVar[bool] = False
    """True when the setting acts on the prompt's passages and question (`spans.PromptSpans`)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            SETTING_CLASSES[cls.name] = cls

    @abstractmethod
    def plan(self, n: int, layer_idx: int, num_layers: int, spans: PromptSpans | None) -> list[Step]:
        """The steps layer `layer_idx` of `num_layers` applies to a prompt of `n` real tokens."""

    def fit(self, num_layers: int) -> None:  # noqa: B027 - most settings fit every model
        """ValueError unless the setting fits a model of `num_layers` layers."""

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.name, **dataclasses.asdict(self)}
