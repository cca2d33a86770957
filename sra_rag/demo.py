"""`sra-rag demo` (`make demo`): what a newcomer should see first on the bundled corpus.

Two rows answer every question: the default (exactly what `RagPipeline.from_index` and `sra-rag
ask` do with this model: its shipped profile's passages, order, prompt and attention setting where
one applies to its weights, else the plain defaults) and plain stuffing (all 16 retrieved chunks,
best first, the default prompt, stock attention: what a RAG chain does without sra-rag). `--also
PRESET` adds the default's passages under another attention setting. All 48 questions by default,
so the two counts are more than noise, and one line pairs them question by question. The demo is
a demo, not an evaluation (the README's benchmark is that).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cli_options import add_max_new_tokens, add_model_option, check_counts, loading_options
from .engine.config import PRESETS, load_config
from .rag.profile import NO_PROFILE, SHIPPED, resolve_profile

DEFAULT_ROW = "default"
PLAIN_ROW = "plain stuffing"


def paired_lines(hits: dict[str, list[bool]], against: str = PLAIN_ROW) -> str:
    """One line per other row: its count against `against`'s, and the questions only one of them
    answered (the pairs that decide a comparison on the same questions)."""
    base = hits[against]
    total = len(base)
    lines = []
    for name, mine in hits.items():
        if name == against:
            continue
        wins = sum(m and not b for m, b in zip(mine, base, strict=True))
        losses = sum(b and not m for m, b in zip(mine, base, strict=True))
        lines.append(
            f"{name}: {sum(mine)}/{total} against {against}'s {sum(base)}/{total} "
            f"({wins} answered only by {name}, {losses} only by {against})."
        )
    return "\n".join(lines)


def demo_index_folder(given: str | Path | None) -> Path:
    """Where the demo corpus's index lives: `given`, else the cache (the demo and the serving check
    share it, so it is built once)."""
    from .models import default_cache_dir

    return Path(given) if given else default_cache_dir() / "demo-index"


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_option(parser)
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="PRESET",
        help="another row: the default's passages with this attention setting (a preset or a JSON "
        f"file; repeatable; presets: {', '.join(sorted(PRESETS))})",
    )
    add_max_new_tokens(parser)
    parser.add_argument(
        "--profile",
        help="a profile `sra-rag calibrate` wrote, or 'none' (default: the one shipped for the model's "
        "weights, if any)",
    )
    parser.add_argument("--limit", type=int, default=0, help="first N questions (0: all 48)")
    parser.add_argument("--index", default=None, help="where to keep the demo index (default: the cache)")


def run_demo(args: argparse.Namespace) -> int:
    check_counts(args)  # before the imports below: a bad argument answers at once
    also = {name: load_config(name) for name in args.also}
    # a missing or bad profile fails before anything loads
    given = None if args.profile == NO_PROFILE else resolve_profile(args.profile) if args.profile else SHIPPED

    from rich.console import Console
    from rich.table import Table
    from tqdm.auto import tqdm

    from .generation import DEFAULT, Generator
    from .models import load_model
    from .rag import Embedder, RagPipeline, demo_corpus_dir, demo_questions, index_folder
    from .rag.profile import DEFAULT_KEEP

    console = Console()
    out = demo_index_folder(args.index)
    embedder = Embedder()
    index, report = index_folder(demo_corpus_dir(), out, embedder, progress=True)
    console.print(f"index {out}: {report.chunks} chunks, {report.embedded_chunks} embedded now")
    questions = demo_questions()[: args.limit or None]
    model, tokenizer = load_model(args.model, **loading_options(args))  # as RagPipeline.from_index
    generator = Generator(model, tokenizer)
    default = RagPipeline(index, embedder, generator, max_new_tokens=args.max_new_tokens, profile=given)
    plain = RagPipeline(
        index,
        embedder,
        generator,
        keep=DEFAULT_KEEP,
        order="retrieved",
        sra=None,
        max_new_tokens=args.max_new_tokens,
        profile=None,
    )
    rows = [(DEFAULT_ROW, default, DEFAULT), (PLAIN_ROW, plain, DEFAULT)]
    rows += [(f"{DEFAULT_ROW} + {name}", default, config) for name, config in also.items()]
    attention = generator.sra_in_force(default.sra)
    console.print(
        f"default: {default.keep} chunks, {default.order}, prompt {default.layout}, attention "
        f"{attention.name if attention else 'stock'} "
        f"({'the profile of ' + default.profile.model if default.profile else 'no profile'}); "
        f"plain stuffing: {DEFAULT_KEEP} chunks, retrieved, stock attention",
        soft_wrap=True,
    )
    # one row per answer under its question: two columns read in an 80-column terminal
    table = Table(title=f"{len(questions)} demo questions", show_lines=False)
    table.add_column("setting", no_wrap=True)
    table.add_column("answer", overflow="fold", ratio=1)
    hits: dict[str, list[bool]] = {name: [] for name, _, _ in rows}
    tokens = []
    for number, question in enumerate(tqdm(questions, desc="answering", unit="question"), start=1):
        table.add_row(f"[bold]Q{number}", f"[bold]{question.question}[/] (gold: {question.answer})")
        for name, pipeline, sra in rows:
            answer = pipeline.ask(question.question, sra=sra)
            tokens.append(answer.prompt_tokens)
            hit = question.is_answered_by(answer.answer)
            hits[name].append(hit)
            table.add_row(f"{'[green]✓' if hit else '[red]✗'}[/] {name}", answer.answer)
        table.add_section()
    console.print(table)
    console.print(f"prompts of {min(tokens)} to {max(tokens)} tokens.", soft_wrap=True)
    console.print(paired_lines(hits), soft_wrap=True)
    console.print(
        "A demo, not an evaluation: the README's results measure these settings on held-out data.",
        soft_wrap=True,
    )
    return 0
