"""Applying a setting's rules: `plan` (one layer's steps) and `reallocate` (the rules on full
matrices, the reference the fast path is tested against). Coordinates are local: position 0 is
the sequence's first real token. Each setting plans its own steps (`setting.Setting.plan`); this
module is where a config, or None, meets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .setting import SETTING_CLASSES, Setting, Step

if TYPE_CHECKING:
    import torch

    from .spans import PromptSpans


def require_setting(config: object) -> None:
    """TypeError unless `config` is an SRA setting or None."""
    if config is not None and not isinstance(config, Setting):
        kinds = ", ".join(cls.__name__ for cls in SETTING_CLASSES.values())
        raise TypeError(
            f"sra must be an SRA setting ({kinds}: see sra_rag.PRESETS) or None, got {type(config).__name__}"
        )


def plan(
    config: Setting | None,
    n: int,
    layer_idx: int,
    num_layers: int,
    spans: PromptSpans | None = None,
) -> list[Step]:
    """The steps layer `layer_idx` of `num_layers` applies to a prompt of `n` real tokens
    (`spans`: where its passages and question are; the guided rules need them). The attention
    path calls `config.plan` itself: its setting was checked once, where the call entered."""
    require_setting(config)
    return [] if config is None else config.plan(n, layer_idx, num_layers, spans)


def reallocate(
    weights: torch.Tensor,
    config: Setting | None,
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
