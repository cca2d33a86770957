"""The candidates of a calibration, named as the RAG benchmark names settings: the retriever's best
`keep` of the passages it retrieves, in one passage order."""

from __future__ import annotations

from ...rag.order import ORDERS, order_passages
from .presets import CalibrationPreset
from .settings import parse


def setting_name(order: str, keep: int, retrieve: int) -> str:
    """The RAG benchmark's setting name for the best `keep` of `retrieve` passages in `order`."""
    return order if keep == retrieve else f"{order}+top{keep}"


def reference(preset: CalibrationPreset) -> str:
    return setting_name("retrieved", preset.retrieve, preset.retrieve)


def candidates(preset: CalibrationPreset) -> list[str]:
    """Every kept count in every order, once per distinct arrangement of its passages."""
    names, seen = [], set()
    for keep in preset.keeps:
        for order in ORDERS:
            arrangement = (keep, tuple(order_passages(range(keep), order)))
            if arrangement not in seen:
                seen.add(arrangement)
                names.append(setting_name(order, keep, preset.retrieve))
    return names


def setting_of(name: str, preset: CalibrationPreset) -> tuple[int, str]:
    """(keep, order) of a candidate's name."""
    setting = parse(name)
    return setting.top_k or preset.retrieve, setting.order
