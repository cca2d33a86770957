"""How a profile is chosen on dev (`CHOICE`) and when it ships (`SHIP`), written before the test
split is read: `sra-rag calibrate` copies both into the profile, and the test phase applies them
as written. Comparisons are paired: the same question over the same corpus and retrieval."""

from __future__ import annotations

from typing import Any

from .rule import beats

CHOICE = (
    "the candidate with the largest mean paired gain in the gold answer's log-probability over the "
    "reference (all retrieved passages, best first: RagPipeline's default without a profile), among "
    "the candidates whose dev accuracy is not below the reference's; the reference if none gains"
)
SHIP = {
    "ships": "a profile becomes its model's shipped default (RagPipeline, make demo, the adapters' "
    "recipes) only if, on the test split, the 95% t-interval of the paired per-question accuracy "
    "difference (profile minus the reference) lies above 0 and the paired mean gold log-probability "
    "difference is >= 0; a profile that is the reference has nothing to ship",
    "reported": "beside it, not deciding: the same comparisons for the strongest simple alternatives "
    "(the best 8 in retrieved and in LongContextReorder order, the best 3 and the best 5), exact "
    "McNemar p-values, the gold passage alone (the reader's ceiling), and the target of +10 points "
    "over the reference",
}


def choose(rows: dict[str, dict[str, Any]], reference: str) -> str:
    """`CHOICE` applied to a dev table (`calibrate.table`)."""
    floor = rows[reference]["accuracy"]["rate"]
    allowed = [n for n, row in rows.items() if row["accuracy"]["rate"] >= floor]
    gain = {n: rows[n][f"vs_{reference}"]["logprob"]["mean"] or 0.0 for n in allowed}
    best = max(allowed, key=lambda n: (gain[n], n == reference))
    return best if gain[best] > 0 else reference


def ships(chosen: str, reference: str, diff: dict[str, Any]) -> bool:
    """`SHIP` applied to the chosen setting's paired difference from the reference on test."""
    logprob = diff["logprob"]["mean"]
    return chosen != reference and beats(diff) and logprob is not None and logprob >= 0
