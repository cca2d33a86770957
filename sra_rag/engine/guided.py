"""Retrieval-guided ReAttention: the question's rows re-aimed at the prompt's passages.

The paper's SRA sweeps fixed blocks because it does not know where the information is; a RAG
pipeline does (`spans.PromptSpans`). A guided rule acts on the rows from `question_start` to the
end in the layers `first_layer..last_layer`, row-local like the paper's rules. `GuidedConfig` is
their base: it plans one `GuidedStep` per selected layer, and the step hands the rule the weights,
the passages' keys (`PassageKeys`, built once per prompt and device) and the spans. Adding a rule
is one subclass with its parameters, their checks and its `edit` (see `guided_dispense.py`).
"""

from __future__ import annotations

import functools
import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .lazy_torch import torch
from .setting import SETTING_CLASSES, Setting, Step
from .step_stats import StepStats

if TYPE_CHECKING:
    from .spans import PromptSpans

Counts = tuple[float, float | None, float | None]
"""What a rule counts itself: qualifying (head, row) pairs, and the mass it eliminated and handed
out (None: counted as the net change of the weights)."""


def passage_shares(weights: tuple[float, ...] | None, count: int, temperature: float) -> tuple[float, ...]:
    """softmax(weights / temperature), or equal shares without weights."""
    if weights is None:
        return (1.0 / count,) * count
    top = max(weights)
    raw = [math.exp((w - top) / temperature) for w in weights]
    total = sum(raw)
    return tuple(r / total for r in raw)


@dataclass(frozen=True, eq=False)
class PassageKeys:
    """The passages' keys as one slice, [lo, hi) from the first passage's start to the last one's
    end, and a (hi - lo, count) one-hot matrix of which passage owns each key (a zero row for a key
    between passages). Per-passage sums and their spread back over the keys are then one small
    matmul each: no key is gathered or scattered by index."""

    lo: int
    hi: int
    count: int
    onehot: torch.Tensor
    inside: torch.Tensor  # (hi - lo,) True on a passage key

    def view(self, values: torch.Tensor) -> torch.Tensor:
        """The slice of `values` (..., keys) that holds the passages: a view."""
        return values[..., self.lo : self.hi]

    def sums(self, view: torch.Tensor) -> torch.Tensor:
        """Per passage, the sum of `view` (..., hi - lo) over its keys: (..., count)."""
        return torch.matmul(view, self.onehot)

    def spread(self, per_passage: torch.Tensor) -> torch.Tensor:
        """Per-passage values (..., count) laid over the slice's keys, 0 between passages."""
        return torch.matmul(per_passage, self.onehot.T)

    def stats(self, w: torch.Tensor, before: torch.Tensor, counts: Counts) -> StepStats:
        pairs, eliminated, redistributed = counts
        delta = w - before
        return StepStats(
            rows=w.shape[-2],
            qualifying_pairs=pairs,
            eliminated_mass=float(-delta.clamp_max(0).sum()) if eliminated is None else eliminated,
            redistributed_mass=float(delta.clamp_min(0).sum()) if redistributed is None else redistributed,
            passage_mass=tuple(self.sums(self.view(delta)).sum(tuple(range(delta.dim() - 1))).tolist()),
        )


@functools.lru_cache(maxsize=64)
def passage_keys(spans: tuple[tuple[int, int], ...], device: torch.device, dtype: torch.dtype) -> PassageKeys:
    """Built once per prompt, device and dtype, not once per layer and row block."""
    lo, hi = spans[0][0], spans[-1][1]
    onehot = torch.zeros(hi - lo, len(spans), dtype=dtype)
    for i, (s, e) in enumerate(spans):
        onehot[s - lo : e - lo, i] = 1
    onehot = onehot.to(device)
    return PassageKeys(lo, hi, len(spans), onehot, onehot.sum(-1) > 0)


@dataclass(frozen=True)
class GuidedStep:
    """One layer's guided edit of the question rows `rows`."""

    rule: GuidedConfig
    rows: tuple[int, int]
    spans: PromptSpans
    kind: str = "guided"

    def apply(
        self, w: torch.Tensor, key_mask: torch.Tensor | None = None, stats: bool = False
    ) -> StepStats | None:
        """Edit `w` (..., rows, keys) in place (see `setting.Step`)."""
        passages = tuple((p.start, p.end) for p in self.spans.passages)
        keys = passage_keys(passages, w.device, w.dtype)
        before = w.clone() if stats else None
        counts = self.rule.edit(w, keys, self.spans, key_mask, stats)
        return None if before is None or counts is None else keys.stats(w, before, counts)


@dataclass(frozen=True)
class GuidedConfig(Setting):
    """Retrieval-guided ReAttention (docs/algorithm.md, section 5), the base of the guided rules:
    the question's rows only, aimed at the prompt's passages (given per call with `use_spans` or
    `passages=`), in layers `first_layer..last_layer` (inclusive; negative counts from the end, as
    in Python). A subclass sets `rule` (its short name; the setting's `name` is `guided_<rule>`)."""

    rule: ClassVar[str]
    needs_spans: ClassVar[bool] = True

    first_layer: int = 1
    last_layer: int = -2

    def __new__(cls, *args: Any, **kwargs: Any) -> GuidedConfig:
        if cls is GuidedConfig:
            rules = [f"{c.__name__}(...)" for c in SETTING_CLASSES.values() if issubclass(c, GuidedConfig)]
            raise TypeError(f"GuidedConfig is the base of the guided rules; use one: {', '.join(rules)}")
        return super().__new__(cls)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "rule" in cls.__dict__:
            cls.name = f"guided_{cls.rule}"
        super().__init_subclass__(**kwargs)

    def __post_init__(self) -> None:
        for name in ("first_layer", "last_layer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(
                    f"{type(self).__name__}.{name} must be an integer layer index, got {value!r}"
                )

    def layers(self, num_layers: int) -> range:
        """The layers this config touches in a model of `num_layers` layers."""
        first = self.first_layer + num_layers if self.first_layer < 0 else self.first_layer
        last = self.last_layer + num_layers if self.last_layer < 0 else self.last_layer
        if not 0 <= first <= last < num_layers:
            raise ValueError(
                f"{type(self).__name__} layers {self.first_layer}..{self.last_layer} select no layer of "
                f"a {num_layers}-layer model; choose first_layer <= last_layer within it"
            )
        return range(first, last + 1)

    def fit(self, num_layers: int) -> None:
        self.layers(num_layers)

    def plan(self, n: int, layer_idx: int, num_layers: int, spans: PromptSpans | None) -> list[Step]:
        if spans is None:
            raise ValueError(
                "guided SRA needs the prompt's passages and question: pass passages=... to the "
                "Generator (or wrap the call in sra_rag.use_spans(PromptSpans(...)))"
            )
        if layer_idx not in self.layers(num_layers):
            return []
        spans.check(n)
        return [GuidedStep(self, (spans.question_start, n), spans)]

    @abstractmethod
    def edit(
        self,
        w: torch.Tensor,
        keys: PassageKeys,
        spans: PromptSpans,
        key_mask: torch.Tensor | None,
        stats: bool,
    ) -> Counts | None:
        """Edit the question rows' weights `w` (..., rows, keys) in place; with `stats`, return
        what the rule counts itself."""
