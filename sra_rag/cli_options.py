"""Options several CLI commands share, and the check of their counts before anything loads."""

from __future__ import annotations

import argparse

MAX_NEW_TOKENS = 48


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
    parser.add_argument(
        "--model", default=None, help="a local model folder or .gguf (default: bundled SmolLM2)"
    )


def add_max_new_tokens(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=MAX_NEW_TOKENS,
        help="the most tokens an answer may have",
    )


def check_counts(args: argparse.Namespace) -> None:
    """The count arguments a command has, checked before anything loads."""
    for name, least in (("top_k", 1), ("max_new_tokens", 1), ("limit", 0)):
        value = getattr(args, name, None)
        if value is not None and value < least:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {least}, got {value}")
