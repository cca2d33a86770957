"""Which SRA setting applies to a model right now.

A patched model keeps its default setting here, keyed by its text config (the object every
attention layer holds as `module.config`), so nothing is written into the model or its config
and `save_pretrained` stays clean. A per-call override lives in a ContextVar: it belongs to one
thread or asyncio task, so concurrent calls on one model can each run with or without SRA.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from .config import AnyConfig

Mode = Literal["fast", "naive"]


@dataclass(frozen=True)
class PatchState:
    """What `enable_sra` set on one model, and what `disable_sra` must restore."""

    config: AnyConfig | None
    mode: Mode
    previous_implementation: str | dict[str, Any]  # per sub-config on composite models
    num_layers: int
    patch_id: int = 0  # tells one patching of a model from the next
    leases: int | None = None  # open use_sra blocks that patched it; None: patched for good


_LOCK = threading.RLock()
_STATES: dict[int, PatchState] = {}
_FINALIZED: set[int] = set()
_OVERRIDES: ContextVar[dict[int, AnyConfig | None] | None] = ContextVar("sra_overrides", default=None)


def patch_lock() -> threading.RLock:
    """Held while a model is patched or restored, so two threads never interleave that."""
    return _LOCK


def get_state(text_config: Any) -> PatchState | None:
    return _STATES.get(id(text_config))


def set_state(text_config: Any, state: PatchState) -> None:
    """Install `state` with one assignment, so a concurrent forward sees the old or the new whole."""
    key = id(text_config)
    if key not in _FINALIZED:  # forget the state when the config (and so the model) is collected
        _FINALIZED.add(key)
        weakref.finalize(text_config, _forget, key)
    _STATES[key] = state


def _forget(key: int) -> None:
    _STATES.pop(key, None)
    _FINALIZED.discard(key)


def clear_state(text_config: Any) -> None:
    _STATES.pop(id(text_config), None)


def effective_config(text_config: Any) -> tuple[PatchState, AnyConfig | None] | None:
    """The state of the model owning `text_config` and the config in force for this call."""
    state = _STATES.get(id(text_config))
    if state is None:
        return None
    overrides = _OVERRIDES.get() or {}
    return state, overrides.get(id(text_config), state.config)


@contextmanager
def override(text_config: Any, config: AnyConfig | None) -> Iterator[None]:
    """Within this context (this thread or task only), use `config` for that model."""
    token = _OVERRIDES.set({**(_OVERRIDES.get() or {}), id(text_config): config})
    try:
        yield
    finally:
        _OVERRIDES.reset(token)
