"""The error for a model SRA cannot run on: raised when patching and, for what only shows in a
forward pass (arguments the SRA path cannot honour), there."""

from __future__ import annotations


class UnsupportedModelError(ValueError):
    """The model cannot run SRA: no AttentionInterface routing, no SDPA support (attention sinks),
    logit soft-capping, no RoPE, or attention arguments the SRA path would silently drop."""
