"""Rankers of retrieved passages read off the reader's own attention, and how well they rank.

In-context re-ranking (ICR, arXiv 2410.02642) scores each passage by the attention the query's
tokens pay to it, calibrated by the same prompt with a content-free query; Selective-ICR keeps the
best layers only. A `Candidate` is one such reader: which rows (the question's, or the prompt's
last), which layers, which heads (all, or one key/value group) and which calibration (none, the
content-free pass, or a per-slot position prior estimated on calibration data). Its scores can be
fused with the retriever's ranking by reciprocal-rank fusion. Everything here works on recorded
attention tensors (`AttentionShare.by_layer_and_head`), so choosing among hundreds of candidates
costs no forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

ROWS = ("question", "last")
CALIBRATIONS = ("none", "content_free", "position_prior")
CONTENT_FREE_QUESTION = "N/A"
"""ICR's content-free query: the same prompt, its question replaced."""
RRF_K = 60
"""Reciprocal-rank fusion's constant (Cormack et al. 2009)."""
BAND = 3
"""Layers a candidate averages over: a band of 3 around its centre (a single layer is noisy)."""


@dataclass(frozen=True)
class Candidate:
    """One way to read passage scores off attention `(layers, 2, heads, passages)` tensors."""

    rows: str
    first_layer: int
    last_layer: int  # inclusive
    head_group: int | None  # a key/value group's heads, or None for all heads
    calibration: str

    @property
    def name(self) -> str:
        heads = "all" if self.head_group is None else f"g{self.head_group}"
        return f"{self.rows}/L{self.first_layer}-{self.last_layer}/{heads}/{self.calibration}"

    def raw(self, attention: torch.Tensor, groups: int) -> torch.Tensor:
        """Mean weight on each passage over the candidate's layers and heads: (..., passages) from
        (..., layers, 2, heads, passages)."""
        picked = attention[..., self.first_layer : self.last_layer + 1, ROWS.index(self.rows), :, :]
        if self.head_group is not None:
            size = picked.shape[-2] // groups
            picked = picked[..., self.head_group * size : (self.head_group + 1) * size, :]
        return picked.mean((-3, -2))

    def scores(
        self, attention: torch.Tensor, free: torch.Tensor, prior: torch.Tensor | None, groups: int
    ) -> torch.Tensor:
        """Calibrated passage scores (..., passages); `prior` is the per-slot mean of `raw` on
        calibration data (needed for `position_prior` only)."""
        raw = self.raw(attention, groups)
        if self.calibration == "content_free":
            return raw - self.raw(free, groups)
        if self.calibration == "position_prior":
            if prior is None:
                raise ValueError("a position prior needs calibration data")
            return raw - prior
        return raw


def candidates(num_layers: int, groups: int) -> list[Candidate]:
    """Every candidate: bands of `BAND` layers around each layer, and all layers but the first and
    last; both row kinds; all heads and each key/value group; each calibration."""
    half = BAND // 2
    bands = [(max(0, c - half), min(num_layers - 1, c + half)) for c in range(num_layers)]
    bands.append((1, num_layers - 2))
    heads: list[int | None] = [None, *range(groups)] if groups > 1 else [None]
    return [
        Candidate(rows, first, last, group, calibration)
        for rows in ROWS
        for first, last in dict.fromkeys(bands)
        for group in heads
        for calibration in CALIBRATIONS
    ]


def ranks_from_scores(scores: torch.Tensor) -> torch.Tensor:
    """Rank (1 = best) of each passage, (..., passages); ties go to the earlier slot, which is the
    retriever's better rank (passages are held in retrieval order)."""
    order = torch.sort(-scores, dim=-1, stable=True).indices
    return torch.argsort(order, dim=-1, stable=True) + 1


def fuse(ranks: torch.Tensor) -> torch.Tensor:
    """Reciprocal-rank fusion of the attention ranking with the retriever's (slot i has retriever
    rank i + 1): a score per passage, higher is better."""
    retriever = torch.arange(1, ranks.shape[-1] + 1, dtype=torch.float64)
    return 1.0 / (RRF_K + ranks.double()) + 1.0 / (RRF_K + retriever)


def gold_ranks(scores: torch.Tensor, gold: Sequence[int | None]) -> list[int | None]:
    """The gold passage's rank under `scores` (samples, passages); None when it was not retrieved."""
    ranks = ranks_from_scores(scores)
    return [None if g is None else int(ranks[i, g]) for i, g in enumerate(gold)]


def reciprocal(ranks: Sequence[int | None]) -> list[float]:
    """1 / rank, 0 for a passage the retriever missed."""
    return [0.0 if r is None else 1.0 / r for r in ranks]


@dataclass(frozen=True)
class Fitted:
    """A candidate chosen on some samples, with the prior it needs, scoring other samples."""

    candidate: Candidate
    prior: torch.Tensor | None
    fused: bool

    def scores(self, attention: torch.Tensor, free: torch.Tensor, groups: int) -> torch.Tensor:
        own = self.candidate.scores(attention, free, self.prior, groups)
        return fuse(ranks_from_scores(own)) if self.fused else own


def fit_in_sample(
    candidate: Candidate,
    attention: torch.Tensor,
    free: torch.Tensor,
    gold: Sequence[int | None],
    groups: int,
    fused: bool,
) -> tuple[float, Fitted]:
    """`candidate` fitted on these samples (`attention`, `free`: (samples, layers, 2, heads,
    passages); its position prior is their per-slot mean), and the mean reciprocal rank of the
    gold passage it gives them."""
    fitted = Fitted(candidate, candidate.raw(attention, groups).mean(0), fused)
    ranks = gold_ranks(fitted.scores(attention, free, groups), gold)
    return sum(reciprocal(ranks)) / len(gold), fitted


def fit(
    pool: list[Candidate],
    attention: torch.Tensor,
    free: torch.Tensor,
    gold: Sequence[int | None],
    groups: int,
    fused: bool,
) -> Fitted:
    """The candidate with the highest mean reciprocal rank on these samples; ties: the earlier one
    (`max` keeps the first of equals)."""
    if not pool:
        raise ValueError("no candidates to fit")
    scored = [fit_in_sample(c, attention, free, gold, groups, fused) for c in pool]
    return max(scored, key=lambda pair: pair[0])[1]
