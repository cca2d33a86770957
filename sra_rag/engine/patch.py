"""Switch SRA on and off on a Hugging Face causal LM: enable_sra, disable_sra, use_sra.

Patching changes one thing on the model: its attention implementation becomes "sra" (a function
registered once with transformers' AttentionInterface). The setting itself is kept beside the
model (`state.py`), and `disable_sra` puts every (sub-)config's previous implementation back, so
the model is exactly the stock model again.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import AttentionInterface, PreTrainedModel
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .attention import ATTENTION_NAME, sra_attention_forward
from .config import PAPER
from .errors import UnsupportedModelError
from .rules import require_setting
from .setting import Setting
from .state import Mode, PatchState, clear_state, get_state, override, patch_lock, set_state

_PATCH_IDS = itertools.count()


def _register() -> None:
    """Register the attention and mask functions (idempotent)."""
    if ALL_ATTENTION_FUNCTIONS.get(ATTENTION_NAME) is not sra_attention_forward:
        AttentionInterface.register(ATTENTION_NAME, sra_attention_forward)
        AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)


def _implementations(config: Any) -> str | dict[str, Any]:
    """The attention implementation of `config` and of each sub-config, in the form
    `set_attn_implementation` takes back: composite models may mix them (eager vision, SDPA text)."""
    subs = {key: getattr(config, key, None) for key in getattr(config, "sub_configs", {})}
    nested = {key: _implementations(sub) for key, sub in subs.items() if sub is not None}
    return {"": config._attn_implementation, **nested} if nested else config._attn_implementation


def _text_config(model: PreTrainedModel) -> Any:
    return model.config.get_text_config()


def _has_rope(config: Any) -> bool:
    return bool(getattr(config, "rope_parameters", None)) or getattr(config, "rope_theta", None) is not None


def unsupported_reason(model: Any) -> str | None:
    """Why `model` cannot run SRA, or None when it can."""
    if not isinstance(model, PreTrainedModel):
        return f"expected a transformers PreTrainedModel, got {type(model).__name__}"
    model_type = getattr(model.config, "model_type", type(model).__name__)
    if not (type(model)._supports_attention_backend and type(model)._can_set_attn_implementation()):
        return (
            f"model type {model_type!r} ({type(model).__name__}) does not route attention through "
            "transformers' AttentionInterface, which SRA plugs into"
        )
    if not type(model)._supports_sdpa:
        return (
            f"model type {model_type!r} ({type(model).__name__}) does not support SDPA attention "
            "(its attention needs more than SDPA gives, e.g. attention sinks), and SRA builds on SDPA"
        )
    if getattr(_text_config(model), "attn_logit_softcapping", None) is not None:
        return (
            f"model type {model_type!r} soft-caps its attention logits, which the fused SDPA kernel "
            "SRA builds on cannot do"
        )
    if not _has_rope(_text_config(model)):
        return (
            f"model type {model_type!r} has no rotary position embedding (RoPE); SRA is defined "
            "for RoPE models, whose attention decays with distance"
        )
    return None


def is_supported(model: Any) -> bool:
    """True when `enable_sra` can patch `model`."""
    return unsupported_reason(model) is None


def check_config(config: Any, model: PreTrainedModel | None = None) -> None:
    """Raise TypeError unless `config` is an SRA setting or None; with `model`, ValueError unless
    the setting fits it (a guided rule's layers)."""
    require_setting(config)
    if config is not None and model is not None:
        config.fit(_text_config(model).num_hidden_layers)


def enable_sra(
    model: PreTrainedModel, config: Setting | None = PAPER, *, mode: Mode = "fast"
) -> PreTrainedModel:
    """Patch `model` in place so its prefill passes apply `config` (None: routed, but inactive).

    `mode="naive"` runs eager attention everywhere and applies the rules to full matrices, as the
    authors' code does: slow, for checking and benchmarking the default fast path.
    """
    check_config(config, model)
    if mode not in ("fast", "naive"):
        raise ValueError(f"mode must be 'fast' or 'naive', got {mode!r}")
    reason = unsupported_reason(model)
    if reason is not None:
        raise UnsupportedModelError(reason)
    text_config = _text_config(model)
    with patch_lock():
        _register()
        state = get_state(text_config)
        if state is not None:  # an explicit enable also outlives the use_sra blocks that patched first
            set_state(text_config, dataclasses.replace(state, config=config, mode=mode, leases=None))
            return model
        previous = _implementations(model.config)
        model.set_attn_implementation(ATTENTION_NAME)
        if text_config._attn_implementation != ATTENTION_NAME:
            model.set_attn_implementation(previous)
            raise UnsupportedModelError(
                f"{type(model).__name__} refused the attention implementation {ATTENTION_NAME!r}"
            )
        set_state(
            text_config,
            PatchState(config, mode, previous, text_config.num_hidden_layers, patch_id=next(_PATCH_IDS)),
        )
    return model


def disable_sra(model: PreTrainedModel) -> PreTrainedModel:
    """Restore the attention implementations the model had before `enable_sra` (no-op if unpatched)."""
    text_config = _text_config(model)
    with patch_lock():
        state = get_state(text_config)
        if state is None:
            return model
        model.set_attn_implementation(state.previous_implementation)
        clear_state(text_config)
    return model


def sra_config(model: PreTrainedModel) -> Setting | None:
    """The model's default SRA setting (None when unpatched or patched inactive)."""
    state = get_state(_text_config(model))
    return None if state is None else state.config


def is_patched(model: PreTrainedModel) -> bool:
    return get_state(_text_config(model)) is not None


@contextmanager
def use_sra(model: PreTrainedModel, config: Setting | None) -> Iterator[PreTrainedModel]:
    """Run the block with `config` (None: baseline); the previous state is back afterwards.

    The setting belongs to this thread or asyncio task only, on a patched model and an unpatched
    one alike. An unpatched model is patched inactive while any such block is open (callers outside
    the blocks keep the stock results: SDPA, the same kernel as an SDPA model's own) and restored
    when the last block exits. A model loaded with eager or flash attention runs SDPA outside the
    blocks meanwhile; to mix settings concurrently on such a model, `enable_sra(model, None)` once.
    """
    check_config(config, model)
    with sra_call(model, config):
        yield model


@contextmanager
def sra_call(model: PreTrainedModel, config: Setting | None, **call: Any) -> Iterator[None]:
    """`use_sra` for a setting already checked, entering the call's other fields (`call.Call`:
    spans, recorder, probe) at the same time: a call's whole state in one place."""
    text_config = _text_config(model)
    with patch_lock():
        if not is_patched(model):
            enable_sra(model, None)
            set_state(text_config, dataclasses.replace(get_state(text_config), leases=0))
        state = get_state(text_config)
        if state.leases is not None:
            set_state(text_config, dataclasses.replace(state, leases=state.leases + 1))
    try:
        with override(text_config, config, **call):
            yield
    finally:
        with patch_lock():
            now = get_state(text_config)
            # the same patch still leased (not disabled, enabled for good or re-patched meanwhile)
            if now is not None and now.patch_id == state.patch_id and now.leases is not None:
                if now.leases > 1:
                    set_state(text_config, dataclasses.replace(now, leases=now.leases - 1))
                else:
                    disable_sra(model)
