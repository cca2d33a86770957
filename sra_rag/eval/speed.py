"""Prefill time, decode time per token and peak memory: SRA against the baseline, in one run.

Every variant runs on the same model and prompt, interleaved repeat by repeat after a warm-up
pass, so the ratios compare like with like on a noisy machine; times are the best of the repeats
(the least disturbed run); ratios are the median over repeats of each run against the baseline
run just before it, with their range, and every raw run is kept in the report. Memory is measured after the
timings, the larger of two prefills per variant: the peak resident memory the pass adds to the loaded model,
with glibc set to return freed tensors to the system so each pass's peak is its own.

    python -m sra_rag.eval.speed --out docs/results/speed_smollm2.json
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
import transformers

from ..config import PRESETS, AnyConfig
from ..generation import Generator
from ..models import BUNDLED_MODEL_NAME, load_model
from ..patch import disable_sra, enable_sra
from .passkey import passkey_prompt

logger = logging.getLogger(__name__)

VARIANTS: dict[str, tuple[AnyConfig | None, str]] = {
    "baseline": (None, "fast"),
    "sra": (PRESETS["paper"], "fast"),
    "transition": (PRESETS["transition"], "fast"),
    "sra_naive": (PRESETS["paper"], "naive"),
}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakMemory:
    """Samples resident memory every 2 ms in a thread; `extra` is the peak above the start."""

    def __enter__(self) -> _PeakMemory:
        self.start = self.peak = _rss_bytes()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def extra(self) -> int:
        return self.peak - self.start


def _release_freed_memory() -> str:
    """Make glibc hand freed tensors back to the system (mmap them), so that each pass's resident
    peak is its own; the default allocator keeps freed memory and hides later peaks."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return "resident set; freed memory may be retained by the allocator"
    return "resident set, glibc M_MMAP_THRESHOLD=128 KiB"


def _use(model: Any, variant: str) -> None:
    config, mode = VARIANTS[variant]
    if config is None:
        disable_sra(model)
    else:
        enable_sra(model, config, mode=mode)


@torch.inference_mode()
def _timed(model: Any, ids: torch.Tensor, decode_tokens: int) -> dict[str, float]:
    start = time.perf_counter()
    out = model(ids, use_cache=True, logits_to_keep=1)  # as generate does
    prefill = time.perf_counter() - start
    cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    start = time.perf_counter()
    for _ in range(decode_tokens):
        out = model(token, past_key_values=cache, use_cache=True)
        cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    return {"prefill_s": prefill, "decode_s_per_token": (time.perf_counter() - start) / decode_tokens}


@torch.inference_mode()
def _peak_extra_mib(model: Any, ids: torch.Tensor) -> float:
    with _PeakMemory() as memory:
        model(ids, use_cache=True, logits_to_keep=1)
    return memory.extra / 2**20


def _paired(runs: list[dict[str, float]], baseline: list[dict[str, float]]) -> dict[str, Any]:
    """Ratios of each repeat to the baseline run right before it: the median, and their range."""
    out: dict[str, Any] = {}
    for key, name in (("prefill_s", "prefill"), ("decode_s_per_token", "decode")):
        ratios = sorted(r[key] / b[key] for r, b in zip(runs, baseline, strict=True))
        out[name] = statistics.median(ratios)
        out[f"{name}_range"] = [ratios[0], ratios[-1]]
    return out


