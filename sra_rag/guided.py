"""Retrieval-guided ReAttention: the question's rows re-aimed at the prompt's passages.

The paper's SRA sweeps fixed blocks because it does not know where the information is; a RAG
pipeline does (`spans.PromptSpans`). Three rules act on the question rows `[question_start, n)`
of the layers a `GuidedConfig` selects, each row-local like the paper's (so the fast path may
apply them to any block of those rows):
- `GuidedDispense`: the paper's Dispenser, its target the passages instead of one fixed block;
- `Calibrate` (Found-in-the-Middle-style): each passage's part of the row's attention on passages
  set toward its relevance share, the total on passages kept;
- `Emphasise` (PASTA-style): attention outside the chosen passages scaled down, the row
  renormalised to its original mass.
Passage shares come from the weights (by retrieval rank: `spans.rank_weight`) through a softmax
with a temperature, or are equal when the passages are unweighted.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from .config import GuidedConfig
from .spans import PromptSpans
from .step_stats import StepStats


def passage_shares(weights: tuple[float, ...] | None, count: int, temperature: float) -> tuple[float, ...]:
    """softmax(weights / temperature), or equal shares without weights."""
    if weights is None:
        return (1.0 / count,) * count
    top = max(weights)
    raw = [math.exp((w - top) / temperature) for w in weights]
    total = sum(raw)
    return tuple(r / total for r in raw)


@dataclass(frozen=True)
class _Passages:
    """Passage spans as one slice of keys, [lo, hi) from the first passage's start to the last one's
    end, and each key's passage number there (`count` for a key between passages). The rules work on
    views of that slice: no key is gathered or scattered by index."""

    lo: int
    hi: int
    count: int
    owner: torch.Tensor  # (hi - lo,) passage number of each key, `count` between passages
    inside: torch.Tensor  # (hi - lo,) True on a passage key

    def view(self, values: torch.Tensor) -> torch.Tensor:
        """The slice of `values` (..., keys) that holds the passages: a view."""
        return values[..., self.lo : self.hi]

    def sums(self, view: torch.Tensor) -> torch.Tensor:
        """Per passage, the sum of `view` (..., hi - lo) over its keys: (..., count)."""
        out = view.new_zeros((*view.shape[:-1], self.count + 1))
        return out.index_add_(-1, self.owner, view)[..., : self.count]

    def spread(self, per_passage: torch.Tensor, between: float) -> torch.Tensor:
        """Per-passage values (..., count) laid over the slice's keys, `between` for the keys between
        passages: (..., hi - lo)."""
        pad = per_passage.new_full((*per_passage.shape[:-1], 1), between)
        return torch.cat([per_passage, pad], -1)[..., self.owner]


@functools.lru_cache(maxsize=64)
def _passages(spans: tuple[tuple[int, int], ...], device: torch.device) -> _Passages:
    """Built once per prompt and device, not once per layer and row block."""
    lo, hi = spans[0][0], spans[-1][1]
    owner = torch.full((hi - lo,), len(spans), dtype=torch.long)
    for i, (s, e) in enumerate(spans):
        owner[s - lo : e - lo] = i
    owner = owner.to(device)
    return _Passages(lo, hi, len(spans), owner, owner < len(spans))


@dataclass(frozen=True)
class _GuidedBase:
    rows: tuple[int, int]
    passages: tuple[tuple[int, int], ...]
    shares: tuple[float, ...]

    def _index(self, w: torch.Tensor) -> tuple[_Passages, torch.Tensor]:
        return _passages(self.passages, w.device), torch.tensor(self.shares, dtype=w.dtype, device=w.device)

    def _stats(
        self,
        w: torch.Tensor,
        before: torch.Tensor,
        index: _Passages,
        pairs: float,
        eliminated: float | None = None,
        redistributed: float | None = None,
    ) -> StepStats:
        """Net changes (mass taken from keys, mass given to keys, per passage) unless the rule
        counts its own eliminated and redistributed mass."""
        delta = w - before
        return StepStats(
            rows=w.shape[-2],
            qualifying_pairs=pairs,
            eliminated_mass=float(-delta.clamp_max(0).sum()) if eliminated is None else eliminated,
            redistributed_mass=float(delta.clamp_min(0).sum()) if redistributed is None else redistributed,
            passage_mass=tuple(index.sums(index.view(delta)).sum(tuple(range(delta.dim() - 1))).tolist()),
        )


@dataclass(frozen=True)
class GuidedDispense(_GuidedBase):
    """The Dispenser on the question rows, its mass sent to the passages (by share across them,
    by Hidden Gem share inside each)."""

    tau: float = 0.0
    strength: float = 1.0
    gem_share: float = 100.0
    filler_share: float = 5.0
    kind: str = "guided"

    def apply(
        self, w: torch.Tensor, key_mask: torch.Tensor | None = None, stats: bool = False
    ) -> StepStats | None:
        """Edit `w` (..., rows, keys) in place; `key_mask` as in `rules.Dispense.apply`."""
        index, shares = self._index(w)
        view = index.view(w)  # follows w's edits below
        before = w.clone() if stats else None
        qualifies = ((view > self.tau) & index.inside).any(-1, keepdim=True)
        row_mass = w.sum(-1, keepdim=True) if stats else None
        w.masked_fill_(w < torch.where(qualifies, w.new_tensor(self.tau), -math.inf), 0.0)
        kept = w.sum(-1, keepdim=True)
        remaining = 1.0 - kept
        marks = torch.where(view >= self.tau, self.gem_share, self.filler_share).to(w.dtype) * index.inside
        if key_mask is not None:
            marks = marks * index.view(key_mask)
        totals = index.sums(marks)
        visible = shares * (totals > 0)  # a passage the window hides gets nothing
        visible = visible / visible.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
        per_mark = visible / totals.clamp_min(torch.finfo(w.dtype).tiny)
        added = self.strength * remaining * marks * index.spread(per_mark, 0.0)
        view += torch.where(qualifies, added, 0.0)
        if before is None:
            return None
        zero = w.new_zeros(())
        return self._stats(
            w,
            before,
            index,
            float(qualifies.sum()),
            # as the paper's Dispenser counts: mass eliminated, and the scaled mass handed out
            eliminated=float(torch.where(qualifies, row_mass - kept, zero).sum()),
            redistributed=float(torch.where(qualifies, self.strength * remaining, zero).sum()),
        )


@dataclass(frozen=True)
class Calibrate(_GuidedBase):
    """Found-in-the-Middle-style: each passage's mass moves a fraction `mix` of the way to its
    share of the row's total mass on passages; that total is kept."""

    mix: float = 1.0
    kind: str = "guided"

    def apply(
        self, w: torch.Tensor, key_mask: torch.Tensor | None = None, stats: bool = False
    ) -> StepStats | None:
        """Edit `w` in place. Scaling leaves masked (zero) keys at zero, so no mask is needed."""
        index, shares = self._index(w)
        before = w.clone() if stats else None
        view = index.view(w)
        mass = index.sums(view)
        # a passage with (next to) no mass, e.g. outside a sliding window, keeps it and gets none:
        # scaling it up would overflow, and a hidden passage has nothing to scale
        seen_mask = mass > torch.finfo(w.dtype).tiny ** 0.5
        seen = shares * seen_mask
        target = seen / seen.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
        target = target * (mass * seen_mask).sum(-1, keepdim=True)
        factor = torch.where(
            seen_mask,
            ((1 - self.mix) * mass + self.mix * target) / mass.clamp_min(torch.finfo(w.dtype).tiny),
            1.0,
        )
        view *= index.spread(factor, 1.0)
        if before is None:
            return None
        return self._stats(w, before, index, float(w[..., 0].numel()))


