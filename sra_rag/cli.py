"""The `sra-rag` command line: `demo` compares baseline and SRA answers on a long prompt;
`bench` measures what SRA costs (see sra_rag.eval.speed)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time

from .config import PRESETS, load_config
from .eval import speed
from .eval.passkey import passkey_prompt
from .generation import Generator
from .models import BUNDLED_MODEL_NAME, load_model


def _demo(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    model, tokenizer = load_model(sra=None)
    generator = Generator(model, tokenizer)
    print(f"{BUNDLED_MODEL_NAME}, a passkey hidden in ~{args.tokens} tokens of text; SRA: {config}\n")
    print(f"{'depth':>5}  {'variant':<8}  {'answer':<14}  {'correct':<7}  {'seconds':>7}  rows touched")
    correct = {"baseline": 0, "sra": 0}
    for depth in args.depths:
        prompt = passkey_prompt(tokenizer, args.tokens, depth)
        for name, setting in (("baseline", None), ("sra", config)):
            start = time.perf_counter()
            result = generator.generate(prompt.messages, max_new_tokens=24, sra=setting, diagnostics=True)
            seconds = time.perf_counter() - start
            hit = prompt.answer in result.text
            correct[name] += hit
            number = re.search(r"\d{3,}", result.text)  # the model often wraps the key in a sentence
            answer = number.group() if number else result.text.strip().replace("\n", " ")[:14]
            rows = result.diagnostics["rows_touched"] if result.diagnostics else 0
            print(f"{depth:>5.2f}  {name:<8}  {answer:<14}  {hit!s:<7}  {seconds:>7.1f}  {rows}")
    total = len(args.depths)
    print(f"\nbaseline {correct['baseline']}/{total} correct, SRA {correct['sra']}/{total} correct.")
    print("A demo, not an evaluation: a few prompts say nothing about accuracy (see README, Results).")
    return 0


def _bench(args: argparse.Namespace) -> int:
    speed.main(["--out", str(args.out), "--lengths", *map(str, args.lengths)])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sra-rag", description="Scaled ReAttention for local RAG models")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="baseline vs SRA answers on a long passkey prompt")
    demo.add_argument("--tokens", type=int, default=2500, help="prompt length (default 2500)")
    demo.add_argument("--depths", type=float, nargs="+", default=[0.1, 0.5, 0.9])
    demo.add_argument(
        "--config", default="paper", help=f"a JSON config file or a preset: {', '.join(sorted(PRESETS))}"
    )
    demo.set_defaults(run=_demo)
    bench = commands.add_parser("bench", help="prefill/decode time and memory, SRA vs baseline")
    bench.add_argument("--out", default="docs/results/speed_smollm2.json")
    bench.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 8000])
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    verbose = args.command == "bench"  # the benchmark reports progress as it goes
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"sra-rag: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
