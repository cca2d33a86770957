"""`sra-rag rag-eval`: the RAG benchmark in two committed steps.

    sra-rag rag-eval --phase dev    # choose on dev; writes docs/results/rag_<model>_plan.json
    git add docs/results/rag_<model>_plan.json && git commit   # the rule and choices, before test
    sra-rag rag-eval --phase test   # the plan's settings on test, the rule applied; JSON + PNG

`--phase all` runs both at once (for the `smoke` preset and tests, never for published numbers).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from ...rag.profile import model_slug
from ..model_choice import add_model_argument, go_offline, load_eval_model, resolve_model
from .presets import RAG_PRESETS

logger = logging.getLogger(__name__)
PHASES = ("dev", "test", "all")


def add_rag_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)
    parser.add_argument("--phase", choices=PHASES, help="dev (choose), test (report), all")
    parser.add_argument("--report", type=Path, help="no run: reprint a saved report's table, redraw its plot")
    parser.add_argument("--preset", choices=sorted(RAG_PRESETS), default="full", help="run size")
    parser.add_argument("--out-dir", type=Path, default=Path("docs/results"), help="where plan and report go")
    parser.add_argument("--fresh", action="store_true", help="ignore a checkpoint of an earlier run")
    parser.add_argument(
        "--uncommitted-plan",
        action="store_true",
        help="let --phase test run on a plan that is not committed (outside git; the report says so)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--threads", type=int, help="torch CPU threads")


def paths(out_dir: Path, model_name: str, preset: str) -> dict[str, Path]:
    stem = f"rag_{model_slug(model_name)}" + ("" if preset == "full" else f"_{preset}")
    return {
        "plan": out_dir / f"{stem}_plan.json",
        "report": out_dir / f"{stem}.json",
        "plot": out_dir / f"{stem}.png",
        "checkpoint": out_dir / f"{stem}.partial.jsonl",
    }


def last_commit(path: Path) -> str | None:
    """The commit that last changed `path`, when it is committed unchanged (else None), asked of
    the repository that holds `path`, wherever the command runs from."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path.parent.resolve()), *args, "--", path.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    try:
        changed = git("status", "--porcelain")
        commit = git("log", "-1", "--format=%H")
    except (OSError, subprocess.CalledProcessError):
        return None
    return (commit or None) if not changed else None


def _fmt(interval: dict[str, Any] | None, scale: float = 1.0) -> str:
    if not interval or interval.get("mean", interval.get("rate")) is None:
        return "n/a"
    centre = interval.get("rate", interval.get("mean")) * scale
    if interval.get("low") is None:
        return f"{centre:+.2f}"
    return f"{centre:.2f} [{interval['low'] * scale:.2f}, {interval['high'] * scale:.2f}]"


def headline(report: dict[str, Any]) -> str:
    """The test split per setting (accuracy, paired differences to the baseline) and the decisions."""
    answers = report["test"]["answers"]
    lines = [f"{report['model']} — RAG benchmark, test split ({report['preset']['name']}), 95% intervals"]
    lines.append(
        f"{'setting':<44} {'n':>4}  {'accuracy':<20} {'acc - baseline':<22} {'logprob - baseline':<22}"
    )
    for name, entry in answers.items():
        cell = entry["all"]
        diff = cell.get("vs_retrieved", {})
        lines.append(
            f"{name:<44} {cell['n']:>4}  {_fmt(cell['accuracy']):<20} {_fmt(diff.get('accuracy')):<22} "
            f"{_fmt(diff.get('logprob')):<22}"
        )
    decision = report["test"]["decision"]
    order = decision["order"]
    lines.append(
        f"order chosen on dev: {order['chosen_on_dev']}; "
        f"{'ships as the pipeline default' if order['ships'] else 'does NOT ship'} "
        f"(pipeline default: {decision['pipeline_default_order']})"
    )
    recommended = decision["recommended_guided"]
    lines.append(
        f"guided: {'recommended: ' + recommended if recommended else 'no guided rule passes the ship rule'}"
    )
    return "\n".join(lines)


def run_rag(args: argparse.Namespace) -> int:
    if args.report:
        from ..plots import plot_rag

        report = json.loads(args.report.read_text(encoding="utf-8"))
        plot_rag(report, args.report.with_suffix(".png"), _plotted(report))
        sys.stdout.write(headline(report) + "\n")
        return 0
    go_offline()  # before anything imports huggingface_hub
    if args.phase is None:
        raise ValueError("give --phase dev, test or all (or --report FILE.json to reprint a saved report)")
    source, name = resolve_model(args.model)
    files = paths(args.out_dir, name, args.preset)
    if args.phase == "test" and not files["plan"].is_file():
        raise FileNotFoundError(
            f"no plan {files['plan']}: run --phase dev first, and commit the plan it writes"
        )
    if args.phase == "test" and not args.uncommitted_plan and last_commit(files["plan"]) is None:
        raise ValueError(
            f"the plan {files['plan']} is not committed as it is: commit it before the test phase "
            "(or pass --uncommitted-plan)"
        )
    if args.phase in ("dev", "all") and files["plan"].is_file() and last_commit(files["plan"]) is not None:
        raise ValueError(f"the plan {files['plan']} is committed: remove it (git rm) to plan again")
    from ...rag.embedding import Embedder
    from ..plots import plot_rag
    from ..tasks import prompt_style
    from .run import run_dev, run_test

    model, tokenizer = load_eval_model(args, source)
    embedder = Embedder()
    style = prompt_style(tokenizer)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        files["checkpoint"].unlink(missing_ok=True)
    if args.phase in ("dev", "all"):
        plan = run_dev(
            model,
            tokenizer,
            embedder,
            RAG_PRESETS[args.preset],
            model_name=name,
            style=style,
            checkpoint=files["checkpoint"],
            progress=not args.quiet,
        )
        files["plan"].write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
        sys.stdout.write(
            f"wrote {files['plan']}: order {plan['dev_choice']['order']}, winners "
            f"{plan['dev_choice']['winners']}; commit it before --phase test\n"
        )
        if args.phase == "dev":
            return 0
    plan = json.loads(files["plan"].read_text(encoding="utf-8"))
    report = run_test(
        model, tokenizer, embedder, plan, checkpoint=files["checkpoint"], progress=not args.quiet
    )
    report["plan_file"] = str(files["plan"])
    report["plan_commit"] = last_commit(files["plan"])
    files["report"].write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    plot_rag(report, files["plot"], _plotted(report))
    files["checkpoint"].unlink(missing_ok=True)
    sys.stdout.write(headline(report) + "\n")
    return 0


def _plotted(report: dict[str, Any]) -> list[str]:
    """The settings a reader compares: baseline, the orders, top-k, and the chosen rules on the order."""
    order = report["dev_choice"]["order"]
    winners = report["dev_choice"]["winners"]
    names = ["retrieved", "best_last", "long_context", "retrieved+top3", "retrieved+top5", f"{order}+paper"]
    names += [f"{order}+{name}" for rule, name in winners.items() if rule != "best"]
    names.append(f"{order}+{winners['best']}+oracle")
    return list(dict.fromkeys(names))
