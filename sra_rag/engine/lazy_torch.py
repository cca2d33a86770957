"""torch, imported on first use: a setting's tensor code lives in its class, yet reading or
validating a config (the CLI's `--help`, its argument checks) must not pay for importing torch."""

from __future__ import annotations

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later reads are plain attribute lookups
        return getattr(module, name)


torch: Any = _LazyModule("torch")
