"""sra-rag: Scaled ReAttention for Hugging Face causal LMs, for retrieval-augmented generation.

The public names load on first use (PEP 562), so `import sra_rag.config` or the CLI's `--help`
never pays for importing torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "config": (
            "PRESETS",
            "GuidedConfig",
            "SRAConfig",
            "TransitionConfig",
            "config_from_dict",
            "config_from_json",
            "config_to_json",
            "load_config",
            "preset",
        ),
        "diagnostics": ("Diagnostics", "record_diagnostics"),
        "models": ("load_model",),
        "patch": (
            "UnsupportedModelError",
            "disable_sra",
            "enable_sra",
            "is_patched",
            "is_supported",
            "sra_config",
            "use_sra",
        ),
        "rules": ("plan", "reallocate"),
        "spans": ("PassageSpan", "PromptSpans", "use_spans"),
    },
)

if TYPE_CHECKING:
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
