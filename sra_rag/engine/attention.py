"""The attention function registered with transformers' AttentionInterface under the name "sra".

Fast path: rows are computed by SDPA as before; then only the
rows SRA touches in this layer (an inter block of about n / (L + 3) rows and the question tail,
or the transition intervals) are recomputed eagerly in float32 (float64 for a float64 model),
edited by the rules, and written back. The rules are row-local, so this equals applying them to
the full matrix, at a cost proportional to the touched rows. When the question tail is rewritten
whole (no padding, no window), SDPA skips those rows altogether. The naive path (mode "naive") runs
eager attention on every row and layer and applies the rules to whole matrices, as the authors'
code does: it is the reference the fast path is tested and benchmarked against (it records no
diagnostics).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from .call import current_call
from .diagnostics import Diagnostics
from .eager import attend, attention_weights
from .errors import UnsupportedModelError
from .rules import reallocate
from .setting import Setting, Step
from .spans import PromptSpans, spans_for_sequence
from .state import effective_config
from .step_stats import StepStats

logger = logging.getLogger(__name__)

ATTENTION_NAME = "sra"
# Scores recomputed at once (float32). On a CPU, 16 MiB blocks bound the memory and stay small
# enough for the allocator to reuse freed heap memory (bigger ones are mapped fresh, page by page,
# each time); a GPU's caching allocator has no such cliff, and 256 MiB blocks launch fewer kernels.
BLOCK_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 26}
# Attention arguments that change what attention computes (sinks, soft-capping, a position bias, a
# score modifier): the recomputed rows would silently drop them, so a pass that carries one is
# refused. Everything else generate passes down (positions, the cache, even the tokenizer) is
# bookkeeping, and the mask already holds any window.
_DROPPED = frozenset({"s_aux", "sinks", "softcap", "position_bias", "score_mod", "block_mask"})
_PACKED = frozenset({"cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k"})


def _allowed(mask: torch.Tensor | None) -> torch.Tensor | None:
    """A boolean 'may attend' view of transformers' 4D mask (boolean, or additive float)."""
    if mask is None or mask.dtype == torch.bool:
        return mask
    return mask > torch.finfo(mask.dtype).min / 2


_PACKED_ERROR = (
    "SRA got packed sequences (several prompts in one row, their position ids restarting): its "
    "rules would treat them as one prompt. Run each prompt as its own row (pad them into a batch)"
)


def _refuse_dropped(kwargs: dict[str, Any]) -> None:
    """Raise rather than silently drop what this pass asks of attention beyond SDPA's inputs."""
    given = {name for name, value in kwargs.items() if value is not None}
    if given & _PACKED:
        raise ValueError(_PACKED_ERROR)
    if dropped := sorted(given & _DROPPED):
        raise UnsupportedModelError(
            f"this model passes {', '.join(dropped)} to its attention, which the SRA path cannot "
            "honour: SRA cannot run on it"
        )


def _sequence_spans(
    allowed: torch.Tensor | None, batch: int, length: int, position_ids: torch.Tensor | None
) -> list[tuple[int, int]]:
    """(first real token, number of real tokens) per sequence, read off the mask's diagonal.
    Refuses a mask with holes and, given `position_ids`, ids that restart inside a sequence
    (packing)."""
    real = None
    spans = [(0, length)] * batch
    if allowed is not None:
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
        spans = list(zip(starts.tolist(), counts.tolist(), strict=True))
    if position_ids is not None and position_ids.dim() == 2:
        ids = position_ids.expand(batch, length)
        restarts = ids[:, 1:] <= ids[:, :-1]
        if real is not None:
            restarts &= real[:, 1:] & real[:, :-1]
        if restarts.any():
            raise ValueError(_PACKED_ERROR)
    return spans


