"""sra-rag: Scaled ReAttention for Hugging Face causal LMs, for retrieval-augmented generation.

The public names load on first use (PEP 562), so `import sra_rag.engine.config` or the CLI's `--help`
never pays for importing torch and transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "engine.config": (
            "PRESETS",
            "config_from_dict",
            "config_from_json",
            "config_to_json",
            "load_config",
            "preset",
        ),
        "engine.diagnostics": ("Diagnostics", "record_diagnostics"),
        "engine.guided": ("GuidedConfig",),
        "engine.guided_dispense": ("GuidedDispense",),
        "engine.guided_fim": ("GuidedFim",),
        "engine.guided_pasta": ("GuidedPasta",),
        "models": ("load_model",),
        "engine.patch": (
            "UnsupportedModelError",
            "disable_sra",
            "enable_sra",
            "is_patched",
            "is_supported",
            "sra_config",
            "use_sra",
        ),
        "engine.rules": ("plan", "reallocate"),
        "engine.spans": ("PassageSpan", "PromptSpans", "use_spans"),
        "engine.sra": ("SRAConfig",),
        "engine.transition": ("TransitionConfig",),
    },
)

if TYPE_CHECKING:
    from .engine.config import (
        PRESETS,
        config_from_dict,
        config_from_json,
        config_to_json,
        load_config,
        preset,
    )
    from .engine.diagnostics import Diagnostics, record_diagnostics
    from .engine.guided import GuidedConfig
    from .engine.guided_dispense import GuidedDispense
    from .engine.guided_fim import GuidedFim
    from .engine.guided_pasta import GuidedPasta
    from .engine.patch import (
        UnsupportedModelError,
        disable_sra,
        enable_sra,
        is_patched,
        is_supported,
        sra_config,
        use_sra,
    )
    from .engine.rules import plan, reallocate
    from .engine.spans import PassageSpan, PromptSpans, use_spans
    from .engine.sra import SRAConfig
    from .engine.transition import TransitionConfig
    from .models import load_model
