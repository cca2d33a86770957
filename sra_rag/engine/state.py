"""Which SRA setting applies to a model right now.

A patched model keeps its default setting here, keyed by its text config (the object every
attention layer holds as `module.config`), so nothing is written into the model or its config
and `save_pretrained` stays clean. A per-call override is part of the call (`call.Call`): it
belongs to one thread or asyncio task, so concurrent calls on one model can each run with or
without SRA.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from .call import Call, current_call, within
from .setting import Setting

Mode = Literal["fast", "naive"]


@dataclass(frozen=True)
class PatchState:
    """What `enable_sra` set on one model, and what `disable_sra` must restore."""

    config: Setting | None
    mode: Mode
    previous_implementation: str | dict[str, Any]  # per sub-config on composite models
    num_layers: int
    patch_id: int = 0  # tells one patching of a model from the next
    leases: int | None = None  # open use_sra blocks that patched it; None: patched for good


_LOCK = threading.RLock()
_STATES: dict[int, PatchState] = {}
_FINALIZED: set[int] = set()


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


def effective_config(text_config: Any, call: Call | None = None) -> tuple[PatchState, Setting | None] | None:
    """The state of the model owning `text_config` and the config in force for `call` (None: the
    current one)."""
    state = _STATES.get(id(text_config))
    if state is None:
        return None
    return state, (call or current_call()).settings.get(id(text_config), state.config)


@contextmanager
def override(text_config: Any, config: Setting | None, **call: Any) -> Iterator[None]:
    """Within this context (this thread or task only), use `config` for that model, and the other
    fields of the call (`call.Call`) given."""
    with within(settings={**current_call().settings, id(text_config): config}, **call):
        yield
