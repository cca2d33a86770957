"""What one call hands its forward passes, in one place: the SRA setting per model, where the
prompt's passages are, the diagnostics recorder and the attention probe.

A call (a `generate`, a scoring pass, a test's forward) enters `within(...)` once; the attention
function reads `current_call()` once per layer. It lives in a single ContextVar, so it belongs to
one thread or asyncio task, and concurrent calls on one model never see each other's state.
Nested blocks change only the fields they name (`use_spans` inside `use_sra` keeps the setting).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .attention_share import AttentionShare
    from .diagnostics import Diagnostics
    from .setting import Setting
    from .spans import PromptSpans


@dataclass(frozen=True)
class Call:
    """The state of one call; every field defaults to "nothing given"."""

    settings: Mapping[int, Setting | None] = field(default_factory=dict)
    """The setting for this call, by model (the id of its text config); a model not named here
    runs its default setting (`state.PatchState.config`)."""
    spans: tuple[PromptSpans | None, ...] | None = None
    """Where the passages and the question are: one entry per sequence of the batch."""
    recorder: Diagnostics | None = None
    """Collects what the rules did (`record_diagnostics`)."""
    probe: AttentionShare | None = None
    """Measures the question's attention on spans (`record_attention_share`)."""


_CALL: ContextVar[Call] = ContextVar("sra_call", default=Call())  # noqa: B039 - frozen, never mutated


def current_call() -> Call:
    """The call in force for this thread or task."""
    return _CALL.get()


@contextmanager
def within(**changes: Any) -> Iterator[Call]:
    """Run the block with these fields of the call changed (the others as they are)."""
    call = dataclasses.replace(_CALL.get(), **changes)
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)
