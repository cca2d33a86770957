"""What every entry point says the same way: misspelt keyword arguments (an error, with a
did-you-mean) and a wrapped model that runs without SRA (a warning)."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from typing import Any

from .engine.patch import sra_config
from .generation import DEFAULT

logger = logging.getLogger(__name__)


def check_known(owner: str, given: Iterable[str], known: Iterable[str]) -> None:
    """TypeError naming each unknown argument in `given` and the known one it probably meant."""
    known = sorted(known)
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return
    hints = [
        f"{name!r}: did you mean {match[0]!r}? "
        for name in unknown
        if (match := difflib.get_close_matches(name, known, 1))
    ]
    raise TypeError(f"{owner} got unknown argument(s) {unknown}; {''.join(hints)}known: {known}")


def warn_if_without_sra(owner: str, model: Any, sra: Any) -> None:
    """A wrapper left to the model's own setting, on a model with none, runs the stock attention:
    say so once, where it was built (an explicit `sra=None` means it)."""
    if sra is DEFAULT and sra_config(model) is None:
        logger.warning(
            "%s wraps a model without SRA: calls run the stock attention unless they pass sra=... "
            "(give %s an sra setting, or enable_sra(model, config); sra=None says the baseline is meant)",
            owner,
            owner,
        )
