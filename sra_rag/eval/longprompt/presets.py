"""How big a run is: `smoke` (CI, under a minute), `full` (the published run), `lite` (a slower
second model), `grid` (the seed's whole transition grid), `long` and `long8k` (needle at 4k, 8k).

The budget is a shared 2-core CPU where a 1k-token SmolLM2 prefill takes 3-7 s and a 4k one
12-30 s, and one prefill is needed per sample and setting (`full` is about 45 minutes there).
So settings are chosen on a cheap dev slice (one length, every candidate), and only the
baseline, the two paper presets and the dev winner run on the test slice across lengths;
answers are scored mainly by teacher-forced log-probability (one prefill) with a few greedy
tokens for exact match.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .settings import SETTINGS, SRA_SWEEP, TRANSITION_GRID


@dataclass(frozen=True)
class EvalPreset:
    name: str
    seed: int
    tasks: tuple[str, ...]
    dev_lengths: tuple[int, ...]
    dev_samples: int
    """Per task and dev length."""
    dev_settings: tuple[str, ...]
    test_cells: tuple[tuple[int, int], ...]
    """(prompt tokens, samples per task) of the test split."""
    test_settings: tuple[str, ...]
    """Always run on test; the dev winner is added when it is not among them."""
    long_slice: tuple[int, int] | None
    """(tokens, samples): a small needle-only test slice at a longer length."""
    depths: dict[str, tuple[float, ...]]
    """Gold depths per task, cycled over sample indices."""
    perplexity_tokens: int
    perplexity_samples: int
    perplexity_tail: int
    max_new_tokens: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [s for s in (*self.dev_settings, *self.test_settings) if s not in SETTINGS]
        if unknown:
            raise ValueError(f"unknown settings {unknown} in eval preset {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_DEPTHS = {"needle": (0.1, 0.5, 0.9), "kv": (0.1, 0.5, 0.9), "mdqa": (0.0, 0.5, 1.0)}

_FULL = EvalPreset(
    name="full",
    seed=2307,
    tasks=("needle", "kv", "mdqa"),
    dev_lengths=(1024,),
    dev_samples=4,
    dev_settings=(
        "baseline",
        "paper",
        "paper_demo",
        "transition",
        "transition_a0.7_b0.3_l3",
        "transition_a1.0_b0.3_l3",
        *SRA_SWEEP,
    ),
    test_cells=((1024, 6), (2048, 3)),
    test_settings=("baseline", "paper", "paper_demo"),
    long_slice=None,
    depths=_DEPTHS,
    perplexity_tokens=1024,
    perplexity_samples=3,
    perplexity_tail=256,
    max_new_tokens=7,
)
# the longer prompts the full run cannot afford for every task: needle only, paper presets only
_LONG = replace(
    _FULL,
    name="long",
    tasks=("needle",),
    dev_lengths=(),
    dev_samples=0,
    dev_settings=("baseline",),
    test_cells=((4096, 6),),
    perplexity_samples=0,
)

EVAL_PRESETS: dict[str, EvalPreset] = {
    "smoke": EvalPreset(
        name="smoke",
        seed=0,
        tasks=("needle", "kv", "mdqa"),
        dev_lengths=(512,),
        dev_samples=1,
        dev_settings=("baseline", "paper", "transition"),
        test_cells=((512, 1),),
        test_settings=("baseline", "paper"),
        long_slice=None,
        depths=_DEPTHS,
        perplexity_tokens=512,
        perplexity_samples=1,
        perplexity_tail=64,
        max_new_tokens=6,
    ),
    "full": _FULL,
    # a second, slower model in the time left: fewer candidates, one length
    "lite": replace(
        _FULL,
        name="lite",
        dev_settings=("baseline", "paper", "paper_demo", "transition"),
        test_cells=((1024, 6),),
    ),
    # the seed's whole Attention Transition grid on full's dev samples; the winner goes to test
    "grid": replace(
        _FULL,
        name="grid",
        dev_settings=("baseline", *TRANSITION_GRID),
        test_settings=("baseline", "transition"),
    ),
    "long": _LONG,
    # the model's whole window (SmolLM2: 8192 tokens): a few samples
    "long8k": replace(_LONG, name="long8k", test_cells=((8000, 4),)),
}


def eval_preset(name: str) -> EvalPreset:
    try:
        return EVAL_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown eval preset {name!r}; choose one of {sorted(EVAL_PRESETS)}") from None
