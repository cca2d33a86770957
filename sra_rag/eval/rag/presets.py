"""Run sizes: the RAG benchmark's (how many samples of which top-k on each split) and `sra-rag calibrate`'s.

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


@dataclass(frozen=True)
class CalibrationPreset:
    name: str
    seed: int
    dev_questions: int
    test_questions: int
    retrieve: int
    """Passages retrieved per question; the reference reads them all."""
    keeps: tuple[int, ...]
    """The candidate numbers of passages kept (best first by the retriever)."""
    max_new_tokens: int = 12
    """Tokens of the stem-forced greedy reply (the secondary accuracy)."""
    free_tokens: int = 24
    """Tokens of the free-form reply, as `ask` answers, that must contain the gold answer."""
    layouts_on: int = 2
    """Successive halving: the best arrangements that are tried in the other prompt layouts."""
    attention_on: int = 1
    """... and the best stock settings after that, tried with each attention setting."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CALIBRATION_PRESETS = {
    "smoke": CalibrationPreset("smoke", 0, 2, 2, 2, (1,), 4, free_tokens=4, layouts_on=1, attention_on=1),
    # a new seed: neither the RAG benchmark (2307), the first profiles (5309) nor the probes of
    # issue 28 have read these questions; keep 16 is the reference, always run
    "full": CalibrationPreset("full", 7411, 40, 150, 16, (1, 2, 3, 5, 8)),
}
