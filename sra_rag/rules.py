"""The pure tensor rules of docs/algorithm.md: which rows a layer touches, and what happens to them.

`plan` turns a config, a prompt length and a layer into a list of steps; each step names a span of
query rows and edits post-softmax weights of those rows in place. Every rule is row-local, so a
step may be applied to any sub-block of its rows (that is what makes the fast path exact).
Coordinates are local: position 0 is the sequence's first real token. This module imports torch
only, never transformers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import AnyConfig, GuidedConfig, SRAConfig, TransitionConfig
from .guided import GuidedStep, guided_plan
from .spans import PromptSpans
from .step_stats import StepStats


@dataclass(frozen=True)
class Dispense:
    """The Dispenser (spec section 1) on query rows `rows` with target keys `target`."""

    kind: str  # "inter" or "outer"
    rows: tuple[int, int]
    target: tuple[int, int]
    tau: float
    strength: float
    gem_share: float
    filler_share: float

    def apply(
        self, w: torch.Tensor, key_mask: torch.Tensor | None = None, stats: bool = False
    ) -> StepStats | None:
        """Edit `w` (..., rows, keys) in place. `key_mask` (broadcastable, True = attendable)
        keeps redistribution inside the keys the layer may see (sliding windows). Counting
        `stats` costs a device sync, so it is opt-in."""
        t0, t1 = self.target
        row_mass = w.sum(-1, keepdim=True) if stats else None
        qualifies = (w[..., t0:t1] > self.tau).any(-1, keepdim=True)
        # one threshold per row (-inf for rows that do not qualify): a single pass over the block
        # the threshold in w's own dtype: a float32 one would zero float64 weights just above tau
        w.masked_fill_(w < torch.where(qualifies, w.new_tensor(self.tau), -math.inf), 0.0)
        kept = w.sum(-1, keepdim=True)
        remaining = 1.0 - kept
        target = w[..., t0:t1]
        shares = torch.where(target >= self.tau, self.gem_share, self.filler_share).to(w.dtype)
        if key_mask is not None:
            shares = shares * key_mask[..., t0:t1]
        total = shares.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
        added = self.strength * remaining * shares / total
        target += torch.where(qualifies, added, 0.0)
        if not stats:
            return None
        zero = torch.zeros((), dtype=w.dtype, device=w.device)
        return StepStats(
            rows=w.shape[-2],
            qualifying_pairs=float(qualifies.sum()),
            eliminated_mass=float(torch.where(qualifies, row_mass - kept, zero).sum()),
            redistributed_mass=float(torch.where(qualifies, self.strength * remaining, zero).sum()),
        )


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
        """Edit `w` (..., rows, keys) in place; see `Dispense.apply`."""
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


Step = Dispense | Transition | GuidedStep


def _sra_plan(config: SRAConfig, n: int, layer_idx: int, num_layers: int) -> list[Step]:
    if layer_idx >= num_layers - 1:
        return []
    blocks = num_layers + 3
    question = config.question_tokens(n)
    begin = config.begin_length
    steps: list[Step] = []
    if n > begin + question + 3:
        c = math.ceil((n - begin - question - 3) / blocks)
        q0 = (layer_idx + 3) * c + begin + 3
        q1 = min(q0 + c, n - question)
        if q0 < q1:
            steps.append(
                Dispense(
                    kind="inter",
                    rows=(q0, q1),
                    target=(q0 - 3 * c, q0 - 2 * c),
                    tau=config.inter_eliminate / (q0 - begin),
                    strength=config.inter_strength,
                    gem_share=config.gem_share,
                    filler_share=config.filler_share,
                )
            )
    if layer_idx >= 1 and question > 0 and n > question + 3:
        c = math.ceil((n - question - 3) / blocks)
        t0 = (layer_idx + 2) * c + 3
        t1 = min((layer_idx + 3) * c + 3, n - question)
        if t0 < t1:
            steps.append(
                Dispense(
                    kind="outer",
                    rows=(n - question, n),
                    target=(t0, t1),
                    tau=config.outer_eliminate / (n - question),
                    strength=config.outer_strength,
                    gem_share=config.gem_share,
                    filler_share=config.filler_share,
                )
            )
    return steps


def _transition_plan(config: TransitionConfig, n: int, layer_idx: int, num_layers: int) -> list[Step]:
    if n < config.min_length or not 1 <= layer_idx <= num_layers - 3:
        return []
    per_interval = n // (num_layers - 1 + config.intervals_per_layer)
    span = per_interval - per_interval % 5
    if span <= 0:
        return []
    starts = [(layer_idx + k + 1) * span for k in range(config.intervals_per_layer)]
    # the last interval ends at (num_layers - 2 + intervals) * span <= n - span: always inside
    return [
        Transition(rows=(p, p + span), interval=span, alpha=config.alpha, beta=config.beta) for p in starts
    ]


def plan(
    config: AnyConfig | None,
    n: int,
    layer_idx: int,
    num_layers: int,
    spans: PromptSpans | None = None,
) -> list[Step]:
    """The steps layer `layer_idx` of `num_layers` applies to a prompt of `n` real tokens
    (`spans`: where its passages and question are; the guided policy needs them)."""
    if config is None:
        return []
    if isinstance(config, SRAConfig):
        return _sra_plan(config, n, layer_idx, num_layers)
    if isinstance(config, TransitionConfig):
        return _transition_plan(config, n, layer_idx, num_layers)
    if isinstance(config, GuidedConfig):
        return guided_plan(config, n, layer_idx, num_layers, spans)
    raise TypeError(f"expected an SRA config or None, got {type(config).__name__}")


def reallocate(
    weights: torch.Tensor,
    config: AnyConfig | None,
    layer_idx: int,
    num_layers: int,
    key_mask: torch.Tensor | None = None,
    spans: PromptSpans | None = None,
) -> torch.Tensor:
    """Apply one layer's rules to full causal post-softmax weights `(..., n, n)` of an unpadded
    prompt; returns a new tensor, the input is untouched. `key_mask` (same shape or broadcastable,
    True = attendable) keeps added mass inside a sliding window."""
    if weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights must be square in the last two dims, got {tuple(weights.shape)}")
    out = weights.clone()
    for step in plan(config, out.shape[-1], layer_idx, num_layers, spans):
        r0, r1 = step.rows
        rows_mask = None if key_mask is None else key_mask[..., r0:r1, :]
        step.apply(out[..., r0:r1, :], rows_mask)
    return out