def run(lengths: list[int], repeats: int, decode_tokens: int, naive_up_to: int) -> dict[str, Any]:
    """Times first (the allocator as users run it), then one memory pass per variant."""
    model, tokenizer = load_model(sra=None)
    prompts = {n: Generator(model, tokenizer).encode(passkey_prompt(tokenizer, n).messages) for n in lengths}
    variants = {n: [v for v in VARIANTS if VARIANTS[v][1] == "fast" or n <= naive_up_to] for n in lengths}
    timings: dict[int, dict[str, list[dict[str, float]]]] = {}
    for n, ids in prompts.items():
        disable_sra(model)
        _timed(model, ids, 1)  # warm-up: first-pass allocations and thread pools
        timings[n] = {v: [] for v in variants[n]}
        for repeat in range(repeats):
            for variant in variants[n]:
                _use(model, variant)
                timings[n][variant].append(_timed(model, ids, decode_tokens))
                logger.info(
                    "%d tokens, repeat %d, %s: %s", ids.shape[1], repeat, variant, timings[n][variant][-1]
                )
    memory_method = _release_freed_memory()
    memory = {}
    for n, ids in prompts.items():
        memory[n] = {}
        disable_sra(model)
        _peak_extra_mib(model, ids)  # settle the allocator at this length before measuring
        for variant in variants[n]:
            _use(model, variant)
            # the larger of two passes: a pass that happens to reuse retained memory reads low
            memory[n][variant] = max(_peak_extra_mib(model, ids) for _ in range(2))
            logger.info("%d tokens, %s: peak extra %.0f MiB", ids.shape[1], variant, memory[n][variant])
    disable_sra(model)
    results = []
    for n, ids in prompts.items():
        best = {
            v: {
                "prefill_s": min(r["prefill_s"] for r in timings[n][v]),
                "decode_s_per_token": min(r["decode_s_per_token"] for r in timings[n][v]),
                "peak_extra_mib": memory[n][v],
            }
            for v in variants[n]
        }
        base = best["baseline"]
        results.append(
            {
                "prompt_tokens": ids.shape[1],
                "repeats": repeats,
                "best": best,
                "runs": timings[n],
                "ratio_to_baseline": {
                    v: {
                        **_paired(timings[n][v], timings[n]["baseline"]),
                        "peak_extra_memory": m["peak_extra_mib"] / max(base["peak_extra_mib"], 1e-9),
                    }
                    for v, m in best.items()
                    if v != "baseline"
                },
            }
        )
    return {
        "model": BUNDLED_MODEL_NAME,
        "dtype": "float32",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "decode_tokens": decode_tokens,
        "memory_method": memory_method,
        "variants": {
            name: {"config": None if c is None else c.to_dict(), "mode": m}
            for name, (c, m) in VARIANTS.items()
        },
        "results": results,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The README's cost table: time ratios to the baseline, per prompt length. (Memory stays in
    the JSON only: sampling the resident set proved too noisy on CPU to quote.)"""
    lines = [
        "| prompt tokens | variant | prefill (range) | decode / token (range) |",
        "| ---: | --- | ---: | ---: |",
    ]
    for result in report["results"]:
        base = result["best"]["baseline"]
        lines.append(
            f"| {result['prompt_tokens']} | baseline (SDPA) | {base['prefill_s']:.2f} s | "
            f"{base['decode_s_per_token'] * 1000:.0f} ms |"
        )
        for name, ratio in result["ratio_to_baseline"].items():
            low, high = ratio["prefill_range"]
            decode_low, decode_high = ratio["decode_range"]
            lines.append(
                f"| {result['prompt_tokens']} | {name} | {ratio['prefill']:.2f}x ({low:.2f}-{high:.2f}) | "
                f"{ratio['decode']:.2f}x ({decode_low:.2f}-{decode_high:.2f}) |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 8000])
    parser.add_argument("--decode-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-up-to", type=int, default=4096, help="skip the slow naive path above this")
    parser.add_argument("--out", type=Path, help="where to write the JSON report")
    parser.add_argument("--table", type=Path, help="print the markdown table of a saved report and exit")
    args = parser.parse_args(argv)
    if args.table:
        sys.stdout.write(markdown_table(json.loads(args.table.read_text(encoding="utf-8"))) + "\n")
        return
    if args.out is None:
        parser.error("--out is required to run the benchmark")
    if args.decode_tokens < 1:
        parser.error("--decode-tokens must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run(args.lengths, args.repeats, args.decode_tokens, args.naive_up_to)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
