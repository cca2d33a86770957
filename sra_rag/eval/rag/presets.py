"""The RAG benchmark's run sizes: how many samples of which top-k on each split.

Kept apart from the runner so the CLI can offer `--preset` without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RagPreset:
    name: str
    seed: int
    dev_cells: tuple[tuple[int, int], ...]
    """(top-k, samples) of the dev split."""
    test_cells: tuple[tuple[int, int], ...]
    long_slice: tuple[int, int] | None
    """(top-k, samples): a long test cell run under the baseline, the order and the chosen
    combinations only."""
    perplexity: tuple[int, int, int]
    """(tokens, samples, scored tail tokens) of held text."""
    max_new_tokens: int = 12

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RAG_PRESETS = {
    "smoke": RagPreset("smoke", 0, ((4, 1),), ((4, 1),), None, (256, 1, 32), 8),
    # prompts of about 1.6k (k=8), 3.1k (k=16) and, in the long slice, 7.5k (k=38) tokens on SmolLM2
    "full": RagPreset("full", 2307, ((8, 24),), ((8, 24), (16, 10)), (38, 3), (1024, 3, 256)),
}
