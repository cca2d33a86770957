"""What one rule step did to the rows it was given: the common currency of every rule and of
the diagnostics that add them up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepStats:
    """Qualifying (head, row) pairs, mass removed and mass added (summed over heads and rows),
    and, for the guided rules, the net mass change on each passage (in prompt order)."""

    rows: int
    qualifying_pairs: float
    eliminated_mass: float
    redistributed_mass: float
    passage_mass: tuple[float, ...] = ()
