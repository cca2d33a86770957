"""Attention Transition, the paper's first version (docs/algorithm.md, section 2): fixed intervals
of rows hand their small weights, amplified, to the two intervals before them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .lazy_torch import torch
from .setting import Setting, Step, check_int, check_number
from .step_stats import StepStats

if TYPE_CHECKING:
    from .spans import PromptSpans


@dataclass(frozen=True)
class Transition:
    """One Attention Transition step (spec section 2) on query rows `rows` = [p, p + interval)."""

    rows: tuple[int, int]
    interval: int
    alpha: float
    beta: float
    kind: str = "transition"

    def apply(
        self, w: torch.Tensor, key_mask: torch.Tensor | None = None, stats: bool = False
    ) -> StepStats | None:
        """Edit `w` (..., rows, keys) in place (see `setting.Step`)."""
        p, e = self.rows
        span = self.interval
        bound = self.alpha / e
        row_mass = w.sum(-1, keepdim=True) if stats else None
        head = w[..., :e]
        head.masked_fill_(head < bound, 0.0)
        w[..., 0] *= 0.5
        kept = head.sum(-1, keepdim=True)
        remaining = 1.0 - kept
        window = w[..., p - 2 * span : e - span]
        marks = torch.where(window >= bound, 1.0, 0.01).to(w.dtype)
        if key_mask is not None:
            marks = marks * key_mask[..., p - 2 * span : e - span]
        count = marks.sum(-1, keepdim=True)
        # a window the layer cannot see at all (a sliding window) gets nothing, not inf * 0 = NaN
        unit = torch.where(count > 0, self.beta * remaining / count.clamp_min(torch.finfo(w.dtype).tiny), 0.0)
        factors = torch.full((2 * span,), 7.0, dtype=w.dtype, device=w.device)
        factors[:span] = 3.0
        window += factors * unit * marks
        if not stats:
            return None
        return StepStats(
            rows=w.shape[-2],
            qualifying_pairs=float(w[..., 0].numel()),
            eliminated_mass=float((row_mass - kept).sum()),
            redistributed_mass=float((unit * (factors * marks).sum(-1, keepdim=True)).sum()),
        )


@dataclass(frozen=True)
class TransitionConfig(Setting):
    """Attention Transition, the paper's first version (docs/algorithm.md, section 2)."""

    name: ClassVar[str] = "transition"

    alpha: float = 0.5
    beta: float = 0.1
    intervals_per_layer: int = 2
    min_length: int = 400

    def __post_init__(self) -> None:
        owner = type(self).__name__
        check_number(owner, "alpha", self.alpha, low=0.0, strict=True)
        check_number(owner, "beta", self.beta, low=0.0, strict=False)
        check_int(owner, "intervals_per_layer", self.intervals_per_layer, low=1)
        check_int(owner, "min_length", self.min_length, low=0)

    def plan(self, n: int, layer_idx: int, num_layers: int, spans: PromptSpans | None = None) -> list[Step]:
        if n < self.min_length or not 1 <= layer_idx <= num_layers - 3:
            return []
        per_interval = n // (num_layers - 1 + self.intervals_per_layer)
        span = per_interval - per_interval % 5
        if span <= 0:
            return []
        starts = [(layer_idx + k + 1) * span for k in range(self.intervals_per_layer)]
        # the last interval ends at (num_layers - 2 + intervals) * span <= n - span: always inside
        return [
            Transition(rows=(p, p + span), interval=span, alpha=self.alpha, beta=self.beta) for p in starts
        ]
