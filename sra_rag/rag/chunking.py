"""Token-aware chunks with overlap, counted in the embedding model's tokens.

Counting in the embedder's own tokens keeps every chunk inside what it embeds (all-MiniLM-L6-v2
truncates at 256 word pieces); chunks start and end on word boundaries, so no word is cut.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from .documents import Document


@dataclass(frozen=True)
class ChunkingParams:
    chunk_tokens: int = 200
    overlap_tokens: int = 40

    def __post_init__(self) -> None:
        if self.chunk_tokens < 8:
            raise ValueError(f"chunk_tokens must be >= 8, got {self.chunk_tokens}")
        if not 0 <= self.overlap_tokens < self.chunk_tokens:
            raise ValueError(
                f"overlap_tokens must be in [0, chunk_tokens={self.chunk_tokens}), got {self.overlap_tokens}"
            )


@dataclass(frozen=True)
class Chunk:
    source: str
    index: int  # position of the chunk within its document
    text: str
    start: int  # character offsets into the document
    end: int


def chunk_document(document: Document, tokenizer: Any, params: ChunkingParams) -> list[Chunk]:
    """Split one document into windows of at most `params.chunk_tokens` tokens that start and end
    on word boundaries, each overlapping the previous one by about `params.overlap_tokens`."""
    text = document.text
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoded["offset_mapping"]
    count = len(offsets)
    # a token after a gap (whitespace) begins a word; cutting only there never splits a word
    starts = [i for i in range(count) if i == 0 or offsets[i][0] > offsets[i - 1][1]]
    chunks: list[Chunk] = []
    first = 0
    while count:
        last = count
        if first + params.chunk_tokens < count:
            before = bisect.bisect_right(starts, first + params.chunk_tokens) - 1
            last = starts[before] if starts[before] > first else first + params.chunk_tokens
        start, end = offsets[first][0], offsets[last - 1][1]
        chunks.append(Chunk(document.source, len(chunks), text[start:end], start, end))
        if last == count:
            break
        # the next window starts at a word start inside the overlap; with no such start (a run of
        # text without spaces, as in Chinese, URLs or code), at the overlap itself: never past `last`
        overlap_start = max(first + 1, last - params.overlap_tokens)
        after = bisect.bisect_left(starts, overlap_start)
        first = starts[after] if after < len(starts) and starts[after] <= last else overlap_start
    return chunks
