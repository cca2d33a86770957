"""Found-in-the-Middle-style calibration of the question rows' attention on the passages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .guided import Counts, GuidedConfig, PassageKeys, passage_shares
from .lazy_torch import torch
from .setting import check_number

if TYPE_CHECKING:
    from .spans import PromptSpans


@dataclass(frozen=True)
class GuidedFim(GuidedConfig):
    """Each passage's part of a question row's attention on passages moves a fraction `mix` of the
    way to its share (softmax of the passage weights over `temperature`; equal when unweighted);
    the row's total on passages is kept."""

    rule: ClassVar[str] = "fim"

    temperature: float = 0.1
    mix: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = type(self).__name__
        check_number(owner, "temperature", self.temperature, low=0.0, strict=True)
        check_number(owner, "mix", self.mix, low=0.0, strict=True)
        if self.mix > 1:
            raise ValueError(f"{owner}.mix must be <= 1, got {self.mix!r}")

    def edit(
        self,
        w: torch.Tensor,
        keys: PassageKeys,
        spans: PromptSpans,
        key_mask: torch.Tensor | None,
        stats: bool,
    ) -> Counts | None:
        """Scaling leaves masked (zero) keys at zero, so `key_mask` is not needed."""
        tiny = torch.finfo(w.dtype).tiny
        view = keys.view(w)
        mass = keys.sums(view)
        # a passage with (next to) no mass, e.g. outside a sliding window, keeps it and gets none:
        # scaling it up would overflow, and a hidden passage has nothing to scale
        seen_mask = mass > tiny**0.5
        seen = w.new_tensor(passage_shares(spans.weights, keys.count, self.temperature)) * seen_mask
        target = seen / seen.sum(-1, keepdim=True).clamp_min(tiny) * (mass * seen_mask).sum(-1, keepdim=True)
        factor = torch.where(
            seen_mask, ((1 - self.mix) * mass + self.mix * target) / mass.clamp_min(tiny), 1.0
        )
        view.mul_(torch.where(keys.inside, keys.spread(factor), 1.0))
        return (float(w[..., 0].numel()), None, None) if stats else None
