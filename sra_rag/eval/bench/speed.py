"""`sra-rag bench` (`python -m sra_rag.eval.bench.speed`): what SRA costs against the baseline, in one run.

Prefill time, decode time per token and peak memory at each prompt length, for the fast path
with both reallocating settings (`sra`, `transition`), for the guided setting (`guided`, its passages the
prompt cut into 16 equal spans and its question the last 48 tokens, as in a RAG prompt), and for
the authors'-style full-eager path (`sra_naive`). Every variant runs on the same model and
passkey prompt, interleaved repeat by repeat after a warm-up pass, so ratios compare like with
like on a noisy machine: each ratio is the median over repeats of a run against the baseline run
just before it, with its range; the absolute times are the best run; every raw run is kept in the
report. Memory is measured before the timings, one prefill per variant, as the kernel's peak
resident set on a CPU and the allocator's peak on a CUDA device (see `peak_memory`); CUDA timings
are synchronised.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import transformers

from ...engine.diagnostics import record_diagnostics
from ...engine.patch import disable_sra
from ...engine.spans import PromptSpans, even_spans, use_spans
from ...rag.profile import model_slug
from ..model_choice import load_eval_model, resolve_model
from ..provenance import provenance
from ..records import set_setting
from . import peak_memory
from .options import VARIANTS, add_bench_arguments

logger = logging.getLogger(__name__)


def bench_spans(n: int, passages: int = 16, question: int = 48) -> PromptSpans:
    """Spans of a RAG-shaped prompt for the guided variant: equal passages, then the question."""
    return even_spans(n - question, passages, 0.5)


def _use(model: Any, variant: str) -> None:
    set_setting(model, *VARIANTS[variant])


@torch.inference_mode()
def _prefill(model: Any, ids: torch.Tensor) -> Any:
    return model(ids, use_cache=True, logits_to_keep=1)  # as generate does


def _clock(model: Any) -> float:
    """Now, once the device has finished the work queued so far (CUDA runs asynchronously)."""
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    return time.perf_counter()


@torch.inference_mode()
def _timed(model: Any, ids: torch.Tensor, decode_tokens: int) -> dict[str, float]:
    start = _clock(model)
    out = _prefill(model, ids)
    prefill = _clock(model) - start
    cache, token = out.cache, out.logits[:, -1:].argmax(-1)
    start = _clock(model)
    for _ in range(decode_tokens):
        out = model(token, cache=cache, use_cache=True)
        cache, token = out.cache, out.logits[:, -1:].argmax(-1)
    return {"prefill_s": prefill, "decode_s_per_token": (_clock(model) - start) / decode_tokens}


def _variants(tokens: int, naive_up_to: int | None, names: list[str] | None) -> list[str]:
    return [
        v
        for v, (_, mode) in VARIANTS.items()
        if (names is None or v == "baseline" or v in names)
        and (mode == "fast" or naive_up_to is None or tokens <= naive_up_to)
    ]


def _memory_method(model: Any) -> str | None:
    if model.device.type == "cuda":
        return peak_memory.CUDA_METHOD
    return peak_memory.METHOD if peak_memory.available() else None


def _peak(model: Any, ids: torch.Tensor) -> dict[str, float]:
    cuda = model.device.type == "cuda"
    with peak_memory.CudaPeak(model.device) if cuda else peak_memory.ResidentPeak() as peak:
        _prefill(model, ids)
    return {"peak_extra_mib": peak.extra_mib, "peak_mib": peak.peak_mib}


def _acted(model: Any, ids: torch.Tensor, variant: str) -> dict[str, Any]:
    """What the variant did to this prompt, from one untimed prefill (recording costs a sync per
    layer): proof that a timed variant really ran its rules, not the stock attention."""
    _use(model, variant)
    with use_spans(bench_spans(ids.shape[1])), record_diagnostics() as recorder:
        _prefill(model, ids)
    return recorder.summary()


def _paired(runs: list[dict[str, float]], baseline: list[dict[str, float]]) -> dict[str, Any]:
    """Ratios of each repeat to the baseline run right before it: the median, and their range."""
    out: dict[str, Any] = {}
    for key, name in (("prefill_s", "prefill"), ("decode_s_per_token", "decode")):
        ratios = sorted(r[key] / b[key] for r, b in zip(runs, baseline, strict=True))
        out[name] = statistics.median(ratios)
        out[f"{name}_range"] = [ratios[0], ratios[-1]]
    return out


def measure(
    model: Any,
    prompts: list[torch.Tensor],
    repeats: int = 3,
    decode_tokens: int = 16,
    naive_up_to: int | None = None,
    variants: list[str] | None = None,
) -> list[dict[str, Any]]:
    """One result per prompt (token ids, batch 1): one memory pass per variant first, then the
    timed repeats with the allocator as a long run leaves it. The naive path is skipped above
    `naive_up_to` tokens; `variants` (default: all) picks which run beside the baseline."""
    if repeats < 1 or decode_tokens < 1:
        raise ValueError(f"repeats and decode tokens must be at least 1, got {repeats} and {decode_tokens}")
    chosen = [_variants(ids.shape[1], naive_up_to, variants) for ids in prompts]
    memory: list[dict[str, dict[str, float]]] = [{} for _ in prompts]
    cpu = model.device.type != "cuda"
    if _memory_method(model):  # first: memory freed by earlier passes would be reused unseen
        if cpu:
            peak_memory.release_freed_memory()
        for ids, variants, cell in zip(prompts, chosen, memory, strict=True):
            disable_sra(model)
            _prefill(model, ids)  # settle the allocator at this length before measuring
            for variant in variants:
                _use(model, variant)
                with use_spans(bench_spans(ids.shape[1])):
                    cell[variant] = _peak(model, ids)
                logger.info("%d tokens, %s: %s", ids.shape[1], variant, cell[variant])
        if cpu:
            peak_memory.keep_freed_memory()
    else:
        logger.warning("peak memory is not measurable on this system (needs Linux and glibc); times only")
    timings: list[dict[str, list[dict[str, float]]]] = []
    acted = [
        {v: _acted(model, ids, v) for v in variants} for ids, variants in zip(prompts, chosen, strict=True)
    ]
    for ids, variants in zip(prompts, chosen, strict=True):
        disable_sra(model)
        _timed(model, ids, 1)  # warm-up: first-pass allocations and thread pools
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
        for repeat in range(repeats):
            for variant in runs:
                _use(model, variant)
                with use_spans(bench_spans(ids.shape[1])):
                    runs[variant].append(_timed(model, ids, decode_tokens))
                logger.info("%d tokens, repeat %d, %s: %s", ids.shape[1], repeat, variant, runs[variant][-1])
        timings.append(runs)
    disable_sra(model)
    return [
        {**_result(ids.shape[1], runs, cell), "diagnostics": did}
        for ids, runs, cell, did in zip(prompts, timings, memory, acted, strict=True)
    ]


def _result(
    tokens: int, runs: dict[str, list[dict[str, float]]], memory: dict[str, dict[str, float]]
) -> dict[str, Any]:
    best = {
        v: {
            "prefill_s": min(r["prefill_s"] for r in runs[v]),
            "decode_s_per_token": min(r["decode_s_per_token"] for r in runs[v]),
            **memory.get(v, {}),
        }
        for v in runs
    }
    ratios = {v: _paired(runs[v], runs["baseline"]) for v in runs if v != "baseline"}
    if memory:
        for v, ratio in ratios.items():
            ratio["peak_memory"] = memory[v]["peak_mib"] / memory["baseline"]["peak_mib"]
    return {
        "prompt_tokens": tokens,
        "repeats": len(runs["baseline"]),
        "best": best,
        "runs": runs,
        "ratio_to_baseline": ratios,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The README's cost table: absolute baseline figures, then each variant against them."""
    lines = [
        "| prompt tokens | variant | prefill (range) | decode / token (range) | peak memory (vs baseline) |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]

    def memory(cell: dict[str, Any], base: dict[str, Any]) -> str:
        """The pass's whole peak (model included): what the allocator left from earlier passes
        can hide part of a pass's own growth, never the peak."""
        if "peak_mib" not in cell:
            return "n/a"
        if cell is base:
            return f"{cell['peak_mib']:,.0f} MiB"
        return f"{cell['peak_mib']:,.0f} MiB ({cell['peak_mib'] - base['peak_mib']:+,.0f})"

    for result in report["results"]:
        base, tokens = result["best"]["baseline"], result["prompt_tokens"]
        lines.append(
            f"| {tokens} | baseline (SDPA) | {base['prefill_s']:.2f} s | "
            f"{base['decode_s_per_token'] * 1000:.0f} ms | {memory(base, base)} |"
        )
        for name, ratio in result["ratio_to_baseline"].items():
            low, high = ratio["prefill_range"]
            decode_low, decode_high = ratio["decode_range"]
            lines.append(
                f"| {tokens} | {name} | {ratio['prefill']:.2f}x ({low:.2f}-{high:.2f}) | "
                f"{ratio['decode']:.2f}x ({decode_low:.2f}-{decode_high:.2f}) | "
                f"{memory(result['best'][name], base)} |"
            )
    return "\n".join(lines)


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark (or only re-publish a saved report with --report); 0 on success."""
    from ..plots import plot_cost

    def publish(report: dict[str, Any], out: Path) -> int:
        if not args.no_plots:
            logger.info("wrote %s", plot_cost(report, out.with_suffix(".png")))
        sys.stdout.write(markdown_table(report) + "\n")
        return 0

    if args.report:
        return publish(json.loads(args.report.read_text(encoding="utf-8")), args.report)
    from ...generation import Generator
    from ..passkey import passkey_prompt

    if short := [n for n in args.lengths if n < 64]:
        raise ValueError(f"--lengths {short}: prompts need at least 64 tokens")
    if args.repeats < 1 or args.decode_tokens < 1:
        raise ValueError("--repeats and --decode-tokens must be at least 1")
    source, name = resolve_model(args.model)
    out = args.out or Path("docs/results") / f"speed_{model_slug(name)}.json"
    model, tokenizer = load_eval_model(args, source)
    generator = Generator(model, tokenizer)
    prompts = [
        generator.encode(passkey_prompt(tokenizer, n).prompt, args.decode_tokens + 1).to(model.device)
        for n in args.lengths
    ]
    made_from = provenance(source, model)  # before the (long) run: the tree as it was measured
    results = measure(model, prompts, args.repeats, args.decode_tokens, args.naive_up_to, args.variants)
    report = {
        "model": name,
        "provenance": made_from,
        "options": {
            k: getattr(args, k)
            for k in ("lengths", "repeats", "decode_tokens", "naive_up_to", "variants", "threads")
        },
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "device": str(model.device),
        "device_name": torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "decode_tokens": args.decode_tokens,
        "memory_method": _memory_method(model),
        "variants": {
            n: {"config": None if c is None else c.to_dict(), "mode": m} for n, (c, m) in VARIANTS.items()
        },
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s", out)
    return publish(report, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sra_rag.eval.bench.speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_bench_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
