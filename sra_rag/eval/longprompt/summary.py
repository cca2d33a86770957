"""From per-sample records to the numbers a reader needs: accuracy with Wilson intervals, the
gold answer's log-probability as a paired difference against the baseline with a t-interval,
perplexity ratios, and the dev-set choice of the best setting.

Pairing matters: every setting sees exactly the same prompts, so the per-sample difference to the
baseline removes the (large) spread between prompts and detects a shift with few samples.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ..records import Record, paired
from ..stats import accuracy, excludes_zero, mean_interval
from .settings import BASELINE


def _cell(records: list[Record], setting: str) -> dict[str, Any]:
    mine = [r for r in records if r["setting"] == setting]
    cell: dict[str, Any] = {
        "n": len(mine),
        "contains": accuracy([r["contains"] for r in mine]),
        "exact": accuracy([r["exact"] for r in mine]),
        "logprob": mean_interval([r["logprob"] for r in mine]),
    }
    if setting != BASELINE:
        cell["logprob_vs_baseline"] = mean_interval(paired(records, setting, "logprob", BASELINE))
        contains = paired(records, setting, "contains", BASELINE)
        cell["contains_vs_baseline"] = mean_interval([float(d) for d in contains])
    return cell


def _group(records: Iterable[Record], key: Callable[[Record], Any]) -> dict[Any, list[Record]]:
    groups: dict[Any, list[Record]] = defaultdict(list)
    for record in records:
        groups[key(record)].append(record)
    return dict(groups)


def answer_summary(records: list[Record]) -> dict[str, Any]:
    """Per setting: overall, per task, per task and length, per task and depth."""
    answers = [r for r in records if r["task"] != "perplexity"]
    settings = list(dict.fromkeys(r["setting"] for r in answers))
    out: dict[str, Any] = {}
    for setting in settings:
        by_task = _group(answers, lambda r: r["task"])
        out[setting] = {
            "all": _cell(answers, setting),
            "tasks": {
                task: {
                    "all": _cell(rows, setting),
                    "by_length": {
                        str(length): _cell(cell, setting)
                        for length, cell in sorted(_group(rows, lambda r: r["target_tokens"]).items())
                    },
                    "by_depth": {
                        str(depth): _cell(cell, setting)
                        for depth, cell in sorted(_group(rows, lambda r: r["depth"]).items())
                    },
                }
                for task, rows in by_task.items()
            },
        }
    return out


def perplexity_summary(records: list[Record]) -> dict[str, Any]:
    """Per setting: mean NLL of the held tail and the perplexity ratio to the baseline (paired)."""
    held = [r for r in records if r["task"] == "perplexity"]
    out: dict[str, Any] = {}
    for setting in dict.fromkeys(r["setting"] for r in held):
        nll = mean_interval([r["nll"] for r in held if r["setting"] == setting])
        entry: dict[str, Any] = {"nll": nll, "perplexity": math.exp(nll["mean"]) if nll["n"] else None}
        if setting != BASELINE:
            delta = mean_interval(paired(held, setting, "nll", BASELINE))
            entry["nll_vs_baseline"] = delta
            entry["perplexity_ratio"] = {
                k: (math.exp(v) if isinstance(v, float) else v) for k, v in delta.items() if k != "n"
            } | {"n": delta["n"]}
        out[setting] = entry
    return out


def select_best(dev_records: list[Record]) -> dict[str, Any]:
    """The dev setting with the largest mean gain in gold log-probability over the baseline.

    It is recommended (shipped as a preset) only if that gain's 95% interval lies above zero and
    its dev accuracy is not below the baseline's; otherwise the honest answer is "none".
    """
    answers = [r for r in dev_records if r["task"] != "perplexity"]
    candidates = {}
    for setting in dict.fromkeys(r["setting"] for r in answers):
        if setting == BASELINE:
            continue
        candidates[setting] = {
            "logprob_vs_baseline": mean_interval(paired(answers, setting, "logprob", BASELINE)),
            "contains_vs_baseline": mean_interval(
                [float(d) for d in paired(answers, setting, "contains", BASELINE)]
            ),
        }
    if not candidates:
        return {"best": None, "beats_baseline": False, "candidates": {}}
    best = max(candidates, key=lambda s: candidates[s]["logprob_vs_baseline"]["mean"] or -math.inf)
    gain = candidates[best]["logprob_vs_baseline"]
    accuracy_delta = candidates[best]["contains_vs_baseline"]["mean"] or 0.0
    beats = excludes_zero(gain) and gain["low"] > 0 and accuracy_delta >= 0
    return {
        "best": best,
        "criterion": "largest mean paired gain in gold-answer log-probability over all dev answer samples",
        "beats_baseline": bool(beats),
        "rule": "ship only if the gain's 95% t-interval is above 0 and dev accuracy (contains) is not lower",
        "candidates": candidates,
    }
