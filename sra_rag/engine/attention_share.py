"""How much attention the prompt's last rows (the question) pay to chosen spans of the prompt.

RAG users want to see SRA's effect where it matters: does the question attend more to the
retrieved source that holds the answer? Inside `record_attention_share(...)`, every prefill pass
of a model patched by sra-rag (SRA on or off) reports, per layer, the question rows' post-softmax
weights summed over each span, after the SRA rules in force for that call. The rows are recomputed
eagerly in float32 from the same query and key states; the rules are row-local, so this is exactly
what the model used, at a cost of (question rows x prompt length) per layer and head.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from .call import within
from .eager import attention_weights
from .rules import plan
from .setting import Setting
from .spans import PromptSpans

Span = tuple[int, int]


@dataclass
class AttentionShare:
    """Per layer: the mean (over heads and question rows) weight on each span, and per head the
    weight on each span from the question rows (their mean) and from the prompt's last row."""

    spans: list[Span]
    question_rows: int
    layers: dict[int, list[float]] = field(default_factory=dict)
    heads: dict[int, torch.Tensor] = field(default_factory=dict)
    """Per layer, (2, heads, spans) float64: [0] the question rows' mean, [1] the last row."""

    def by_span(self) -> list[float]:
        """Each span's share of the question's attention, averaged over the layers seen."""
        if not self.layers:
            raise RuntimeError(
                "no prefill pass was recorded: run the model on the prompt inside the block, and "
                "patch it first (enable_sra(model, None) patches it with SRA off)"
            )
        shares = torch.tensor(list(self.layers.values()), dtype=torch.float64)
        return shares.mean(0).tolist()

    @torch.no_grad()
    def observe(
        self,
        layer_idx: int,
        query: torch.Tensor,
        key: torch.Tensor,
        keep: torch.Tensor | None,
        scaling: float,
        config: Setting | None,
        num_layers: int,
        spans: PromptSpans | None,
    ) -> None:
        """Record one layer's prefill pass; query (1, heads, n, dim), key (1, kv_heads, n, dim),
        keep: the layer's boolean mask (1, 1|heads, n, n), or None for plain causal attention;
        `spans`: the prompt's passages, for a guided setting."""
        if query.shape[0] != 1:
            raise ValueError("attention share is measured on one prompt at a time, not a padded batch")
        n = query.shape[2]
        if not 0 < self.question_rows < n or any(not 0 <= s < e <= n for s, e in self.spans):
            raise ValueError(
                f"spans {self.spans} and {self.question_rows} question rows do not fit a {n}-token prompt"
            )
        first = n - self.question_rows
        rows_keep = None if keep is None else keep[0, :, first:]
        weights = attention_weights(query[0, :, first:], key[0], rows_keep, scaling)
        for step in plan(config, n, layer_idx, num_layers, spans):
            r0, r1 = max(step.rows[0], first), min(step.rows[1], n)
            if r0 < r1:
                # rules are row-local (see rules.py): a sub-block is edited as in the full matrix
                mask = None if keep is None else rows_keep[:, r0 - first : r1 - first]
                step.apply(weights[:, r0 - first : r1 - first], mask)
        per_span = torch.stack([weights[..., s:e].sum(-1) for s, e in self.spans], -1)  # (heads, rows, spans)
        self.layers[layer_idx] = per_span.mean((0, 1)).tolist()
        self.heads[layer_idx] = torch.stack([per_span.mean(1), per_span[:, -1]]).double().cpu()

    def by_layer_and_head(self) -> torch.Tensor:
        """(layers, 2, heads, spans): per layer seen (in order), the question rows' mean weight on
        each span by head ([:, 0]) and the last row's ([:, 1])."""
        if not self.heads:
            self.by_span()  # the same error: nothing was recorded
        return torch.stack([self.heads[layer] for layer in sorted(self.heads)])


@contextmanager
def record_attention_share(spans: Sequence[Span], question_rows: int) -> Iterator[AttentionShare]:
    """Measure the attention the last `question_rows` prompt tokens pay to each `(start, end)` span.

    >>> with record_attention_share([(10, 200), (200, 390)], question_rows=24) as share:
    ...     model(input_ids)
    >>> share.by_span()  # e.g. [0.12, 0.31]
    """
    share = AttentionShare([tuple(s) for s in spans], question_rows)
    with within(probe=share):
        yield share
