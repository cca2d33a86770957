"""`sra-rag bench`'s variants and arguments, apart from the benchmark so the CLI can parse them
without importing torch."""

from __future__ import annotations

import argparse
from pathlib import Path

from ...engine.config import PRESETS
from ...engine.setting import Setting
from ..model_choice import add_model_argument

VARIANTS: dict[str, tuple[Setting | None, str]] = {
    "baseline": (None, "fast"),
    "sra": (PRESETS["paper"], "fast"),
    "transition": (PRESETS["transition"], "fast"),
    "guided": (PRESETS["guided"], "fast"),
    "sra_naive": (PRESETS["paper"], "naive"),
}
DEFAULT_LENGTHS = (1024, 4096, 8000)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS), help="prompt tokens")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant and length")
    parser.add_argument("--decode-tokens", type=int, default=16, help="decode steps timed per run")
    parser.add_argument("--naive-up-to", type=int, help="skip the slow naive path above this many tokens")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=[v for v in VARIANTS if v != "baseline"],
        help="which variants run beside the baseline (default: all)",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="JSON report path (default docs/results/speed_<model>.json)")
    parser.add_argument("--no-plots", action="store_true", help="write the JSON only")
    parser.add_argument(
        "--report", type=Path, help="no run: print the table of a saved report and redraw its plot"
    )
