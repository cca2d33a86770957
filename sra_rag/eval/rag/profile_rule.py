"""How a profile is chosen on dev (`CHOICE`) and when it ships (`SHIP`), written before the test
split is read: `sra-rag calibrate` copies both into the profile, and the test phase applies them
as written. Comparisons are paired: the same question over the same corpus and retrieval.

Accuracy first: users judge the answers `ask` gives, so both rules read free-form accuracy (the
gold answer in the first `free_tokens` of the greedy reply to the pipeline's own prompt); the
stem-forced gold log-probability breaks ties and is reported beside it.
"""

from __future__ import annotations

from typing import Any

from ...rag.prompt_layout import DEFAULT_LAYOUT
from .settings import parse
from .ship_rule import beats

MIN_GAIN = 0.05
"""The least paired free-form accuracy gain over the reference on dev for a candidate to be chosen."""

CHOICE = (
    "successive halving on the dev split, every candidate ranked by its paired free-form accuracy "
    "gain over the reference (all retrieved passages, best first, the sources_first prompt, stock "
    "attention: plain stuffing), then by its paired gain in the stem-forced gold log-probability, "
    "then stock attention before an SRA setting and the default prompt before another layout: (1) "
    "every arrangement (keep x order); (2) the best `layouts_on` of them in the other prompt "
    "layouts; (3) the best `attention_on` stock settings so far with each calibrated attention "
    f"setting. The best-ranked candidate of all is chosen if its accuracy gain is >= {MIN_GAIN:g}, "
    "else the reference"
)
SHIP = {
    "ships": "a profile becomes its model's shipped default (RagPipeline, sra-rag ask, make demo, "
    "the adapters' recipes) only if, on the test split, the 95% t-interval of the paired "
    "per-question free-form accuracy difference (profile minus the reference) lies above 0; a "
    "profile that is the reference has nothing to ship",
    "reported": "beside it, not deciding: the stem-forced accuracy and gold log-probability, the same "
    "comparisons for the strongest simple alternatives (the best 8 in retrieved and in "
    "LongContextReorder order, the best 3 and the best 5), the profile shipped before (the best 5, "
    "best last, stock attention; and with the paper's SRA, as `ask` ran it by default), the chosen "
    "setting with stock attention and the default prompt, exact McNemar p-values, and the gold "
    "passage alone (the reader's ceiling)",
}


def rank_key(rows: dict[str, dict[str, Any]], name: str, reference: str) -> tuple[float, float, bool, bool]:
    """Accuracy gain, log-probability gain, stock attention, default layout: larger is better."""
    diff = rows[name][f"vs_{reference}"]
    setting = parse(name)
    return (
        diff["accuracy"]["mean"] or 0.0,
        diff["logprob"]["mean"] or 0.0,
        setting.config is None,
        setting.layout == DEFAULT_LAYOUT,
    )


def ranked(rows: dict[str, dict[str, Any]], names: list[str], reference: str) -> list[str]:
    """`names`, best first by `rank_key`."""
    return sorted(names, key=lambda n: rank_key(rows, n, reference), reverse=True)


def choose(rows: dict[str, dict[str, Any]], reference: str) -> str:
    """`CHOICE`'s last step, on a dev table (`calibrate.table`) of every candidate run."""
    best = ranked(rows, [n for n in rows if n != reference], reference)[0]
    return best if rank_key(rows, best, reference)[0] >= MIN_GAIN else reference


def ships(chosen: str, reference: str, diff: dict[str, Any]) -> bool:
    """`SHIP` applied to the chosen setting's paired difference from the reference on test."""
    return chosen != reference and beats(diff)
