"""Options several CLI commands share, and the check of their counts before anything loads."""

from __future__ import annotations

import argparse

MAX_NEW_TOKENS = 48


def add_max_new_tokens(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=MAX_NEW_TOKENS,
        help=f"answer length cap (default {MAX_NEW_TOKENS})",
    )


def check_counts(args: argparse.Namespace) -> None:
    """The count arguments a command has, checked before anything loads."""
    for name, least in (("top_k", 1), ("max_new_tokens", 1), ("limit", 0)):
        value = getattr(args, name, None)
        if value is not None and value < least:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {least}, got {value}")
