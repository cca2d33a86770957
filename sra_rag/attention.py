"""The attention function registered with transformers' AttentionInterface under the name "sra".

Fast path (DESIGN.md, "The attention path"): every row is computed by SDPA as before; then only
the rows SRA touches in this layer (an inter block of about n / (L + 3) rows and the question
tail, or the transition intervals) are recomputed eagerly in float32, edited by the rules, and
written back. The rules are row-local, so this equals applying them to the full matrix, at a cost
proportional to the touched rows. The naive path (mode "naive") runs eager attention on every row
and layer and applies the rules to whole matrices, as the authors' code does: it is the reference
the fast path is tested and benchmarked against (it records no diagnostics).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

from .config import AnyConfig
from .diagnostics import active_recorder
from .rules import Step, plan, reallocate
from .state import effective_config

logger = logging.getLogger(__name__)

ATTENTION_NAME = "sra"
ROW_BLOCK = 256  # query rows recomputed at once: bounds the float32 block to heads x 256 x n


def _allowed(mask: torch.Tensor | None) -> torch.Tensor | None:
    """A boolean 'may attend' view of transformers' 4D mask (boolean, or additive float)."""
    if mask is None or mask.dtype == torch.bool:
        return mask
    return mask > torch.finfo(mask.dtype).min / 2


def _sequence_spans(allowed: torch.Tensor | None, batch: int, length: int) -> list[tuple[int, int]]:
    """(first real token, number of real tokens) per sequence, read off the mask's diagonal."""
    if allowed is None:
        return [(0, length)] * batch
    real = allowed[:, 0].diagonal(dim1=-2, dim2=-1).expand(batch, length)
    counts = real.sum(-1)
    starts = real.int().argmax(-1)
    positions = torch.arange(length, device=real.device)
    contiguous = (positions >= starts[:, None]) & (positions < (starts + counts)[:, None])
    if not torch.equal(contiguous, real):
        raise ValueError(
            "SRA needs each sequence's real tokens in one contiguous run (left or right padding); "
            "got an attention mask with holes"
        )
    return list(zip(starts.tolist(), counts.tolist(), strict=True))


def _causal(rows: range, keys: int, offset: int, device: torch.device) -> torch.Tensor:
    """Causal 'may attend' for query rows `rows` over `keys` keys; query i sees keys <= i + offset."""
    row_index = torch.arange(rows.start, rows.stop, device=device)[:, None] + offset
    return (torch.arange(keys, device=device)[None, :] <= row_index)[None]


def _softmax(scores: torch.Tensor, keep: torch.Tensor, softcap: float | None) -> torch.Tensor:
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1)


def _touched_rows(
    steps: list[Step],
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    keep: torch.Tensor | None,
    start: int,
    scaling: float,
    softcap: float | None,
    layer_idx: int,
) -> list[tuple[int, torch.Tensor]]:
    """Recompute one sequence's touched rows: [(first local row, output (rows, heads, dim))].

    `query` is (heads, q, dim) for the sequence; `key`/`value` are (kv_heads, n, dim) float32,
    sliced to its real tokens; `keep` is (1|heads, q, kv) or None for a plain causal mask.
    """
    heads, _, dim = query.shape
    kv_heads, n, _ = key.shape
    groups = heads // kv_heads
    recorder = active_recorder()
    results = []
    for step in steps:
        for r0 in range(step.rows[0], step.rows[1], ROW_BLOCK):
            r1 = min(r0 + ROW_BLOCK, step.rows[1])
            q = query[:, start + r0 : start + r1].float()
            # grouped-query attention without copying K/V: fold each group's heads into rows
            scores = (q.reshape(kv_heads, groups * (r1 - r0), dim) @ key.transpose(-1, -2)) * scaling
            scores = scores.view(heads, r1 - r0, n)
            if keep is None:
                rows_keep = _causal(range(r0, r1), n, 0, q.device)
            else:
                rows_keep = keep[:, start + r0 : start + r1, start : start + n]
            weights = _softmax(scores, rows_keep, softcap)
            stats = step.apply(weights, rows_keep, stats=recorder is not None)
            if stats is not None:
                recorder.add(layer_idx, step.kind, stats)
            out = weights.view(kv_heads, groups * (r1 - r0), n) @ value
            results.append((r0, out.view(heads, r1 - r0, dim).transpose(0, 1)))
    return results


def _fast(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    config: AnyConfig,
    num_layers: int,
    scaling: float,
    softcap: float | None,
    **kwargs: Any,
) -> torch.Tensor:
    output, _ = sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
    batch, _, length, _ = query.shape
    keep = _allowed(attention_mask)
    layer_idx = module.layer_idx
    for b, (start, n) in enumerate(_sequence_spans(keep, batch, length)):
        steps = plan(config, n, layer_idx, num_layers)
        if not steps:
            continue
        seq_keep = None if keep is None else keep[b if keep.shape[0] > 1 else 0]
        rows = _touched_rows(
            steps,
            query[b],
            key[b, :, start : start + n].float(),
            value[b, :, start : start + n].float(),
            seq_keep,
            start,
            scaling,
            softcap,
            layer_idx,
        )
        for r0, out in rows:
            output[b, start + r0 : start + r0 + out.shape[0]] = out.to(output.dtype)
    return output


def _naive(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    config: AnyConfig,
    num_layers: int,
    scaling: float,
    softcap: float | None,
    prefill: bool,
) -> torch.Tensor:
    batch, heads, length, _ = query.shape
    groups = heads // key.shape[1]
    keys = repeat_kv(key, groups).float()
    values = repeat_kv(value, groups).float()
    keep = _allowed(attention_mask)
    if keep is None:
        keep = _causal(range(length), keys.shape[2], keys.shape[2] - length, query.device)[None]
    weights = _softmax((query.float() @ keys.transpose(2, 3)) * scaling, keep, softcap)
    if prefill:
        for b, (start, n) in enumerate(_sequence_spans(keep, batch, length)):
            span = slice(start, start + n)
            seq_keep = keep[b if keep.shape[0] > 1 else 0, :, span, span]
            weights[b, :, span, span] = reallocate(
                weights[b, :, span, span], config, module.layer_idx, num_layers, seq_keep
            )
    return (weights @ values).transpose(1, 2).to(query.dtype).contiguous()


def sra_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: SDPA, plus the SRA rules on the rows they touch."""
    found = effective_config(module.config)
    config = None if found is None else found[1]
    if config is None or module.training:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    state = found[0]
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    softcap = kwargs.get("softcap")
    q_len, kv_len = query.shape[2], key.shape[2]
    prefill = q_len > 1 and kv_len == q_len
    if q_len > 1 and kv_len != q_len:
        logger.warning(
            "SRA skipped a %d-token pass that continues from %d cached tokens: it applies to a "
            "prompt processed whole, from an empty cache",
            q_len,
            kv_len - q_len,
        )
    if state.mode == "naive":
        output = _naive(
            module, query, key, value, attention_mask, config, state.num_layers, scaling, softcap, prefill
        )
        return output, None
    if not prefill:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
    output = _fast(
        module, query, key, value, attention_mask, config, state.num_layers, scaling, softcap, **kwargs
    )
    return output, None
