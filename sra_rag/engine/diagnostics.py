"""What SRA did during a forward pass, layer by layer.

Counting costs a device sync per step, so it happens only inside `record_diagnostics()`; the
recorder is part of the call (`call.Call`), so concurrent calls each see only their own passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from .call import within
from .step_stats import StepStats


@dataclass
class LayerReport:
    """Totals for one layer over every sequence and prefill pass recorded."""

    layer_idx: int
    rows_touched: int = 0
    qualifying_pairs: int = 0
    eliminated_mass: float = 0.0
    redistributed_mass: float = 0.0
    rows_by_kind: dict[str, int] = field(default_factory=dict)
    passage_mass: list[float] = field(default_factory=list)
    """Guided rules: the net attention mass each passage gained (prompt order)."""

    def add(self, kind: str, stats: StepStats) -> None:
        self.rows_touched += stats.rows
        self.qualifying_pairs += int(stats.qualifying_pairs)
        self.eliminated_mass += stats.eliminated_mass
        self.redistributed_mass += stats.redistributed_mass
        self.rows_by_kind[kind] = self.rows_by_kind.get(kind, 0) + stats.rows
        _accumulate(self.passage_mass, stats.passage_mass)


def _accumulate(totals: list[float], values: tuple[float, ...] | list[float]) -> None:
    totals.extend([0.0] * (len(values) - len(totals)))
    for i, value in enumerate(values):
        totals[i] += value


@dataclass
class Diagnostics:
    """Per-layer reports of the prefill passes run inside one `record_diagnostics()` block."""

    layers: dict[int, LayerReport] = field(default_factory=dict)

    def add(self, layer_idx: int, kind: str, stats: StepStats) -> None:
        report = self.layers.setdefault(layer_idx, LayerReport(layer_idx))
        report.add(kind, stats)

    @property
    def changed(self) -> bool:
        """True when some row had mass eliminated or redistributed."""
        return any(r.redistributed_mass > 0 or r.eliminated_mass > 0 for r in self.layers.values())

    def summary(self) -> dict[str, Any]:
        """A small JSON-ready digest (for response metadata and logs)."""
        reports = list(self.layers.values())
        summary: dict[str, Any] = {
            "layers_touched": len(reports),
            "rows_touched": sum(r.rows_touched for r in reports),
            "qualifying_pairs": sum(r.qualifying_pairs for r in reports),
            "eliminated_mass": sum(r.eliminated_mass for r in reports),
            "redistributed_mass": sum(r.redistributed_mass for r in reports),
        }
        passage_mass: list[float] = []
        for report in reports:
            _accumulate(passage_mass, report.passage_mass)
        if passage_mass:
            summary["passage_mass"] = passage_mass
        return summary

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "layers": [asdict(self.layers[k]) for k in sorted(self.layers)],
        }


@contextmanager
def record_diagnostics() -> Iterator[Diagnostics]:
    """Collect what SRA does in the forward passes run inside this block.

    >>> with record_diagnostics() as diag:
    ...     model(**inputs)
    >>> diag.summary()["rows_touched"]
    """
    diagnostics = Diagnostics()
    with within(recorder=diagnostics):
        yield diagnostics
