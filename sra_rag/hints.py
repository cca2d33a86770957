"""One error for misspelt keyword arguments, with a did-you-mean, for every entry point."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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
