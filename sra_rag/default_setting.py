"""The `DEFAULT` sentinel, apart from `generation` so that code that only names it (the command
line, before its arguments are checked) does not import torch."""

from __future__ import annotations

from typing import Any


class _Default:
    """A singleton that stays one through copy and pickle (adapters deep-copy their fields)."""

    def __repr__(self) -> str:
        return "DEFAULT"

    def __reduce__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""Per-call `sra=DEFAULT` keeps the model's own setting (or a profile's, where one applies); None
is the baseline."""
