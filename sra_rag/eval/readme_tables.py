"""The README's results tables, regenerated from the committed result files.

Each table sits between `<!-- table: NAME -->` and `<!-- /table -->` in README.md.
`python -m sra_rag.eval.readme_tables` rewrites them from `docs/results/`; with `--check` it only
names the stale ones and exits 1 (the test suite runs the check, so a published table cannot drift
from its file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..rag.prompt_layout import DEFAULT_LAYOUT
from .bench.speed import markdown_table as cost_table
from .longprompt.command import format_interval
from .rag.settings import parse

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
_BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)
_ORDERS = ("retrieved", "best_last", "long_context")
_RULES = (
    (r"top(\d+)", "top {} passages only"),
    (r"paper", "`paper` SRA"),
    (r"dispense_s([\d.]+)_t([\d.]+)", "guided `dispense` (strength {}, T {})"),
    (r"fim_m([\d.]+)_t([\d.]+)", "guided `fim` (mix {}, T {})"),
    (r"pasta_a([\d.]+)_top(\d+)", "guided `pasta` (scale {}, top {})"),
)


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _rule(rule: str) -> tuple[int, str]:
    """(its place in the table, its label) for a setting's rule part."""
    for place, (pattern, label) in enumerate(_RULES, start=1):
        if match := re.fullmatch(pattern, rule):
            return place, label.format(*match.groups())
    return len(_RULES) + 1, f"`{rule}`"


def _setting(name: str, chosen_order: str) -> tuple[tuple[int, bool, int], str]:
    """(sort key, label) of a RAG benchmark setting such as 'best_last+pasta_a0.7_top3+oracle'."""
    order, *rest = name.split("+")
    oracle = rest[-1:] == ["oracle"]
    rule = rest[0] if rest else None
    place = _ORDERS.index(order) if order in _ORDERS else len(_ORDERS)
    if rule is None:
        if order == "retrieved":
            return (0, False, place), "baseline: `retrieved` order (best first), no SRA"
        chosen = " (dev's choice of order)" if order == chosen_order else ""
        return (0, False, place), f"`{order}`{chosen}"
    group, label = _rule(rule)
    if oracle:
        label = f"{label} aimed by the gold label (oracle, an upper bound)"
    if order != "retrieved":
        label = f"`{order}` + {label}"
    return (group, oracle, place), label


def _points(interval: dict[str, Any]) -> str:
    """A paired accuracy difference in percentage points, bold when its interval excludes 0 above."""
    mean, low, high = (round(interval[k] * 100) + 0 for k in ("mean", "low", "high"))
    text = f"{mean:+d} [{low:+d}, {high:+d}]"
    return f"**{text}**" if interval["low"] > 0 else text


def _nats(interval: dict[str, Any]) -> str:
    return f"{interval['mean']:+.2f} [{interval['low']:+.2f}, {interval['high']:+.2f}]"


def rag_table(report: dict[str, Any]) -> str:
    """The RAG benchmark's test split: each setting's accuracy and its paired differences."""
    chosen = report["test"]["decision"]["order"]["chosen_on_dev"]
    rows = []
    for name, entry in report["test"]["answers"].items():
        cell = entry["all"]
        accuracy = cell["accuracy"]
        key, label = _setting(name, chosen)
        shown = f"{accuracy['correct']}/{accuracy['n']} ({accuracy['rate']:.0%}) "
        shown += f"[{accuracy['low']:.0%}, {accuracy['high']:.0%}]"
        diff = cell.get("vs_retrieved")
        versus = f" {_points(diff['accuracy'])} | {_nats(diff['logprob'])} |" if diff else " | |"
        rows.append((key, f"| {label} | {shown} |{versus}"))
    header = [
        "| setting | accuracy | vs baseline, points | vs baseline, gold log-prob (nats) |",
        "| --- | ---: | ---: | ---: |",
    ]
    return "\n".join(header + [row for _, row in sorted(rows, key=lambda r: r[0])])


_ORDER_NAMES = {"retrieved": "best first", "best_last": "best last", "long_context": "LongContextReorder"}


