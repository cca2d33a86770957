"""The candidates of a calibration, named as the RAG benchmark names settings, searched by
successive halving (`calibrate.calibrate`): the arrangements (the retriever's best `keep` in one
order, the default prompt, stock attention), then the best few in the other prompt layouts, then
the best stock settings with each attention setting."""

from __future__ import annotations

import logging

from ...engine.config import PRESETS
from ...engine.setting import Setting
from ...rag.order import ORDERS, order_passages
from ...rag.prompt_layout import DEFAULT_LAYOUT, LAYOUTS
from .presets import CalibrationPreset
from .settings import ATTENTION, parse

logger = logging.getLogger(__name__)

CALIBRATED_PRESETS = ("paper", "transition", "guided", "guided_fim", "guided_pasta")
"""The shipped attention presets calibrate tries (not `paper_demo`: a demonstration's strengths)."""


def setting_name(order: str, keep: int, retrieve: int) -> str:
    """The RAG benchmark's setting name for the best `keep` of `retrieve` passages in `order`."""
    return order if keep == retrieve else f"{order}+top{keep}"


def reference(preset: CalibrationPreset) -> str:
    """Plain stuffing: every retrieved passage, best first, the default prompt, stock attention."""
    return setting_name("retrieved", preset.retrieve, preset.retrieve)


def arrangements(preset: CalibrationPreset) -> list[str]:
    """Every kept count in every order, once per distinct arrangement of its passages."""
    names, seen = [], set()
    for keep in preset.keeps:
        for order in ORDERS:
            arrangement = (keep, tuple(order_passages(range(keep), order)))
            if arrangement not in seen:
                seen.add(arrangement)
                names.append(setting_name(order, keep, preset.retrieve))
    return names


def in_layouts(names: list[str]) -> list[str]:
    """Each setting in every prompt layout but the default."""
    return [f"{name}+{layout}" for name in names for layout in LAYOUTS if layout != DEFAULT_LAYOUT]


def attention_names(num_layers: int | None = None) -> list[str]:
    """The setting-name part of each calibrated attention preset (that fits a model of
    `num_layers` layers, when given: a guided rule's layers may not exist in a small model)."""
    names = [next(n for n, c in ATTENTION.items() if c == PRESETS[p]) for p in CALIBRATED_PRESETS]
    if num_layers is None:
        return names
    fitting = []
    for name in names:
        try:
            ATTENTION[name].fit(num_layers)
        except ValueError as error:
            logger.info("calibrate skips %s: %s", name, error)
        else:
            fitting.append(name)
    return fitting


def with_attention(names: list[str], num_layers: int | None = None) -> list[str]:
    """Each (stock) setting with each calibrated attention setting that fits the model."""
    return [f"{name}+{attention}" for name in names for attention in attention_names(num_layers)]


def setting_of(name: str, preset: CalibrationPreset) -> tuple[int, str, str, Setting | None]:
    """(keep, order, prompt layout, attention setting) of a candidate's name."""
    setting = parse(name)
    return setting.keep or preset.retrieve, setting.order, setting.layout, setting.sra()
