"""`python -m sra_rag.eval.bench.structured_speed`: what holding a reply to a JSON schema costs per
token (`sra_rag.structured`), against the same decode unconstrained, in one run.

Each prompt is decoded twice, interleaved, for the same number of tokens: once constrained to a
three-field schema and once free (`min_new_tokens` holds both to the constrained reply's length, so
they decode alike). The ratio per prompt is constrained over free seconds per token; the report
keeps the median and range over prompts, and every run. The grammar's one-off set-up (the
tokenizer's masks, about a second, cached per tokenizer) is timed apart, before the runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessorList

from ...structured import GrammarLogitsProcessor, json_grammar
from ..model_choice import add_model_argument, load_eval_model, resolve_model
from ..provenance import provenance

logger = logging.getLogger(__name__)

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "town": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["name", "town", "year"],
    "additionalProperties": False,
}
PEOPLE = [("Mira Voss", "Tallow", 1871), ("Teodora Vask", "Quillon", 1902), ("Jonas Aard", "Velden", 1933)]


def _decode(model: Any, ids: torch.Tensor, tokens: int, processor: Any | None) -> tuple[float, int]:
    """Seconds and new tokens of one greedy decode, its prefill included (both runs pay the same)."""
    options: dict[str, Any] = {"max_new_tokens": tokens, "do_sample": False, "pad_token_id": 0}
    if processor is None:
        options["min_new_tokens"] = tokens
    else:
        options["logits_processor"] = LogitsProcessorList([processor])
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **options)
    return time.perf_counter() - start, out.shape[1] - ids.shape[1]


def measure(model: Any, tokenizer: Any, repeats: int) -> dict[str, Any]:
    vocab = model.get_output_embeddings().weight.shape[0]
    start = time.perf_counter()
    grammar = json_grammar(SCHEMA)
    GrammarLogitsProcessor(grammar, tokenizer, vocab, 0)
    setup = time.perf_counter() - start
    runs = []
    for name, town, year in PEOPLE * repeats:
        text = f"{name} was born in {town} in {year}. Give the name, town and year."
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )["input_ids"].to(model.device)
        held = GrammarLogitsProcessor(grammar, tokenizer, vocab, ids.shape[1])
        constrained, tokens = _decode(model, ids, 48, held)
        free, free_tokens = _decode(model, ids, tokens, None)
        runs.append(
            {"tokens": tokens, "constrained_s": constrained, "free_s": free, "free_tokens": free_tokens}
        )
    ratios = [r["constrained_s"] / r["free_s"] for r in runs]
    return {
        "setup_s": setup,
        "ratio_median": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sra_rag.eval.bench.structured_speed", description=__doc__
    )
    add_model_argument(parser)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each of the 3 prompts")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, required=True, help="the report (JSON)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    source, name = resolve_model(args.model)
    model, tokenizer = load_eval_model(args, source)
    made = provenance(source, model)
    report = {"model": name, "provenance": made, "threads": torch.get_num_threads(), "schema": SCHEMA}
    report.update(measure(model, tokenizer, args.repeats))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    low, high = report["ratio_range"]
    sys.stdout.write(
        f"wrote {args.out}: constrained decode {report['ratio_median']:.2f}x the free one per token "
        f"[{low:.2f}, {high:.2f}]; set-up {report['setup_s']:.2f} s\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
