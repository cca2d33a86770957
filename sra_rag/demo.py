"""`sra-rag demo` (`make demo`): what a newcomer should see first on the bundled corpus.

Five settings answer the same retrieved chunks: the baseline (chunks best first, as retrievers
return them), the paper's SRA, the best passage order alone (`best_last`, the RAG benchmark's dev
choice), and guided SRA without and with that order. A top-k of 5 keeps the prompt short enough
for the bundled 135M model to have a chance (README, Results). Where the model has a profile (the
one the package ships for it, or `--profile`), its measured number of chunks and order answer too:
as a sixth row, or as the row they coincide with, renamed (SmolLM2's is `best_last = profile`).
One line says which won; the demo is a demo, not an evaluation (the benchmark in the
README is that).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from .cli_options import add_max_new_tokens, add_model_option, check_counts, loading_options
from .engine.config import PRESETS, AnyConfig, load_config
from .engine.guided import GuidedConfig
from .rag.order import ORDERS
from .rag.profile import SHIPPED, RagProfile, resolve_profile

DEMO_TOP_K = 5


@dataclass(frozen=True)
class DemoSetting:
    name: str
    order: str
    sra: AnyConfig | None
    top_k: int | None = None
    """None: the demo's --top-k."""


def demo_settings(
    order: str, paper: AnyConfig, guided: GuidedConfig, top_k: int, profile: RagProfile | None = None
) -> list[DemoSetting]:
    """The settings the demo compares, baseline first, and the model's profile if it has one: a
    row of its own, or the name of the row it coincides with."""
    settings = [
        DemoSetting("baseline", "retrieved", None),
        DemoSetting("paper SRA", "retrieved", paper),
        DemoSetting(order, order, None),
        DemoSetting("guided", "retrieved", guided),
        DemoSetting(f"guided + {order}", order, guided),
    ]
    if profile is None:
        return settings
    for i, setting in enumerate(settings):
        if setting.sra is None and setting.order == profile.order and profile.keep == top_k:
            settings[i] = replace(setting, name=f"{setting.name} = profile")
            return settings
    name = f"profile: {profile.keep}, {profile.order}"
    return [*settings, DemoSetting(name, profile.order, None, profile.keep)]


def winner_line(correct: dict[str, int], total: int) -> str:
    """One line: which setting answered most questions (ties named together), against the baseline."""
    best = max(correct.values())
    winners = [name for name, count in correct.items() if count == best]
    if len(winners) == len(correct):
        return f"No setting won: each answered {best}/{total}."
    if winners == ["baseline"]:
        return f"Won: the baseline, {best}/{total} correct; no setting beat it."
    if "baseline" in winners:
        tied = " and ".join(w for w in winners if w != "baseline")
        return f"Nothing beat the baseline ({best}/{total}); {tied} tied with it."
    baseline = correct["baseline"]
    return f"Won: {' and '.join(winners)}, {best}/{total} correct against the baseline's {baseline}/{total}."


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_option(parser)
    parser.add_argument("--top-k", type=int, default=DEMO_TOP_K, help="chunks per prompt")
    parser.add_argument(
        "--order",
        choices=[o for o in ORDERS if o != "retrieved"],
        default="best_last",
        help="the order compared with the retriever's",
    )
    parser.add_argument("--config", default="paper", help="the paper SRA setting: a JSON file or a preset")
    parser.add_argument(
        "--guided",
        default="guided_pasta",
        help="the guided setting: a JSON file or a preset (default guided_pasta, the benchmark's dev "
        f"choice; presets: {', '.join(sorted(p for p in PRESETS if p.startswith('guided')))})",
    )
    add_max_new_tokens(parser)
    parser.add_argument(
        "--profile",
        help="a profile `sra-rag calibrate` wrote (default: the one shipped for the model, if any)",
    )
    parser.add_argument("--limit", type=int, default=10, help="first N questions (0: all)")
    parser.add_argument("--index", default=None, help="where to keep the demo index (default: the cache)")


def run_demo(args: argparse.Namespace) -> int:
    check_counts(args)  # before the imports below: a bad argument answers at once
    paper, guided = load_config(args.config), load_config(args.guided)
    # a missing or bad profile fails before anything loads
    given = resolve_profile(args.profile) if args.profile else SHIPPED
    if not isinstance(guided, GuidedConfig):
        raise ValueError(f"--guided {args.guided!r} is a {guided.name} setting; give a guided one")

    from rich.console import Console
    from rich.table import Table
    from tqdm.auto import tqdm

    from .generation import Generator
    from .models import default_cache_dir, load_model
    from .rag import Embedder, RagPipeline, demo_corpus_dir, demo_questions, index_folder

    console = Console()
    out = Path(args.index) if args.index else default_cache_dir() / "demo-index"
    embedder = Embedder()
    index, report = index_folder(demo_corpus_dir(), out, embedder, progress=True)
    console.print(f"index {out}: {report.chunks} chunks, {report.embedded_chunks} embedded now")
    questions = demo_questions()[: args.limit or None]
    model, tokenizer = load_model(args.model, sra=None, **loading_options(args))
    profile = resolve_profile(given, str(model.config.name_or_path))
    settings = demo_settings(args.order, paper, guided, args.top_k, profile)
    generator = Generator(model, tokenizer)
    pipelines = {
        (s.order, s.top_k): RagPipeline(
            index,
            embedder,
            generator,
            top_k=s.top_k or args.top_k,
            order=s.order,
            max_new_tokens=args.max_new_tokens,
            profile=None,
        )
        for s in settings
    }
    # one row per answer under its question: two columns read in an 80-column terminal, where one
    # column per setting squeezed each answer into a few characters
    table = Table(title=f"{len(questions)} demo questions, top {args.top_k} chunks", show_lines=False)
    table.add_column("setting", no_wrap=True)
    table.add_column("answer", overflow="fold", ratio=1)
    correct = dict.fromkeys((s.name for s in settings), 0)
    tokens = []
    for number, question in enumerate(tqdm(questions, desc="answering", unit="question"), start=1):
        table.add_row(f"[bold]Q{number}", f"[bold]{question.question}[/] (gold: {question.answer})")
        for setting in settings:
            answer = pipelines[setting.order, setting.top_k].ask(question.question, sra=setting.sra)
            tokens.append(answer.prompt_tokens)
            hit = question.is_answered_by(answer.answer)
            correct[setting.name] += hit
            table.add_row(f"{'[green]✓' if hit else '[red]✗'}[/] {setting.name}", answer.answer)
        table.add_section()
    console.print(table)
    total = len(questions)
    counts = ", ".join(f"{name} {count}/{total}" for name, count in correct.items())
    console.print(f"prompts of {min(tokens)} to {max(tokens)} tokens. Correct: {counts}.", soft_wrap=True)
    console.print(winner_line(correct, total), soft_wrap=True)
    console.print(
        "A demo, not an evaluation: the README's results measure these settings on held-out data.",
        soft_wrap=True,
    )
    return 0
