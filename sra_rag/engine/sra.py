"""Scaled ReAttention, the paper's second version (docs/algorithm.md, section 1): the Dispenser
on a sweeping inter block and on the question tail."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from .lazy_torch import torch
from .setting import Setting, Step, check_int, check_number
from .step_stats import StepStats

if TYPE_CHECKING:
    from .spans import PromptSpans


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
        """Edit `w` (..., rows, keys) in place (see `setting.Step`)."""
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
class SRAConfig(Setting):
    """Scaled ReAttention (docs/algorithm.md, section 1). Defaults are the reference code's (`paper`)."""

    name: ClassVar[str] = "sra"

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
        check_int(owner, "begin_length", self.begin_length, low=0)
        check_int(owner, "question_length", self.question_length, low=0)
        for name in ("inter_eliminate", "outer_eliminate", "gem_share", "filler_share"):
            check_number(owner, name, getattr(self, name), low=0.0, strict=True)
        for name in ("inter_strength", "outer_strength"):
            check_number(owner, name, getattr(self, name), low=0.0, strict=False)
        if self.dynamic_question_divisor is not None:
            check_int(owner, "dynamic_question_divisor", self.dynamic_question_divisor, low=1)

    def question_tokens(self, n: int) -> int:
        """The question tail `t` for a prompt of `n` tokens."""
        if self.dynamic_question_divisor is None:
            return self.question_length
        return n // self.dynamic_question_divisor

    def plan(self, n: int, layer_idx: int, num_layers: int, spans: PromptSpans | None = None) -> list[Step]:
        if layer_idx >= num_layers - 1:
            return []
        blocks = num_layers + 3
        question = self.question_tokens(n)
        begin = self.begin_length
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
                        tau=self.inter_eliminate / (q0 - begin),
                        strength=self.inter_strength,
                        gem_share=self.gem_share,
                        filler_share=self.filler_share,
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
                        tau=self.outer_eliminate / (n - question),
                        strength=self.outer_strength,
                        gem_share=self.gem_share,
                        filler_share=self.filler_share,
                    )
                )
        return steps
