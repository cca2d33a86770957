"""The guided Dispenser: the paper's rule on the question rows, its target the passages instead of
one fixed block."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .guided import Counts, GuidedConfig, PassageKeys, passage_shares
from .lazy_torch import torch
from .setting import check_number

if TYPE_CHECKING:
    from .spans import PromptSpans


@dataclass(frozen=True)
class GuidedDispense(GuidedConfig):
    """Weights under `eliminate / question_start` in a question row with any passage weight above
    it become 0, and `strength` times the eliminated mass goes to the passages: across passages by
    their shares (softmax of the passage weights over `temperature`; equal when unweighted), inside
    each by Hidden Gem shares (`gem_share` for keys at or above the threshold, `filler_share`)."""

    rule: ClassVar[str] = "dispense"

    temperature: float = 0.1
    eliminate: float = 0.3
    strength: float = 1.0
    gem_share: float = 100.0
    filler_share: float = 5.0

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = type(self).__name__
        for name in ("temperature", "eliminate", "gem_share", "filler_share"):
            check_number(owner, name, getattr(self, name), low=0.0, strict=True)
        check_number(owner, "strength", self.strength, low=0.0, strict=False)

    def edit(
        self,
        w: torch.Tensor,
        keys: PassageKeys,
        spans: PromptSpans,
        key_mask: torch.Tensor | None,
        stats: bool,
    ) -> Counts | None:
        tau = self.eliminate / spans.question_start
        tiny = torch.finfo(w.dtype).tiny
        view = keys.view(w)  # follows w's edits below
        # elementwise passes are the rule's whole cost: threshold (x > t kept) is the fastest
        # CPU kernel for both the test and the elimination; where/masked_fill take 3-6x longer
        qualifies = keys.sums(torch.nn.functional.threshold(view, tau, 0.0)).sum(-1, keepdim=True) > 0
        row_mass = w.sum(-1, keepdim=True) if stats else None
        # the usual case, every row qualifying: drop every weight below tau in place. Only on a CPU:
        # on a GPU the check would stall the stream at every layer, and masked_fill is not slow there
        if w.device.type == "cpu" and bool(qualifies.all()):
            below = torch.nextafter(w.new_tensor(tau), w.new_tensor(-math.inf))
            torch.nn.functional.threshold_(w, float(below), 0.0)
        else:
            w.masked_fill_(w < torch.where(qualifies, w.new_tensor(tau), -math.inf), 0.0)
        kept = w.sum(-1, keepdim=True)
        handed = torch.where(qualifies, self.strength * (1.0 - kept), 0.0)
        marks = (view >= tau).to(w.dtype).mul_(self.gem_share - self.filler_share).add_(self.filler_share)
        if key_mask is not None:
            marks = marks * keys.view(key_mask)
        totals = keys.sums(marks)
        shares = w.new_tensor(passage_shares(spans.weights, keys.count, self.temperature))
        visible = shares * (totals > 0)  # a passage the window hides gets nothing
        visible = visible / visible.sum(-1, keepdim=True).clamp_min(tiny)
        view.addcmul_(marks, keys.spread(handed * visible / totals.clamp_min(tiny)))
        if not stats:
            return None
        # as the paper's Dispenser counts: mass eliminated, and the scaled mass handed out
        eliminated = torch.where(qualifies, row_mass - kept, 0.0)
        return float(qualifies.sum()), float(eliminated.sum()), float(handed.sum())
