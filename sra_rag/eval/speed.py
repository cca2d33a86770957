"""Prefill time, decode time per token and peak memory: SRA against the baseline, in one run.

Every variant runs on the same model and prompt, interleaved repeat by repeat after a warm-up
pass, so the ratios compare like with like on a noisy machine; times are the best of the repeats
(the least disturbed run), memory the median, and every raw run is kept in the report. Peak
memory is the process's resident set sampled during the pass, minus what it held before (the
model itself is not counted); run with MALLOC_MMAP_THRESHOLD_=131072 (as `make bench` does) so
freed tensors go back to the system between passes and each pass's peak is its own.

    python -m sra_rag.eval.speed --out docs/results/speed_smollm2.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
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


@torch.inference_mode()
def _measure(model: Any, ids: torch.Tensor, decode_tokens: int) -> dict[str, float]:
    with _PeakMemory() as memory:
        start = time.perf_counter()
        out = model(ids, use_cache=True, logits_to_keep=1)  # as generate does
        prefill = time.perf_counter() - start
    cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    start = time.perf_counter()
    for _ in range(decode_tokens):
        out = model(token, past_key_values=cache, use_cache=True)
        cache, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
    decode = (time.perf_counter() - start) / decode_tokens
    return {"prefill_s": prefill, "decode_s_per_token": decode, "peak_extra_mib": memory.extra / 2**20}


def run(
    lengths: list[int], repeats: Callable[[int], int], decode_tokens: int, naive_up_to: int
) -> dict[str, Any]:
    model, tokenizer = load_model(sra=None)
    torch.manual_seed(0)
    results = []
    for length in lengths:
        prompt = passkey_prompt(tokenizer, length)
        ids = Generator(model, tokenizer).encode(prompt.messages)
        _measure(model, ids, 1)  # warm-up: first-pass allocations and thread pools
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for repeat in range(repeats(length)):
            for name, (config, mode) in VARIANTS.items():
                if mode == "naive" and length > naive_up_to:
                    continue
                if config is None:
                    disable_sra(model)
                else:
                    enable_sra(model, config, mode=mode)
                runs[name].append(_measure(model, ids, decode_tokens))
                logger.info("%d tokens, repeat %d, %s: %s", ids.shape[1], repeat, name, runs[name][-1])
        disable_sra(model)
        best = {
            name: {
                "prefill_s": min(r["prefill_s"] for r in measured),
                "decode_s_per_token": min(r["decode_s_per_token"] for r in measured),
                "peak_extra_mib": statistics.median(r["peak_extra_mib"] for r in measured),
            }
            for name, measured in runs.items()
            if measured
        }
        base = best["baseline"]
        results.append(
            {
                "prompt_tokens": ids.shape[1],
                "repeats": repeats(length),
                "best": best,
                "runs": runs,
                "ratio_to_baseline": {
                    name: {
                        "prefill": m["prefill_s"] / base["prefill_s"],
                        "decode": m["decode_s_per_token"] / base["decode_s_per_token"],
                        "peak_extra_memory": m["peak_extra_mib"] / max(base["peak_extra_mib"], 1e-9),
                    }
                    for name, m in best.items()
                    if name != "baseline"
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
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
        "variants": {
            name: {"config": None if c is None else c.to_dict(), "mode": m}
            for name, (c, m) in VARIANTS.items()
        },
        "results": results,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The README's cost table: ratios to the baseline, per prompt length."""
    lines = [
        "| prompt tokens | variant | prefill | decode / token | peak extra memory |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for result in report["results"]:
        base = result["best"]["baseline"]
        lines.append(
            f"| {result['prompt_tokens']} | baseline (SDPA) | {base['prefill_s']:.2f} s | "
            f"{base['decode_s_per_token'] * 1000:.0f} ms | {base['peak_extra_mib']:.0f} MiB |"
        )
        for name, ratio in result["ratio_to_baseline"].items():
            lines.append(
                f"| {result['prompt_tokens']} | {name} | {ratio['prefill']:.2f}x | {ratio['decode']:.2f}x | "
                f"{ratio['peak_extra_memory']:.2f}x |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 8000])
    parser.add_argument("--decode-tokens", type=int, default=16)
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
    report = run(args.lengths, lambda n: 3, args.decode_tokens, args.naive_up_to)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