def _touched_rows(
    steps: list[Step],
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    keep: torch.Tensor | None,
    scaling: float,
    layer_idx: int,
    recorder: Diagnostics | None,
) -> list[tuple[int, torch.Tensor]]:
    """Recompute one sequence's touched rows: [(first row, output (rows, heads, dim))], in
    `eager.compute_dtype` (float32, or float64 for a float64 model).

    All arguments are sliced to the sequence's real tokens (local coordinates): `query` is
    (heads, n, dim), `key`/`value` are (kv_heads, n, dim) in the model's dtype, `keep` is
    (1|heads, n, n) or None for a plain causal mask. Rows below r1 never see keys from r1 on
    (causality), so each block works on keys [0, r1) only, cast a block at a time.
    """
    heads = query.shape[0]
    limit = BLOCK_ELEMENTS.get(query.device.type, BLOCK_ELEMENTS["cpu"])
    results = []
    for step in steps:
        block = max(1, limit // (heads * step.rows[1]))
        for r0 in range(step.rows[0], step.rows[1], block):
            r1 = min(r0 + block, step.rows[1])
            rows_keep = None if keep is None else keep[:, r0:r1, :r1]
            weights = attention_weights(query[:, r0:r1], key[:, :r1], rows_keep, scaling)
            stats = step.apply(weights, rows_keep, stats=recorder is not None)
            if stats is not None:
                recorder.add(layer_idx, step.kind, stats)
            results.append((r0, attend(weights, value[:, :r1]).transpose(0, 1)))
    return results


def _fast(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    config: Setting,
    num_layers: int,
    scaling: float,
    positions_to_check: torch.Tensor | None,
    prompts: tuple[PromptSpans | None, ...] | None,
    recorder: Diagnostics | None,
    **kwargs: Any,
) -> torch.Tensor:
    batch, _, length, _ = query.shape
    keep = _allowed(attention_mask)
    layer_idx = module.layer_idx
    spans = _sequence_spans(keep, batch, length, positions_to_check)
    plans = [
        config.plan(n, layer_idx, num_layers, spans_for_sequence(prompts, batch, b))
        for b, (_, n) in enumerate(spans)
    ]
    # Without padding or windows every sequence is the whole prompt; a step that owns the
    # prompt's tail (the question) rewrites those rows whole, so SDPA runs on the rows before the
    # latest such tail only: a plain causal block from position 0.
    tail = length
    if keep is None:
        tail = max(min((s.rows[0] for s in steps if s.rows[1] == length), default=length) for steps in plans)
    if tail < length:
        head, _ = sdpa_attention_forward(
            module, query[:, :, :tail], key[:, :, :tail], value[:, :, :tail], None, scaling=scaling, **kwargs
        )
        output = head.new_empty(batch, length, *head.shape[2:])
        output[:, :tail] = head
    else:
        output, _ = sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, **kwargs
        )
    for b, ((start, n), steps) in enumerate(zip(spans, plans, strict=True)):
        if not steps:
            continue
        span = slice(start, start + n)
        seq_keep = None if keep is None else keep[b if keep.shape[0] > 1 else 0, :, span, span]
        rows = _touched_rows(
            steps,
            query[b, :, span],
            key[b, :, span],
            value[b, :, span],
            seq_keep,
            scaling,
            layer_idx,
            recorder,
        )
        for r0, out in rows:
            output[b, start + r0 : start + r0 + out.shape[0]] = out.to(output.dtype)
    return output


def _net_change(before: torch.Tensor, after: torch.Tensor) -> StepStats:
    """What the rules changed in one sequence's (heads, n, n) weights, counted net: the naive path
    applies them whole, so it reports rows changed and mass moved rather than each step's own."""
    delta = after - before
    changed = delta.ne(0).any(-1)  # (heads, rows)
    return StepStats(
        rows=int(changed.any(0).sum()),
        qualifying_pairs=float(changed.sum()),
        eliminated_mass=float(-delta.clamp_max(0).sum()),
        redistributed_mass=float(delta.clamp_min(0).sum()),
    )


def _naive(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    config: Setting,
    num_layers: int,
    scaling: float,
    prefill: bool,
    positions_to_check: torch.Tensor | None,
    prompts: tuple[PromptSpans | None, ...] | None,
    recorder: Diagnostics | None,
) -> torch.Tensor:
    batch, _, length, _ = query.shape
    keys = key.shape[2]
    keep = _allowed(attention_mask)
    if keep is None:
        # causal over a cache that may hold earlier tokens: query i sees keys up to keys - length + i
        keep = torch.ones(length, keys, dtype=torch.bool, device=query.device).tril(keys - length)[None, None]
    weights = attention_weights(query, key, keep, scaling)
    if prefill:
        for b, (start, n) in enumerate(_sequence_spans(keep, batch, length, positions_to_check)):
            span = slice(start, start + n)
            seq_keep = keep[b if keep.shape[0] > 1 else 0, :, span, span]
            before = weights[b, :, span, span]
            after = reallocate(
                before, config, module.layer_idx, num_layers, seq_keep, spans_for_sequence(prompts, batch, b)
            )
            if recorder is not None and (change := _net_change(before, after)).rows:
                recorder.add(module.layer_idx, "naive", change)
            weights[b, :, span, span] = after
    return attend(weights, value).transpose(1, 2).to(query.dtype).contiguous()


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
    call = current_call()  # the one read of this call's state per layer
    found = effective_config(module.config, call)
    config = None if found is None else found[1]
    if call.probe is not None and found is not None and query.shape[2] == key.shape[2] > 1:
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        spans = spans_for_sequence(call.spans, query.shape[0], 0)
        call.probe.observe(
            module.layer_idx, query, key, _allowed(attention_mask), scale, config, found[0].num_layers, spans
        )
    if config is None or module.training:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    state = found[0]
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    q_len, kv_len = query.shape[2], key.shape[2]
    prefill = q_len > 1 and kv_len == q_len
    if q_len > 1 and kv_len != q_len and module.layer_idx == 0:
        logger.warning(
            "SRA skipped a %d-token pass over %d keys: it applies to a prompt processed whole "
            "from an empty dynamic cache (not to a pass that continues a cache, nor a static cache)",
            q_len,
            kv_len,
        )
    if state.mode == "naive" or prefill:  # the passes the recomputed rows serve
        _refuse_dropped(kwargs)
    # every layer sees the same position ids: packing is checked once, at the first layer
    positions_to_check = kwargs.get("position_ids") if module.layer_idx == 0 else None
    if state.mode == "naive":
        output = _naive(
            module,
            query,
            key,
            value,
            attention_mask,
            config,
            state.num_layers,
            scaling,
            prefill,
            positions_to_check,
            call.spans,
            call.recorder,
        )
        return output, None
    if not prefill:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, **kwargs)
    output = _fast(
        module,
        query,
        key,
        value,
        attention_mask,
        config,
        state.num_layers,
        scaling,
        positions_to_check,
        call.spans,
        call.recorder,
        **kwargs,
    )
    return output, None
