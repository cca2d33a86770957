"""Eager attention for chosen query rows, in float32 (float64 for a float64 model): the one
recompute behind the fast path's touched rows, the naive path's full matrices and the
attention-share probe. Half-precision models are lifted to float32 so that the rules' thresholds
act on accurate weights; a float64 model stays in float64, so a float64 run is float64 throughout
(the parity tests rely on it: float32 results differ between CPUs).

Grouped-query attention is handled without copying K or V per head: each key/value head's group of
query heads is folded into rows, so one batched matmul serves the whole group.
"""

from __future__ import annotations

import torch


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32, or the model's own dtype where that is wider (float64)."""
    return torch.promote_types(dtype, torch.float32)


def attention_weights(
    query: torch.Tensor, key: torch.Tensor, allowed: torch.Tensor | None, scaling: float
) -> torch.Tensor:
    """Post-softmax weights (..., heads, rows, keys), in `compute_dtype(query.dtype)`, of `query`
    (..., heads, rows, dim) over `key` (..., kv_heads, keys, dim), where `allowed`
    (broadcastable, True = may attend). `allowed` None is plain causal attention with the rows the
    last ones of the keys: only their own square is cut, and no mask is built."""
    *lead, heads, rows, dim = query.shape
    kv_heads, keys = key.shape[-3], key.shape[-2]
    dtype = compute_dtype(query.dtype)
    folded = (query.to(dtype) * scaling).reshape(*lead, kv_heads, heads // kv_heads * rows, dim)
    scores = torch.matmul(folded, key.to(dtype).transpose(-1, -2)).view(*lead, heads, rows, keys)
    minimum = torch.finfo(scores.dtype).min
    if allowed is None:
        future = torch.ones(rows, rows, dtype=torch.bool, device=scores.device).triu(1)
        scores[..., keys - rows :].masked_fill_(future, minimum)
    else:
        scores.masked_fill_(~allowed, minimum)
    return torch.softmax(scores, dim=-1)


def attend(weights: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Weights (..., heads, rows, keys) applied to `value` (..., kv_heads, keys, dim): the
    attention output (..., heads, rows, dim) in the weights' dtype."""
    *lead, heads, rows, keys = weights.shape
    kv_heads = value.shape[-3]
    folded = weights.view(*lead, kv_heads, heads // kv_heads * rows, keys)
    return torch.matmul(folded, value.to(weights.dtype)).view(*lead, heads, rows, value.shape[-1])
