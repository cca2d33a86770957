"""The `sra-rag` command line.

demo     index the bundled corpus (once); the default against plain stuffing on its 48 questions
index    index a folder of .txt/.md files (only new and changed files are embedded again)
ask      answer a question from an index
compare  answer it with and without SRA, with the attention each source received
eval     does SRA help? seeded tasks with dev/test splits and confidence intervals (sra_rag.eval)
rag-eval does it help RAG? orders, top-k, paper and guided SRA over a retriever's passages
calibrate a model's RAG profile, measured as `ask` answers (and, for published numbers, judged)
bench    what SRA costs: prefill/decode time and memory against the baseline
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cli_options import (
    DefaultsHelpFormatter,
    add_max_new_tokens,
    add_model_option,
    check_counts,
    loading_options,
)
from .default_setting import DEFAULT
from .demo import add_demo_arguments
from .engine.config import PRESETS, load_config
from .engine.setting import Setting
from .eval.bench.options import add_bench_arguments
from .eval.longprompt.command import add_eval_arguments
from .eval.rag.calibrate_command import add_calibrate_arguments
from .eval.rag.command import add_rag_arguments
from .rag.order import DEFAULT_ORDER, ORDERS
from .rag.profile import DEFAULT_KEEP, NO_PROFILE, SHIPPED
from .rag.prompt_layout import DEFAULT_LAYOUT, LAYOUTS

logger = logging.getLogger("sra_rag.cli")


def _later(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    """A command's runner, imported when the command runs: parsing arguments (and `--help`) never
    imports torch, transformers or sentence-transformers."""

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), function)(args)

    return run


def _config(args: argparse.Namespace) -> Any:
    """The SRA setting asked for: --no-sra, --config, or DEFAULT (the profile's, else the paper's)."""
    config = None if args.config is None else load_config(args.config)  # a bad one fails, --no-sra too
    if getattr(args, "no_sra", False):
        return None
    return DEFAULT if config is None else config


def _console() -> Any:
    from rich.console import Console

    return Console()


def _pipeline(index_path: str | Path, args: argparse.Namespace, sra: Setting | None) -> Any:
    """The arguments and the index are checked before torch and the model load."""
    from .rag.store import load_index

    check_counts(args)
    load = loading_options(args)
    index = load_index(index_path)
    from .rag.pipeline import RagPipeline

    return RagPipeline.from_index(
        index,
        args.model,
        sra=sra,
        load_kwargs=load,
        keep=args.keep,
        order=args.order,
        prompt=args.prompt,
        profile=None if args.profile == NO_PROFILE else args.profile or SHIPPED,
        max_new_tokens=args.max_new_tokens,
    )


def _index(args: argparse.Namespace) -> int:
    from .rag import ChunkingParams, Embedder, index_folder

    params = ChunkingParams(args.chunk_tokens, args.overlap_tokens)
    # the embedder loads its model on first use: a bad corpus fails before that
    _, report = index_folder(args.folder, args.out, Embedder(), params, progress=True)
    files = len(report.added) + len(report.changed) + len(report.unchanged)
    _console().print(
        f"{args.out}: {report.chunks} chunks from {files} files ({len(report.added)} added, "
        f"{len(report.changed)} changed, {len(report.removed)} removed, {len(report.unchanged)} unchanged; "
        f"{report.embedded_chunks} chunks embedded)"
    )
    return 0


def _ask(args: argparse.Namespace) -> int:
    pipeline = _pipeline(args.index, args, _config(args))
    console = _console()
    with console.status("retrieving and generating"):
        answer = pipeline.ask(args.question)
    console.print(answer.answer)
    sra = answer.sra.name if answer.sra else "off"
    facts = (
        f"{answer.prompt_tokens} prompt tokens, {answer.seconds:.1f} s, SRA: {sra}, "
        f"{len(answer.sources)} sources, order: {pipeline.order}, prompt: {pipeline.layout}"
    )
    console.print(f"[dim]{facts}[/dim]", soft_wrap=True)
    profile = pipeline.profile.describe() if pipeline.profile else "none (plain defaults)"
    console.print(f"[dim]profile: {profile}[/dim]", soft_wrap=True)
    for s in answer.sources:
        console.print(f"[dim][{s.number}] {s.chunk.source} (score {s.score:.3f}, rank {s.rank})[/dim]")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from rich.table import Table

    config = load_config(args.config)
    pipeline = _pipeline(args.index, args, None)
    console = _console()
    with console.status("answering without SRA, then with it"):
        baseline, sra = pipeline.compare(args.question, sra=config)
    console.print(f"[bold]baseline:[/bold] {baseline.answer}")
    console.print(f"[bold]SRA ({config.name}):[/bold] {sra.answer}")
    table = Table(title=f"the question's attention per source ({pipeline.order} order)")
    for column in ("#", "source", "rank", "score", "baseline", "SRA", "change"):
        table.add_column(column, justify="right" if column not in ("source",) else "left")
    for b, s in zip(baseline.sources, sra.sources, strict=True):
        change = (s.attention - b.attention) / b.attention if b.attention else 0.0
        table.add_row(
            str(b.number),
            b.chunk.source,
            str(b.rank),
            f"{b.score:.3f}",
            f"{b.attention:.4f}",
            f"{s.attention:.4f}",
            f"{change:+.1%}",
        )
    console.print(table)
    return 0


def _add_retrieval_options(parser: argparse.ArgumentParser) -> None:
    add_model_option(parser)
    parser.add_argument(
        "--keep",
        "--top-k",
        dest="keep",
        type=int,
        help=f"chunks stuffed into the prompt (default: the model's profile's, else {DEFAULT_KEEP})",
    )
    add_max_new_tokens(parser)
    parser.add_argument(
        "--order",
        choices=ORDERS,
        help="where the retrieved chunks go: retrieved (best first), best_last (best next to the "
        f"question), long_context (best at both ends); default: the profile's, else {DEFAULT_ORDER}",
    )
    parser.add_argument(
        "--prompt",
        choices=list(LAYOUTS),
        help=f"the prompt layout; default: the profile's, else {DEFAULT_LAYOUT}",
    )
    parser.add_argument(
        "--profile",
        help="a profile `sra-rag calibrate` wrote, or 'none' (default: the one the package ships for "
        "the model's weights, if any)",
    )


def _add_config_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--config",
        default=default,
        help=f"a JSON config file or a preset: {', '.join(sorted(PRESETS))}"
        + ("" if default else " (default: the profile's setting, else paper)"),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sra-rag", description="Scaled ReAttention for local RAG models")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="the bundled corpus's questions: the default against plain stuffing"
    )
    add_demo_arguments(demo)
    demo.set_defaults(run=_later("sra_rag.demo", "run_demo"))

    index = commands.add_parser("index", help="index a folder of .txt and .md files")
    index.add_argument("folder", help="the folder of .txt and .md files")
    index.add_argument("--out", required=True, help="index folder to write (replaced atomically)")
    index.add_argument("--chunk-tokens", type=int, default=200, help="embedding tokens per chunk, at most")
    index.add_argument(
        "--overlap-tokens", type=int, default=40, help="tokens each chunk shares with the last"
    )
    index.set_defaults(run=_index)

    ask = commands.add_parser("ask", help="answer a question from an index")
    ask.add_argument("question", help="the question to answer")
    ask.add_argument("--index", required=True, help="a folder `sra-rag index` wrote")
    ask.add_argument("--no-sra", action="store_true", help="the stock model (baseline)")
    _add_config_option(ask, None)
    _add_retrieval_options(ask)
    ask.set_defaults(run=_ask)

    compare = commands.add_parser("compare", help="baseline vs SRA answers and per-source attention")
    compare.add_argument("question", help="the question to answer")
    compare.add_argument("--index", required=True, help="a folder `sra-rag index` wrote")
    _add_config_option(compare, "paper")
    _add_retrieval_options(compare)
    compare.set_defaults(run=_compare)

    evaluate = commands.add_parser("eval", help="does SRA help? seeded tasks, dev/test splits, intervals")
    add_eval_arguments(evaluate)
    evaluate.set_defaults(run=_later("sra_rag.eval.longprompt.command", "run_eval"))

    rag_eval = commands.add_parser(
        "rag-eval", help="does it help RAG? passage orders, top-k, paper and guided SRA on retrieved passages"
    )
    add_rag_arguments(rag_eval)
    rag_eval.set_defaults(run=_later("sra_rag.eval.rag.command", "run_rag"))

    calibrate = commands.add_parser(
        "calibrate", help="measure a model's RAG setting (passages, order, prompt, attention) as a profile"
    )
    add_calibrate_arguments(calibrate)
    calibrate.set_defaults(run=_later("sra_rag.eval.rag.calibrate_command", "run_calibrate"))

    bench = commands.add_parser("bench", help="prefill/decode time and memory, SRA vs baseline")
    add_bench_arguments(bench)
    bench.set_defaults(run=_later("sra_rag.eval.bench.speed", "run_bench"))
    for command in commands.choices.values():
        command.formatter_class = DefaultsHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.command in ("bench", "eval", "rag-eval", "calibrate") else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s")
    # weight-loading bars would bury the output: transformers reads this when first imported, and
    # is switched directly when a caller (a notebook, a test) imported it already
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
    try:
        return args.run(args)
    except (ValueError, OSError) as error:  # bad input: one line (--debug: the traceback)
        if args.debug:
            raise
        print(f"sra-rag: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # indexes are written aside and swapped in by renames: an interrupted one never replaced its old self
        print("sra-rag: interrupted; any index being written was left as it was before", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