def _profile_setting(name: str, report: dict[str, Any]) -> str:
    """'long_context+top8' -> 'best 8, LongContextReorder'; the profile and the reference named."""
    setting = parse(name)
    if setting.gold_only:
        return "the gold passage alone (the ceiling)"
    retrieved = report["preset"]["retrieve"]
    count = setting.keep or retrieved
    label = f"{'best' if count < retrieved else 'all'} {count}, {_ORDER_NAMES[setting.order]}"
    if setting.layout != DEFAULT_LAYOUT:
        label += f", {setting.layout} prompt"
    if setting.config is not None:
        label += f", {setting.config}"
    if name == report["reference"]:
        label += " (plain stuffing)"
    if name == report["chosen"]:
        label = f"**{label} (the profile)**"
    return label


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def profile_table(report: dict[str, Any]) -> str:
    """A profile's test split: each setting's accuracy, and its paired differences from today's
    default (points with McNemar's p, and gold log-probability)."""
    ref = report["reference"]
    rows = [
        "| setting | accuracy | vs all 16, points | McNemar p | vs all 16, gold log-prob (nats) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in report["test"]["settings"].items():
        acc, diff = row["accuracy"], row[f"vs_{ref}"]
        shown = f"{acc['correct']}/{acc['n']} ({acc['rate']:.0%}) [{acc['low']:.0%}, {acc['high']:.0%}]"
        if name == ref:
            rows.append(f"| {_profile_setting(name, report)} | {shown} | | | |")
            continue
        rows.append(
            f"| {_profile_setting(name, report)} | {shown} | {_points(diff['accuracy'])} | "
            f"{_p(diff['mcnemar_p'])} | {_nats(diff['logprob'])} |"
        )
    return "\n".join(rows)


def asked_profile_table(report: dict[str, Any]) -> str:
    """A profile's test split answered as `ask` answers: free-form accuracy and its paired
    difference from plain stuffing (with McNemar's p) first, the stem-forced measures beside."""
    ref = report["reference"]
    rows = [
        "| setting | as asked: accuracy | vs plain, points | McNemar p | stem-forced accuracy "
        "| vs plain, stem-forced gold log-prob (nats) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in report["test"]["settings"].items():
        acc, forced, diff = row["accuracy"], row["forced_accuracy"], row[f"vs_{ref}"]
        shown = f"{acc['correct']}/{acc['n']} ({acc['rate']:.0%}) [{acc['low']:.0%}, {acc['high']:.0%}]"
        versus = "| | |" if name == ref else f"| {_points(diff['accuracy'])} | {_p(diff['mcnemar_p'])} |"
        nats = "" if name == ref else _nats(diff["logprob"])
        label = _profile_setting(name, report)
        rows.append(f"| {label} | {shown} {versus} {forced['correct']}/{forced['n']} | {nats} |")
    return "\n".join(rows)


def profile_dev_table(profile: dict[str, Any]) -> str:
    """A calibration's dev search, every candidate in the order it ran: free-form accuracy and its
    paired difference from plain stuffing, the stem-forced log-probability's beside it."""
    made = profile["calibration"]
    ref, chosen = made["reference"], made["chosen"]
    report = {"preset": made["preset"], "reference": ref, "chosen": chosen}
    rows = [
        "| candidate | as asked: accuracy | vs plain, points | vs plain, stem-forced gold log-prob (nats) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in made["candidates"]:
        row = made["dev"]["settings"][name]
        acc, diff = row["accuracy"], row[f"vs_{ref}"]
        versus = "| | |" if name == ref else f"| {_points(diff['accuracy'])} | {_nats(diff['logprob'])} |"
        rows.append(f"| {_profile_setting(name, report)} | {acc['correct']}/{acc['n']} {versus}")
    return "\n".join(rows)


_EVAL_RUNS = (
    ("eval_smollm2_135m_instruct.json", ", 1k-2k tokens"),
    ("eval_smollm2_135m_instruct_grid.json", ", the seed's transition grid, 1k-2k tokens"),
    ("eval_smollm2_135m_instruct_long.json", ", needle at 4k"),
    ("eval_smollm2_135m_instruct_long8k.json", ", needle at 8k"),
    ("eval_gemma_3_270m_lite.json", ", base model, 1k tokens"),
)


def _interval(cell: dict[str, Any] | None, digits: int = 2) -> str:
    """An interval cell, blank where the file has none (the baseline's own differences)."""
    return format_interval(cell, digits=digits) if cell else ""


def _eval_setting(name: str, winner: str | None) -> str:
    if match := re.fullmatch(r"transition_a([\d.]+)_b([\d.]+)_l(\d+)", name):
        label = "transition a={} b={} lay={}".format(*match.groups())
    else:
        label = name if name == "baseline" else f"`{name}`"
    return f"{label} (dev winner)" if name == winner else label


def eval_table(reports: list[tuple[dict[str, Any], str]]) -> str:
    """The evaluation harness's test splits: accuracy, gold log-prob change, perplexity ratio."""
    lines = [
        "| run (test prompts) | setting | accuracy | gold log-prob vs baseline (nats) | perplexity ratio |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for report, suffix in reports:
        winner = report["dev"]["selection"]["best"]
        answers, perplexity = report["test"]["answers"], report["test"]["perplexity"]
        run = f"{report['model']} ({answers['baseline']['all']['n']}{suffix})"
        for name, entry in answers.items():
            cell = entry["all"]
            ratio = _interval(perplexity.get(name, {}).get("perplexity_ratio"), digits=3)
            lines.append(
                f"| {run} | {_eval_setting(name, winner)} | {_interval(cell['contains'])} | "
                f"{_interval(cell.get('logprob_vs_baseline'))} | {ratio} |"
            )
            run = ""
    return "\n".join(lines)


def index_table(report: dict[str, Any]) -> str:
    """The RAG index bench: build, save, re-index and query times."""
    build, again, query = report["build"], report["reindex_1_percent"], report["query"]
    both, alone = query["embed_and_search"], query["search_only"]
    share = build["embedding_seconds"] / build["seconds"]
    return "\n".join(
        [
            "| | |",
            "| --- | ---: |",
            f"| full build ({report['corpus']['files']:,} files) | {build['seconds']:.0f} s, "
            f"{build['chunks_per_second']:.1f} chunks/s ({share:.0%} of it embedding) |",
            f"| atomic save | {build['save_seconds']:.1f} s |",
            f"| re-index after {again['files_changed']} files (1%) changed | {again['seconds']:.1f} s "
            f"({again['chunks_embedded']} chunks embedded), {again['speedup_vs_full_build']:.0f}x faster "
            "than the full build |",
            f"| query, embed + FAISS search, top {query['top_k']} | p50 {both['p50_ms']:.1f} ms, "
            f"p95 {both['p95_ms']:.1f} ms |",
            f"| FAISS search alone (exact inner product) | p50 {alone['p50_ms']:.1f} ms, "
            f"p95 {alone['p95_ms']:.1f} ms |",
        ]
    )


def serve_table(reports: list[tuple[str, dict[str, Any]]]) -> str:
    """The serving check per deployment: replicas, requests, answers equal to in-process, lost."""
    lines = [
        "| deployment | replicas | requests (in flight) | requests the stopped replica held "
        "| equal to in-process | lost | sent again | replicas that answered | ready | served | replaced |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in reports:
        seconds = r["seconds"]
        lines.append(
            f"| {label} | {r['replicas']} | {r['requests']} ({r['concurrency']}) | "
            f"{r['stopped_replica']['held_requests']} | "
            f"{r['answers_equal']}/{r['requests']} | {r['lost']} | {r['retried']} | "
            f"{r['replicas_answering']} | {seconds['ready']:.0f} s | {seconds['served']:.0f} s | "
            f"{seconds['served'] + r['replaced_after_s']:.0f} s |"
        )
    return "\n".join(lines)


_SERVE_RUNS = (
    ("RAG pipeline (`RagServer`)", "serve_rag_smollm2.json"),
    ("`ChatSRA` (`ChatServer`)", "serve_chat_smollm2.json"),
)

TABLES: dict[str, Callable[[], str]] = {
    "serve": lambda: serve_table([(label, _load(name)) for label, name in _SERVE_RUNS]),
    "index": lambda: index_table(_load("index_speed.json")),
    "eval": lambda: eval_table([(_load(name), suffix) for name, suffix in _EVAL_RUNS]),
    "cost-smollm2": lambda: cost_table(_load("speed_smollm2_135m_instruct.json")),
    "cost-gemma": lambda: cost_table(_load("speed_gemma_3_270m.json")),
    "rag-smollm2": lambda: rag_table(_load("rag_smollm2_135m_instruct.json")),
    "rag-gemma": lambda: rag_table(_load("rag_gemma_3_270m.json")),
    "profile-smollm2": lambda: profile_table(_load("profile_smollm2_135m_instruct_test.json")),
    "profile-gemma": lambda: profile_table(_load("profile_gemma_3_270m_test.json")),
    "profile-dev-smollm2": lambda: profile_dev_table(_load("profile_smollm2_135m_instruct_asked.json")),
    "profile-asked-smollm2": lambda: asked_profile_table(
        _load("profile_smollm2_135m_instruct_asked_test.json")
    ),
    "profile-dev-gemma": lambda: profile_dev_table(_load("profile_gemma_3_270m_asked.json")),
    "profile-asked-gemma": lambda: asked_profile_table(_load("profile_gemma_3_270m_asked_test.json")),
}


def refresh(text: str) -> tuple[str, list[str]]:
    """`text` with every marked table regenerated, and the names of those that changed."""
    stale: list[str] = []

    def rebuilt(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            raise KeyError(f"README names a table {name!r} that readme_tables does not know")
        body = f"\n{TABLES[name]()}\n\n"  # blank lines: the table is its own Markdown block
        if body != match["body"]:
            stale.append(name)
        return f"{match[1]}{body}{match[4]}"

    return _BLOCK.sub(rebuilt, text), stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sra_rag.eval.readme_tables", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say which tables are stale")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    text, stale = refresh(args.readme.read_text(encoding="utf-8"))
    if args.check:
        if stale:
            names = ", ".join(stale)
            sys.stderr.write(f"stale README tables: {names} (run python -m sra_rag.eval.readme_tables)\n")
        return 1 if stale else 0
    args.readme.write_text(text, encoding="utf-8")
    sys.stdout.write(f"rewrote {len(stale)} table(s): {', '.join(stale) or 'none changed'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
