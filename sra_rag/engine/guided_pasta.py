"""PASTA-style emphasis: the question rows' attention outside the chosen passages scaled down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .guided import Counts, GuidedConfig, PassageKeys
from .lazy_torch import torch
from .setting import check_int, check_number

if TYPE_CHECKING:
    from .spans import PromptSpans


@dataclass(frozen=True)
class GuidedPasta(GuidedConfig):
    """Attention outside the `top` highest-weight passages is scaled by `scale` and each question
    row renormalised to its mass. The chosen passages are the `top` best among those weighted above
    0 (ties: the earlier one); all passages when they are unweighted or equally weighted, when
    `top` is 0 or when there are no more than `top` of them; then the passages as a whole are
    emphasised over the rest of the prompt."""

    rule: ClassVar[str] = "pasta"

    scale: float = 0.5
    top: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = type(self).__name__
        check_number(owner, "scale", self.scale, low=0.0, strict=True, high=1.0)
        check_int(owner, "top", self.top, low=0)

    def chosen(self, weights: tuple[float, ...] | None, count: int) -> tuple[bool, ...]:
        """Which of `count` passages keep their attention."""
        if weights is None or self.top == 0 or len(set(weights)) == 1:
            return (True,) * count
        best = sorted((i for i in range(count) if weights[i] > 0), key=lambda i: (-weights[i], i))[: self.top]
        return tuple(i in best for i in range(count))

    def edit(
        self,
        w: torch.Tensor,
        keys: PassageKeys,
        spans: PromptSpans,
        key_mask: torch.Tensor | None,
        stats: bool,
    ) -> Counts | None:
        """Masked keys are zero and stay so: `key_mask` is not needed."""
        mass = w.sum(-1, keepdim=True)
        chosen = w.new_tensor([1.0 if c else self.scale for c in self.chosen(spans.weights, keys.count)])
        factor = w.new_full((w.shape[-1],), self.scale)
        keys.view(factor)[:] = torch.where(keys.inside, keys.spread(chosen), self.scale)
        w.mul_(factor)
        w.mul_(mass / w.sum(-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny))
        return (float(w[..., 0].numel()), None, None) if stats else None
