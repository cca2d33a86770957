"""sra-rag: Scaled ReAttention for Hugging Face causal LMs, for retrieval-augmented generation."""

from .config import (
    PRESETS,
    GuidedConfig,
    SRAConfig,
    TransitionConfig,
    config_from_dict,
    config_from_json,
    config_to_json,
    load_config,
    preset,
)
from .diagnostics import Diagnostics, record_diagnostics
from .models import load_model
from .patch import (
    UnsupportedModelError,
    disable_sra,
    enable_sra,
    is_patched,
    is_supported,
    sra_config,
    use_sra,
)
from .rules import plan, reallocate
from .spans import PassageSpan, PromptSpans, use_spans

__all__ = [
    "PRESETS",
    "Diagnostics",
    "GuidedConfig",
    "PassageSpan",
    "PromptSpans",
    "SRAConfig",
    "TransitionConfig",
    "UnsupportedModelError",
    "config_from_dict",
    "config_from_json",
    "config_to_json",
    "disable_sra",
    "enable_sra",
    "is_patched",
    "is_supported",
    "load_config",
    "load_model",
    "plan",
    "preset",
    "reallocate",
    "record_diagnostics",
    "sra_config",
    "use_spans",
    "use_sra",
]
