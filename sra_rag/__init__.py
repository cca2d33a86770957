"""sra-rag: Scaled ReAttention for Hugging Face causal LMs, for retrieval-augmented generation."""

from .config import PRESETS, SRAConfig, TransitionConfig, config_from_dict, load_config, preset
from .diagnostics import Diagnostics, record_diagnostics
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

__all__ = [
    "PRESETS",
    "Diagnostics",
    "SRAConfig",
    "TransitionConfig",
    "UnsupportedModelError",
    "config_from_dict",
    "disable_sra",
    "enable_sra",
    "is_patched",
    "is_supported",
    "load_config",
    "plan",
    "preset",
    "reallocate",
    "record_diagnostics",
    "sra_config",
    "use_sra",
]
