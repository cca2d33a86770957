"""`sra-rag eval` (and `python -m sra_rag.eval`): run an evaluation preset on a model, write the
JSON report and its PNG plots, print the headline table.

`sra_rag.cli` wires `add_eval_arguments` and `run_eval` into `sra-rag eval`; both entry points run
exactly this code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ...rag.profile import model_slug
from ..model_choice import add_model_argument, load_eval_model, resolve_model
from .presets import EVAL_PRESETS, EvalPreset, eval_preset

logger = logging.getLogger(__name__)


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--preset", default="smoke", choices=sorted(EVAL_PRESETS), help="run size")
    parser.add_argument("--out", type=Path, help="JSON report path (default docs/results/eval_<model>.json)")
    parser.add_argument("--no-plots", action="store_true", help="write the JSON only")
    parser.add_argument(
        "--style", choices=["auto", "chat", "completion"], default="auto", help="prompt style (auto: chat "
        "when the tokenizer has a chat template)"
    )  # fmt: skip
    parser.add_argument(
        "--test-settings", nargs="+", help="override the preset's test settings (the dev winner is added)"
    )
    parser.add_argument("--fresh", action="store_true", help="ignore a checkpoint of an earlier run")
    parser.add_argument(
        "--report",
        type=Path,
        help="no run: re-summarise a saved report (.json) or an interrupted run's checkpoint "
        "(.partial.jsonl, with the --preset it ran), rewrite the JSON and redraw its plots",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (1 is fastest on a CPU shared with other jobs)"
    )


def format_interval(
    interval: dict[str, Any], scale: float = 1.0, digits: int = 2, signed: bool = False
) -> str:
    """'0.42 [0.31, 0.53]'; `signed` writes differences with their sign ('+4.2 [-1.0, +9.4]')."""
    if interval.get("mean") is None and interval.get("rate") is None:
        return "n/a"
    form = f"{'+' if signed else ''}.{digits}f"
    centre = interval.get("rate", interval.get("mean")) * scale
    if interval.get("low") is None:
        return f"{centre:{form}}"
    low, high = interval["low"] * scale, interval["high"] * scale
    return f"{centre:{form}} [{low:{form}}, {high:{form}}]"


def headline(report: dict[str, Any]) -> str:
    """A plain-text table of the test split: per setting and task, accuracy and log-prob change."""
    cut = " — PARTIAL: the run was cut short" if report.get("partial") else ""
    lines = [f"{report['model']} — test split ({report['preset']['name']} preset), 95% intervals{cut}"]
    lines.append(
        f"{'setting':<26} {'task':<7} {'n':>3}  {'contains':<20} {'exact':<20} {'logprob - baseline':<24}"
    )
    for name, entry in report["test"]["answers"].items():
        rows = [("all", entry["all"]), *((t, c["all"]) for t, c in entry["tasks"].items())]
        for task, cell in rows:
            delta = format_interval(cell["logprob_vs_baseline"]) if "logprob_vs_baseline" in cell else "-"
            lines.append(
                f"{name:<26} {task:<7} {cell['n']:>3}  {format_interval(cell['contains']):<20} "
                f"{format_interval(cell['exact']):<20} {delta:<24}"
            )
    for name, entry in report["test"]["perplexity"].items():
        ratio = entry.get("perplexity_ratio")
        if entry["perplexity"] is None:
            continue
        lines.append(
            f"perplexity {name:<15} {entry['perplexity']:.3f}"
            + (f"  ratio to baseline {format_interval(ratio, digits=4)}" if ratio else "")
        )
    selection = report["dev"]["selection"]
    if selection["best"] is not None:
        gain = selection["candidates"][selection["best"]]["logprob_vs_baseline"]
        verdict = "beats" if selection["beats_baseline"] else "is NOT shown to beat"
        lines.append(
            f"dev winner: {selection['best']} (log-prob gain {format_interval(gain)}) {verdict} the baseline"
        )
    return "\n".join(lines)


def _resummarise(path: Path, preset: EvalPreset, out: Path | None) -> tuple[dict[str, Any], Path]:
    """A report rebuilt from the records of a saved report or of a checkpoint."""
    from .runner import build_report
    from .settings import BASELINE

    saved: dict[str, Any] = {}
    if path.name.endswith(".partial.jsonl"):
        lines = path.read_text(encoding="utf-8").splitlines()
        header, records, partial = json.loads(lines[0]), [json.loads(x) for x in lines[1:] if x.strip()], True
        model, style = header["model"], header["style"]
        out = out or path.with_name(path.name.removesuffix(".partial.jsonl") + ".json")
    else:
        saved = json.loads(path.read_text(encoding="utf-8"))
        records, partial, model, style = (
            saved["records"],
            saved.get("partial", False),
            saved["model"],
            saved["prompt_style"],
        )
        preset = EvalPreset(**saved["preset"])  # as it ran, even if the named preset changed since
        out = out or path
    tested = [r["setting"] for r in records if r["split"] == "test"]
    test_settings = list(dict.fromkeys([BASELINE, *tested]))
    report = build_report(
        records, preset, model_name=model, style=style, test_settings=test_settings, partial=partial
    )
    if saved:  # keep the run's own provenance; say what rebuilt the summaries
        report["summarised_by"] = report["command"]
        report["command"] = saved.get("command", report["command"])
        report["wall_seconds"] = saved.get("wall_seconds")
        report["versions"] = saved.get("versions", report["versions"])
        report["counts"] = {**saved.get("counts", {}), **report["counts"]}
    return report, out


def run_eval(args: argparse.Namespace) -> int:
    """Run the preset (or only re-summarise a saved run with --report); 0 on success."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from ..plots import plot_report

    def publish(report: dict[str, Any], out: Path) -> int:
        """Write the JSON report, its plots, and print the headline table."""
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        logger.info("wrote %s", out)
        if not args.no_plots:
            for path in plot_report(report, out.parent, out.stem):
                logger.info("wrote %s", path)
        sys.stdout.write(headline(report) + "\n")
        return 0

    if args.report:
        return publish(*_resummarise(args.report, eval_preset(args.preset), args.out))
    from ..tasks import prompt_style
    from .runner import run_evaluation

    source, name = resolve_model(args.model)
    preset = eval_preset(args.preset)
    suffix = "" if args.preset == "full" else f"_{args.preset}"
    out = args.out or Path("docs/results") / f"eval_{model_slug(name)}{suffix}.json"
    model, tokenizer = load_eval_model(args, source)
    style = prompt_style(tokenizer) if args.style == "auto" else args.style
    checkpoint = out.with_suffix(".partial.jsonl")
    if args.fresh and checkpoint.exists():
        checkpoint.unlink()
    report = run_evaluation(
        model,
        tokenizer,
        preset,
        model_name=name,
        style=style,
        checkpoint=checkpoint,
        progress=not args.quiet,
        force_test_settings=args.test_settings,
    )
    published = publish(report, out)
    checkpoint.unlink(missing_ok=True)  # only once the report is safely written
    return published


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sra_rag.eval", description=__doc__)
    add_eval_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return run_eval(args)
