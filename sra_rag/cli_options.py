"""Options several CLI commands share, and the check of their counts before anything loads."""

from __future__ import annotations

import argparse
from typing import Any

MAX_NEW_TOKENS = 48
DTYPES = ("auto", "float32", "bfloat16", "float16")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless it has none (None, a flag) or names it itself."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text:
            return text
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)"


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """--model, and where and how it loads (--device, --device-map, --dtype)."""
    parser.add_argument(
        "--model", default=None, help="a local model folder or .gguf (default: bundled SmolLM2)"
    )
    add_loading_options(parser)


def add_loading_options(parser: argparse.ArgumentParser) -> None:
    """Where and how the model loads: transformers' own `device_map` and `dtype`, passed through."""
    group = parser.add_argument_group("model loading")
    group.add_argument("--device", help="load the model onto this device: cpu, cuda, cuda:1, mps")
    group.add_argument(
        "--device-map", help="'auto': shard the model over the GPUs (and CPU), with accelerate"
    )
    group.add_argument(
        "--dtype", choices=DTYPES, default="auto", help="the weights' dtype ('auto': the checkpoint's)"
    )


def loading_options(args: argparse.Namespace) -> dict[str, Any]:
    """`load_model`'s keyword arguments from the options above."""
    if args.device and args.device_map:
        raise ValueError("pass --device or --device-map, not both (--device cuda is --device-map cuda)")
    return {"device": args.device, "device_map": args.device_map, "dtype": args.dtype}


def add_max_new_tokens(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=MAX_NEW_TOKENS,
        help="the most tokens an answer may have",
    )


def check_counts(args: argparse.Namespace) -> None:
    """The count arguments a command has, checked before anything loads."""
    for name, least in (("keep", 1), ("max_new_tokens", 1), ("limit", 0)):
        value = getattr(args, name, None)
        if value is not None and value < least:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {least}, got {value}")