@dataclass(frozen=True)
class Emphasise(_GuidedBase):
    """PASTA-style: weights outside the chosen passages times `scale`, then each row rescaled to
    its original mass."""

    chosen: tuple[bool, ...] = ()
    scale: float = 0.5
    kind: str = "guided"

    def apply(
        self, w: torch.Tensor, key_mask: torch.Tensor | None = None, stats: bool = False
    ) -> StepStats | None:
        """Edit `w` in place (masked keys are zero and stay so)."""
        index, _ = self._index(w)
        before = w.clone() if stats else None
        mass = w.sum(-1, keepdim=True)
        keep = torch.zeros(w.shape[-1], dtype=torch.bool, device=w.device)
        chosen = torch.tensor((*self.chosen, False), dtype=torch.bool, device=w.device)
        index.view(keep)[:] = chosen[index.owner]
        w.mul_(torch.where(keep, 1.0, w.new_tensor(self.scale)))
        w.mul_(mass / w.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny))
        if before is None:
            return None
        return self._stats(w, before, index, float(w[..., 0].numel()))


GuidedStep = GuidedDispense | Calibrate | Emphasise


def _chosen(weights: tuple[float, ...] | None, count: int, top: int) -> tuple[bool, ...]:
    """The `top` highest-weight passages among those weighted above 0 (ties: the earlier one); all
    of them when the passages are unweighted or equally weighted, or `top` is 0."""
    if weights is None or top == 0 or len(set(weights)) == 1:
        return (True,) * count
    best = sorted((i for i in range(count) if weights[i] > 0), key=lambda i: (-weights[i], i))[:top]
    return tuple(i in best for i in range(count))


def guided_plan(
    config: GuidedConfig, n: int, layer_idx: int, num_layers: int, spans: PromptSpans | None
) -> list[GuidedStep]:
    """The guided step of layer `layer_idx` for a prompt of `n` real tokens with these spans."""
    if spans is None:
        raise ValueError(
            "guided SRA needs the prompt's passages and question: pass passages=... to the "
            "Generator (or wrap the call in sra_rag.use_spans(PromptSpans(...)))"
        )
    if layer_idx not in config.layers(num_layers):
        return []
    spans.check(n)
    passages = tuple((p.start, p.end) for p in spans.passages)
    weights = spans.weights
    shares = passage_shares(weights, len(passages), config.temperature)
    rows = (spans.question_start, n)
    if config.rule == "dispense":
        tau = config.eliminate / spans.question_start
        return [
            GuidedDispense(
                rows, passages, shares, tau, config.strength, config.gem_share, config.filler_share
            )
        ]
    if config.rule == "fim":
        return [Calibrate(rows, passages, shares, config.mix)]
    return [Emphasise(rows, passages, shares, _chosen(weights, len(passages), config.top), config.scale)]
