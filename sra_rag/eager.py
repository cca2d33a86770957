"""Eager attention for chosen query rows, in float32: the one recompute behind the fast path's
touched rows, the naive path's full matrices and the attention-share probe.

Grouped-query attention is handled without copying K or V per head: each key/value head's group of
query heads is folded into rows, so one batched matmul serves the whole group.
"""

from __future__ import annotations

import torch


def attention_weights(
    query: torch.Tensor, key: torch.Tensor, allowed: torch.Tensor | None, scaling: float
) -> torch.Tensor:
    """Post-softmax float32 weights (..., heads, rows, keys) of `query` (..., heads, rows, dim)
    over `key` (..., kv_heads, keys, dim), where `allowed` (broadcastable, True = may attend).
    `allowed` None is plain causal attention with the rows the last ones of the keys: only their
    own square is cut, and no mask is built."""
    *lead, heads, rows, dim = query.shape
    kv_heads, keys = key.shape[-3], key.shape[-2]
    folded = (query.float() * scaling).reshape(*lead, kv_heads, heads // kv_heads * rows, dim)
    scores = torch.matmul(folded, key.float().transpose(-1, -2)).view(*lead, heads, rows, keys)
    minimum = torch.finfo(scores.dtype).min
    if allowed is None:
        future = torch.ones(rows, rows, dtype=torch.bool, device=scores.device).triu(1)
        scores[..., keys - rows :].masked_fill_(future, minimum)
    else:
        scores.masked_fill_(~allowed, minimum)
    return torch.softmax(scores, dim=-1)


def attend(weights: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Weights (..., heads, rows, keys) applied to `value` (..., kv_heads, keys, dim): the
    attention output (..., heads, rows, dim) in float32."""
    *lead, heads, rows, keys = weights.shape
    kv_heads = value.shape[-3]
    folded = weights.view(*lead, kv_heads, heads // kv_heads * rows, keys)
    return torch.matmul(folded, value.float()).view(*lead, heads, rows, value.shape[-1])
